"""The probe directory and its files, and the flat tables the report and write-ups read.

    <probe dir>/recipe.yaml           the recipe of the latest `qdc probe` (after overrides)
    <probe dir>/manifest.json         {"kind": "probe", "finished": [cell ids of this grid], "done": bool}
    <probe dir>/cells/<cell id>.json  one finished cell: {"cell": {...}, "result": {...}}
    <probe dir>/prompt_base/<id>/     base models of the prompt probe
    <probe dir>/probe.json            the current grid's finished cells as flat rows, their means with 95%
                                      bootstrap intervals, and whether the clean cell converged

A cell file is written atomically once the cell is done; a rerun skips every cell whose file exists.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Sequence

from system.probe.cells import Cell, CellResult
from system.store import MANIFEST, RECIPE, atomic_write_json, atomic_write_text

CELLS = "cells"
SUMMARY = "probe.json"
Row = dict[str, Any]


RUNS_ROOT = Path("runs")


def probe_dir_for(recipe: Any) -> Path:
    """run.dir when the recipe sets it, else runs/<recipe name>: a fixed place, so that running the
    same recipe again finds its finished cells (cells are named by content, so changed settings
    get new cells beside the old ones)."""
    return Path(recipe.run.dir) if recipe.run.dir else RUNS_ROOT / recipe.name


class ProbeDir:
    def __init__(self, path: str | Path, converged_accuracy: float | None = None):
        self.path = Path(path)
        self.converged_accuracy = converged_accuracy  # the clean cell's bar (probe.finetune.converged_accuracy)

    def cell_file(self, cell: Cell) -> Path:
        return self.path / CELLS / f"{cell.id}.json"

    def is_done(self, cell: Cell) -> bool:
        return self.cell_file(cell).is_file()

    def result(self, cell: Cell) -> CellResult:
        return json.loads(self.cell_file(cell).read_text())["result"]

    def write_result(self, cell: Cell, result: CellResult) -> None:
        atomic_write_json(self.cell_file(cell), {"id": cell.id, "cell": cell.to_dict(), "result": result})

    def start(self, recipe_yaml: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path / RECIPE, recipe_yaml)

    def write_state(self, cells: Sequence[Cell]) -> dict[str, Any]:
        """manifest.json and probe.json for the grid ``cells`` (finished ones only)."""
        finished = [c for c in cells if self.is_done(c)]
        atomic_write_json(self.path / MANIFEST, {"kind": "probe", "finished": [c.id for c in finished],
                                                 "planned": len(cells), "done": len(finished) == len(cells)})
        rows = [row for c in finished for row in flatten(c, self.result(c))]
        summary: dict[str, Any] = {"rows": [public(r) for r in rows], "means": aggregate(rows)}
        if self.converged_accuracy is not None:
            from system.probe.convergence import check_convergence

            summary["convergence"] = check_convergence(cells, summary["rows"], self.converged_accuracy)
        atomic_write_json(self.path / SUMMARY, summary)
        return summary


def read_summary(path: str | Path) -> dict[str, Any] | None:
    p = Path(path) / SUMMARY
    return json.loads(p.read_text()) if p.is_file() else None


# ------------------------------------------------------------------------------------------------
# flat rows: one per (cell, evaluation split)


PER_PROMPT = "_per_prompt"  # a row's per-prompt scores: used for intervals, not written to probe.json


def public(row: Row) -> Row:
    return {k: v for k, v in row.items() if not k.startswith("_")}


def flatten(cell: Cell, result: CellResult) -> list[Row]:
    base: Row = {"probe": cell.probe, "task": cell.task, "seed": cell.seed, "noise": cell.noise,
                 "contamination": cell.contamination, "intensity": cell.intensity, "cell": cell.id}
    if cell.probe == "prompt_base":
        return []
    train = result.get("train")
    if isinstance(train, dict) and train.get("steps") is not None:
        base["steps"] = train["steps"]
    if cell.strategy is not None:
        base["strategy"] = cell.strategy
        for kind, stats in result.get("keep", {}).items():
            base[f"kept_rate_{kind}"] = stats["kept_rate"]
            base[f"share_{kind}"] = stats["share_of_selection"]
        base["n_selected"] = result.get("n_selected")
        base["selection_vendi"] = result.get("selection_metrics", {}).get("vendi")
    evaluation = result.get("eval") or {}
    if not evaluation:
        return [{**base, "split": None}]
    rows = [{**base, "split": split, "accuracy": m["accuracy"], "steps_valid": m["steps_valid"],
             "valid_trace": m["valid_trace"], PER_PROMPT: m.get("per_prompt")} for split, m in evaluation.items()]
    # the prompt probe's baselines (no exemplars, another task's exemplars): rows of their own, named in `noise`
    for split, named in (result.get("baselines") or {}).items():
        rows += [{**base, "noise": name, "split": split, "accuracy": m["accuracy"], "steps_valid": m["steps_valid"],
                  "valid_trace": m["valid_trace"], PER_PROMPT: m.get("per_prompt")} for name, m in named.items()]
    return rows


METRICS = ("accuracy", "steps_valid", "valid_trace", "kept_rate_none", "kept_rate_static", "kept_rate_dynamic",
           "share_static", "share_dynamic", "selection_vendi")
BOUNDS = {"selection_vendi": (1.0, math.inf)}  # every other metric is a rate in 0-1
GROUP_KEYS = ("probe", "task", "noise", "contamination", "intensity", "strategy", "steps", "split")


def _stats(metric: str, values: list[float], per_prompt: list[list[float]] | None = None) -> dict[str, Any]:
    """Mean over seeds, sample std, min, max, n, and a 95% interval (system/stats.py): a bootstrap over
    prompts and seeds where every seed's per-prompt scores are there, else a t-interval over seeds."""
    from system.stats import bootstrap_mean_ci, describe, t_interval

    ci = bootstrap_mean_ci(per_prompt) if per_prompt else t_interval(values, bounds=BOUNDS.get(metric, (0.0, 1.0)))
    out: dict[str, Any] = describe(values)
    if ci is not None:
        out["ci_low"], out["ci_high"] = ci
    return out


def _per_prompt(members: Sequence[Row], metric: str) -> list[list[float]] | None:
    tables = [(m.get(PER_PROMPT) or {}).get(metric) for m in members]
    return tables if tables and all(tables) else None  # type: ignore[return-value]


def aggregate(rows: Iterable[Row]) -> list[Row]:
    """Mean, standard deviation (sample), min, max, n and a 95% interval over seeds (and prompts), per
    group of the other keys."""
    groups: dict[tuple, list[Row]] = {}
    for r in rows:
        groups.setdefault(tuple(r.get(k) for k in GROUP_KEYS), []).append(r)
    out = []
    for key, members in groups.items():
        row: Row = dict(zip(GROUP_KEYS, key))
        row["seeds"] = sorted(m["seed"] for m in members)
        for metric in METRICS:
            kept = [m for m in members if m.get(metric) is not None and not math.isnan(float(m[metric]))]
            if kept:
                row[metric] = _stats(metric, [float(m[metric]) for m in kept], _per_prompt(kept, metric))
        out.append(row)
    out.sort(key=lambda r: tuple("" if v is None else str(v) if isinstance(v, str) else f"{v:012.4f}"
                                 for v in (r.get(k) for k in GROUP_KEYS)))
    return out
