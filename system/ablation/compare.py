"""The ablation's comparison table, from the run directories of its variants.

Per (strategy, seed, iteration): ID and OOD accuracy, accuracy by list length, output diversity
(Vendi score of the model's samples across prompts, distinct n-grams; and, where the runs' metrics.jsonl
has them, the per-prompt diversity of system/qdc/prompt_diversity.py: distinct completions and answers
among a prompt's k samples, their edit distance, pass@k - pass@1) and the selected data's QDC statistics
(Vendi, cluster coverage, mean quality and complexity). Then mean and sample standard deviation over
seeds per (strategy, iteration), and a final-iteration summary.
"""

from __future__ import annotations

import csv
import io
import json
import math
import statistics
from pathlib import Path
from typing import Any, Collection, Iterable, Sequence

from system.qdc.prompt_diversity import KEYS as PROMPT_DIVERSITY
from system.stats import describe, t_interval
from system.store import RunDir, atomic_write_json, atomic_write_text

COMPARISON = "comparison.json"
Row = dict[str, Any]

METRICS = ("id_accuracy", "ood_accuracy", "output_diversity", "distinct_ngrams", "id_gain", "ood_gain",
           "diversity_change", "n_selected", "pass_at_k", *PROMPT_DIVERSITY, "distinct_per_prompt_change",
           "sel_vendi", "sel_cluster_coverage", "sel_quality", "sel_complexity", "sel_distinct_2", "sel_kept_share",
           "learn_s", "wall_s")
LABELS = {
    "id_accuracy": "ID accuracy", "ood_accuracy": "OOD accuracy", "output_diversity": "output Vendi",
    "distinct_ngrams": "output distinct-2", "n_selected": "selected", "pass_at_k": "pass@k",
    "sel_vendi": "selection Vendi", "sel_cluster_coverage": "selection coverage", "sel_quality": "selection quality",
    "sel_complexity": "selection complexity", "sel_distinct_2": "selection distinct-2", "learn_s": "learn s",
    "wall_s": "wall s", "id_gain": "ID gain", "ood_gain": "OOD gain", "diversity_change": "Vendi change",
    "distinct_per_prompt": "distinct / k", "distinct_answers_per_prompt": "distinct answers / k",
    "edit_distance_per_prompt": "edit distance", "pass_at_k_gap": "pass@k - pass@1",
    "distinct_per_prompt_change": "distinct / k change", "sel_kept_share": "kept / eligible",
}


def variant_rows(strategy: str, seed: int, run_dir: Path) -> list[Row]:
    """One row per finished iteration of one loop run."""
    run = RunDir(run_dir)
    out = []
    for m in run.metrics():
        i = m["iteration"]
        row: Row = {"strategy": strategy, "seed": seed, "iteration": i,
                    **{k: m.get(k) for k in ("id_accuracy", "ood_accuracy", "output_diversity", "distinct_ngrams",
                                             "n_selected", "pass_at_k", *PROMPT_DIVERSITY, "learn_s", "wall_s",
                                             "frontier_length")},
                    "accuracy_by_length": m.get("accuracy_by_length") or {},
                    "accuracy_by_split": m.get("accuracy_by_split") or {}}
        sel_file = run_dir / f"iter_{i:03d}" / "selection.json"
        if i > 0 and sel_file.is_file():
            metrics = json.loads(sel_file.read_text()).get("metrics") or {}
            after = metrics.get("after") or {}
            if metrics.get("n_eligible"):
                row["sel_kept_share"] = (row.get("n_selected") or 0) / metrics["n_eligible"]
            row.update(sel_vendi=after.get("vendi"), sel_cluster_coverage=after.get("cluster_coverage"),
                       sel_quality=after.get("quality_mean"), sel_complexity=after.get("complexity_mean"),
                       sel_distinct_2=after.get("distinct_2"))
        out.append(row)
    return out


RATES = {"id_accuracy", "ood_accuracy", "pass_at_k", "distinct_per_prompt", "distinct_answers_per_prompt",
         "edit_distance_per_prompt", "pass_at_k_gap", "sel_cluster_coverage", "sel_kept_share", "accuracy_by_length",
         "accuracy_by_split"}


