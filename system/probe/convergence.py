"""Did the clean cell converge? A noise effect measured on an under-trained model is an effect of
under-training: at 500 steps the clean cell of `max` itself was at 0.74-0.92 ID accuracy, and the
noised cells' losses read as "not robust" when they were "not trained yet".

The fine-tune probe's clean cell (contamination 0) must reach `probe.finetune.converged_accuracy` ID
accuracy on every task and seed. Otherwise `qdc probe` warns loudly on stderr and probe.json (and so
the report) marks the results "under-trained".
"""

from __future__ import annotations

from typing import Any, Sequence, TextIO

from system.probe.cells import Cell

Row = dict[str, Any]
CONVERGED = "converged"
UNDER_TRAINED = "under-trained"
INCOMPLETE = "incomplete"  # no clean cell fell short, but some have not finished
UNCHECKED = "unchecked"  # the grid has no clean fine-tune cell, or no ID evaluation


def check_convergence(cells: Sequence[Cell], rows: Sequence[Row], threshold: float) -> dict[str, Any]:
    """The convergence verdict for the planned ``cells`` given the finished cells' flat ``rows``."""
    clean = [c for c in cells if c.probe == "finetune" and c.noise == "none"]
    out: dict[str, Any] = {"threshold": threshold, "clean": [], "below": [], "missing": []}
    if not clean:
        return {**out, "status": UNCHECKED, "reason": "no clean fine-tune cell (probe.probes lacks finetune, or "
                "probe.grid.contaminations lacks 0.0)"}
    by_cell = {(r["cell"], r.get("split")): r for r in rows}
    finished = {r["cell"] for r in rows}
    for cell in clean:
        row = by_cell.get((cell.id, "id"))
        if row is None:
            out["missing"].append({"task": cell.task, "seed": cell.seed,
                                   "why": "no ID evaluation" if cell.id in finished else "not finished"})
            continue
        entry = {"task": cell.task, "seed": cell.seed, "accuracy": row["accuracy"], "steps": row.get("steps")}
        out["clean"].append(entry)
        if row["accuracy"] < threshold:
            out["below"].append(entry)
    if out["below"]:
        return {**out, "status": UNDER_TRAINED}
    if out["missing"]:
        no_id = any(m["why"] == "no ID evaluation" for m in out["missing"])
        return {**out, "status": UNCHECKED if no_id else INCOMPLETE,
                **({"reason": "probe.eval_splits lacks id"} if no_id else {})}
    return {**out, "status": CONVERGED}


def describe(convergence: dict[str, Any]) -> str:
    """One paragraph for people: what was checked and what it means."""
    t = convergence["threshold"]
    status = convergence["status"]
    if status == UNDER_TRAINED:
        below = ", ".join(f"{e['accuracy']:.3f} ({e['task']}, seed {e['seed']})" for e in convergence["below"])
        steps = sorted({e["steps"] for e in convergence["below"] if e.get("steps") is not None})
        at = f" after {'/'.join(str(s) for s in steps)} steps" if steps else ""
        return (f"UNDER-TRAINED: the clean fine-tune cell reached ID accuracy {below}{at}, below "
                f"probe.finetune.converged_accuracy {t:g}. Differences between noised cells and the clean one "
                "measure under-training as much as robustness; raise probe.finetune.steps (or the model, "
                "or train_size) until the clean cell converges on every seed.")
    if status == CONVERGED:
        worst = min(convergence["clean"], key=lambda e: e["accuracy"])
        return (f"Converged: the clean fine-tune cell reached ID accuracy >= {t:g} on every task and seed "
                f"(lowest {worst['accuracy']:.3f}, {worst['task']} seed {worst['seed']}).")
    if status == INCOMPLETE:
        return f"Convergence not known yet: {len(convergence['missing'])} clean cell(s) unfinished."
    return f"Convergence not checked: {convergence.get('reason', 'no clean cell')}."


def warn_if_under_trained(summary: dict[str, Any] | None, stream: TextIO | None = None) -> bool:
    """Print the verdict to stderr, loudly when under-trained; True when it was under-trained."""
    convergence = (summary or {}).get("convergence")
    if not convergence:
        return False
    from system.logs import terminal_err

    stream = stream or terminal_err()
    text = describe(convergence)
    if convergence["status"] == UNDER_TRAINED:
        bar = "!" * 100
        print(f"{bar}\nWARNING: {text}\n{bar}", file=stream, flush=True)
        return True
    print(f"probe: {text}", file=stream, flush=True)
    return False