def _stats(values: Sequence[float], key: str) -> dict[str, Any]:
    """Mean, sample std, min, max, n and the 95% t-interval over seeds, clipped to 0-1 for a rate."""
    return {**describe(values), "ci95": t_interval(values, bounds=(0.0, 1.0) if key in RATES else None)}


def _numbers(rows: Iterable[Row], key: str) -> list[float]:
    out = []
    for r in rows:
        v = r.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v):
            out.append(float(v))
    return out


def _nested_stats(members: Sequence[Row], key: str, names: Iterable[str]) -> dict[str, Any]:
    """Stats over seeds of each entry of a dict-valued metric (accuracy by length or by split)."""
    tables = [m.get(key) or {} for m in members]
    columns = {k: _numbers(tables, k) for k in names}
    return {k: _stats(values, key) for k, values in columns.items() if values}


def aggregate(rows: Sequence[Row]) -> list[Row]:
    """Mean/std over seeds per (strategy, iteration); accuracy by length likewise."""
    groups: dict[tuple[str, int], list[Row]] = {}
    for r in rows:
        groups.setdefault((r["strategy"], r["iteration"]), []).append(r)
    out = []
    for (strategy, iteration), members in groups.items():
        row: Row = {"strategy": strategy, "iteration": iteration, "seeds": sorted(m["seed"] for m in members)}
        for key in METRICS:
            values = _numbers(members, key)
            if values:
                row[key] = _stats(values, key)
        lengths = sorted({k for m in members for k in m["accuracy_by_length"]}, key=int)
        row["accuracy_by_length"] = _nested_stats(members, "accuracy_by_length", lengths)
        for key in ("accuracy_by_split", "gain_by_split"):
            names = list(dict.fromkeys(k for m in members for k in m.get(key) or {}))
            if names:
                row[key] = _nested_stats(members, key, names)
        out.append(row)
    order = {s: i for i, s in enumerate(dict.fromkeys(r["strategy"] for r in rows))}
    return sorted(out, key=lambda r: (order[r["strategy"]], r["iteration"]))


def add_gains(rows: list[Row]) -> None:
    """Paired changes since the run's seed model (iteration 0 of the same strategy and seed): ``id_gain``,
    ``ood_gain``, ``diversity_change``, ``distinct_per_prompt_change`` and the accuracy gain on each
    evaluation split (``gain_by_split``). Every strategy of a seed starts from the same seed model, so
    these differences are free of the seed-to-seed spread of the seed model itself."""
    base = {(r["strategy"], r["seed"]): r for r in rows if r["iteration"] == 0}
    for r in rows:
        b = base.get((r["strategy"], r["seed"]))
        for key, gain in GAINS.items():
            if b is not None and isinstance(r.get(key), (int, float)) and isinstance(b.get(key), (int, float)):
                r[gain] = r[key] - b[key]
        if b is not None and r.get("accuracy_by_split"):
            before = b.get("accuracy_by_split") or {}
            r["gain_by_split"] = {k: v - before[k] for k, v in r["accuracy_by_split"].items()
                                  if isinstance(v, (int, float)) and isinstance(before.get(k), (int, float))}


GAINS = {"id_accuracy": "id_gain", "ood_accuracy": "ood_gain", "output_diversity": "diversity_change",
         "distinct_per_prompt": "distinct_per_prompt_change"}
SIGNED = set(GAINS.values())


def final_summary(means: Sequence[Row]) -> list[Row]:
    """Per strategy: its last iteration's numbers and paired gains, and the selection's statistics
    averaged over iterations."""
    out = []
    for strategy in dict.fromkeys(r["strategy"] for r in means):
        mine = [r for r in means if r["strategy"] == strategy]
        last = max(mine, key=lambda r: r["iteration"])
        row: Row = {"strategy": strategy, "iteration": last["iteration"], "seeds": last["seeds"]}
        for key in ("id_accuracy", "ood_accuracy", "output_diversity", "distinct_ngrams", *PROMPT_DIVERSITY, *SIGNED,
                    "accuracy_by_split", "gain_by_split"):
            if last.get(key) is not None:
                row[key] = last[key]
        for key in ("sel_vendi", "sel_cluster_coverage", "sel_quality", "sel_complexity", "sel_kept_share"):
            values = [r[key]["mean"] for r in mine if r.get(key)]
            if values:
                row[key] = statistics.fmean(values)
        shares = [r["sel_kept_share"]["min"] for r in mine if r.get("sel_kept_share")]
        row["kept_every_eligible"] = bool(shares) and min(shares) >= 1.0
        out.append(row)
    return out


def cell_text(v: Any, signed: bool = False, interval: bool = False) -> str:
    """A table cell: stats as mean ± std (just the mean for one seed), or with ``interval`` as mean
    [95% t-interval over seeds]; floats with 3 decimals; counts (all values whole numbers, some >= 2,
    or all 0) with one."""
    if isinstance(v, dict) and "mean" in v:
        whole = float(v["min"]).is_integer() and float(v["max"]).is_integer()
        counts = not signed and whole and (v["max"] >= 2 or v["max"] == v["min"] == 0)  # a gain is never a count
        form = ".1f" if counts else ("+.3f" if signed else ".3f")
        mean, std = format(v["mean"], form), format(v["std"], ".1f" if counts else ".3f")
        if interval and v.get("ci95"):
            lo, hi = (format(x, form) for x in v["ci95"])
            return f"{mean} [{lo}, {hi}]"
        return f"{mean} ± {std}" if v["n"] > 1 else mean
    if isinstance(v, float):
        return f"{v:+.3f}" if signed else f"{v:.3f}"
    if isinstance(v, list):
        return " ".join(str(x) for x in v)
    return "" if v is None else str(v)


FINAL_COLUMNS = [("strategy", "strategy"), ("iteration", "iteration"), ("id_accuracy", "ID accuracy"),
                 ("ood_accuracy", "OOD accuracy"), ("id_gain", "ID gain vs seed model"),
                 ("ood_gain", "OOD gain vs seed model"), ("seeds", "seeds")]
FINAL_DIVERSITY_COLUMNS = [("strategy", "strategy"), ("output_diversity", "output Vendi"),
                           ("diversity_change", "Vendi change vs seed model"), ("distinct_ngrams", "output distinct-2"),
                           ("sel_vendi", "selection Vendi"), ("sel_cluster_coverage", "selection coverage"),
                           ("sel_quality", "selection quality"), ("sel_complexity", "selection complexity"),
                           ("sel_kept_share", "kept / eligible")]
PROMPT_DIVERSITY_COLUMNS = [("strategy", "strategy"), ("distinct_per_prompt", "distinct completions / k"),
                            ("distinct_per_prompt_change", "distinct / k change vs seed model"),
                            ("distinct_answers_per_prompt", "distinct answers / k"),
                            ("edit_distance_per_prompt", "pairwise edit distance"),
                            ("pass_at_k_gap", "pass@k - pass@1")]
ITERATION_COLUMNS = [("strategy", "strategy"), ("iteration", "iteration"), ("id_accuracy", "ID accuracy"),
                     ("ood_accuracy", "OOD accuracy"), ("output_diversity", "output Vendi"),
                     ("distinct_ngrams", "output distinct-2"), ("distinct_per_prompt", "distinct / k"),
                     ("pass_at_k_gap", "pass@k - pass@1"), ("n_selected", "selected"),
                     ("sel_vendi", "selection Vendi"), ("sel_quality", "selection quality"), ("seeds", "seeds")]


def split_table(final: Sequence[Row]) -> tuple[list[Row], list[tuple[str, str]], set[str]]:
    """The final iteration's accuracy and paired gain on each evaluation split, as table rows, columns
    and the signed (gain) columns; no columns where the runs evaluate on one OOD split at most (the
    ID / OOD table already says it all)."""
    names = list(dict.fromkeys(k for r in final for k in r.get("accuracy_by_split") or {}))
    if len(names) <= 2:
        return [], [], set()
    rows = [{"strategy": r["strategy"], **{f"acc:{k}": v for k, v in (r.get("accuracy_by_split") or {}).items()},
             **{f"gain:{k}": v for k, v in (r.get("gain_by_split") or {}).items()}} for r in final]
    columns = [("strategy", "strategy")] + [c for k in names for c in ((f"acc:{k}", k), (f"gain:{k}", f"{k} gain"))]
    return rows, columns, {f"gain:{k}" for k in names}


def unchosen_note(final: Sequence[Row]) -> str:
    """A warning naming the strategies that kept every candidate past the quality gate in every
    iteration and seed: the budget never bound, so they did not choose and are the same selection."""
    names = [r["strategy"] for r in final if r.get("kept_every_eligible")]
    if not names:
        return ""
    return (f"Note: {', '.join(names)} kept every candidate that passed loop.min_quality in every iteration and "
            "seed (the filter budget was at least the number eligible), so the strategy did not choose; "
            "strategies that fill their budget are then the same selection. A smaller filter.budget makes them choose.")


def present(columns: Sequence[tuple[str, str]], rows: Sequence[Row]) -> list[tuple[str, str]]:
    """The columns some row has a value for (runs from before a metric existed lack it), the first always."""
    return [c for i, c in enumerate(columns) if i == 0 or any(r.get(c[0]) is not None for r in rows)]


def has_prompt_diversity(rows: Sequence[Row]) -> bool:
    return any(r.get(k) is not None for r in rows for k in PROMPT_DIVERSITY)


def markdown_table(rows: Sequence[Row], columns: Sequence[tuple[str, str]], interval: bool = False,
                   signed: Collection[str] = SIGNED) -> str:
    columns = present(columns, rows)
    lines = ["| " + " | ".join(h for _, h in columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell_text(r.get(k), signed=k in signed, interval=interval) for k, _ in columns)
              + " |" for r in rows]
    return "\n".join(lines) + "\n"


def write_comparison(root: Path, runs: Sequence[tuple[str, int, Path]]) -> dict[str, Any]:
    """comparison.json (rows, means, final), comparison.md and comparison.csv under ``root``."""
    rows = [r for strategy, seed, path in runs for r in variant_rows(strategy, seed, path)]
    add_gains(rows)
    means = aggregate(rows)
    final = final_summary(means)
    data = {"rows": rows, "means": means, "final": final,
            "runs": [{"strategy": s, "seed": seed, "dir": str(p)} for s, seed, p in runs]}
    atomic_write_json(root / COMPARISON, data)
    by_split, split_columns, split_signed = split_table(final)
    note = unchosen_note(final)
    md = ((f"{note}\n\n" if note else "")
          + "## Final iteration (mean [95% t-interval over seeds])\n\n" + markdown_table(final, FINAL_COLUMNS, True)
          + ("\n## Accuracy per evaluation split (final iteration, mean [95% t-interval over seeds]; gains paired "
             "with each run's seed model)\n\n" + markdown_table(by_split, split_columns, True, split_signed)
             if split_columns else "")
          + "\n## Diversity and selected data (final iteration, mean [95% t-interval over seeds]; selection "
            "statistics averaged over iterations)\n\n"
          + markdown_table(final, FINAL_DIVERSITY_COLUMNS, True)
          + ("\n## Per-prompt output diversity (final iteration, mean [95% t-interval over seeds]; k samples of "
             "each prompt)\n\n" + markdown_table(final, PROMPT_DIVERSITY_COLUMNS, True)
             if has_prompt_diversity(final) else "")
          + "\n## Per iteration (mean ± std over seeds)\n\n" + markdown_table(means, ITERATION_COLUMNS))
    atomic_write_text(root / "comparison.md", md)
    buf = io.StringIO()
    splits = list(dict.fromkeys(k for r in rows for k in r.get("accuracy_by_split") or {}))
    fields = ["strategy", "seed", "iteration", *METRICS, "frontier_length", *(f"accuracy_{k}" for k in splits)]
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    writer.writerows({**r, **{f"accuracy_{k}": v for k, v in (r.get("accuracy_by_split") or {}).items()}} for r in rows)
    atomic_write_text(root / "comparison.csv", buf.getvalue())
    return data


def read_comparison(root: str | Path) -> dict[str, Any] | None:
    p = Path(root) / COMPARISON
    return json.loads(p.read_text()) if p.is_file() else None
