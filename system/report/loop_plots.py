"""The closed loop's plots from metrics.jsonl rows: accuracy per iteration and curriculum level, diversity
(one axis per scale), seconds per stage. Both task families: the level key is
``accuracy_by_<level_name>`` (TInt: list length; datasets: difficulty)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from system.report.files import _plt, _save

Row = dict[str, Any]
STAGES = ("generate_s", "filter_s", "learn_s", "sync_s", "eval_s")

# Vendi scores count "effective distinct samples" (1..n): their own axis
VENDI = (("output_diversity", "model's samples"), ("selection_diversity", "selected data"))
# measures that live in [0, 1] share one axis; one found outside it gets an axis of its own
UNIT = (("distinct_ngrams", "distinct 2-grams of samples"), ("mean_pairwise_distance", "mean pairwise cosine distance"),
        ("distinct_per_prompt", "distinct samples per prompt"),
        ("distinct_answers_per_prompt", "distinct answers per prompt"),
        ("edit_distance_per_prompt", "edit distance within a prompt"), ("pass_at_k_gap", "pass@k - pass@1"))


def level_name(rows: Sequence[Row]) -> str:
    """What a curriculum level is in this run (rows before `level_name` existed were TInt's lengths)."""
    return next((r["level_name"] for r in rows if r.get("level_name")), "length")


def _level_sort(key: str) -> tuple[int, Any]:
    try:
        return (0, int(key))
    except ValueError:
        return (1, key)


def accuracy_by_level(rows: Sequence[Row]) -> tuple[str, list[str]]:
    """The metrics key of accuracy per level and the levels any row has, in order."""
    key = f"accuracy_by_{level_name(rows)}"
    levels = {str(k) for r in rows for k in (r.get(key) or {})}
    return key, sorted(levels, key=_level_sort)


def _legend_outside(ax: Any) -> None:
    """Legend right of the axes: curves that end together at the last iteration stay visible."""
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def plot_accuracy(rows: Sequence[Row], out: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    it = [r["iteration"] for r in rows]
    ax.plot(it, [r.get("id_accuracy") for r in rows], marker="o", label="ID accuracy")
    ax.plot(it, [r.get("ood_accuracy") for r in rows], marker="s", label="OOD accuracy")
    key, levels = accuracy_by_level(rows)
    name = level_name(rows)
    for level in levels:
        ax.plot(it, [(r.get(key) or {}).get(level) for r in rows], linestyle="--", alpha=0.7, label=f"{name} {level}")
    ax.set(title=f"Greedy exact-answer accuracy per iteration and {name}", xlabel="iteration (0 = seed training)",
           ylabel="accuracy", ylim=(-0.02, 1.02))
    ax.set_xticks(it)
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    return _save(fig, out)


def _series(rows: Sequence[Row], key: str, label: str) -> list[tuple[str, list[float | None]]]:
    """One curve per metric; a metric given per task (a dict) gives one curve per task."""
    values = [r.get(key) for r in rows]
    if any(isinstance(v, dict) for v in values):
        names = sorted({k for v in values if isinstance(v, dict) for k in v})
        return [(f"{label}: {n}", [v.get(n) if isinstance(v, dict) else None for v in values]) for n in names]
    if any(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return [(label, values)]
    return []


def diversity_panels(rows: Sequence[Row]) -> list[tuple[str, list[tuple[str, list[float | None]]], bool]]:
    """(title, curves, on the 0-1 scale) per axis: the Vendi scores, the 0-1 measures, and any measure
    whose values leave [0, 1] on an axis of its own."""
    panels = []
    vendi = [c for key, label in VENDI for c in _series(rows, key, label)]
    if vendi:
        panels.append(("Vendi score (effective number of distinct samples)", vendi, False))
    unit, own = [], []
    for key, label in UNIT:
        for name, ys in _series(rows, key, label):
            inside = all(y is None or -1e-9 <= y <= 1 + 1e-9 for y in ys)
            (unit if inside else own).append((name, ys))
    if unit:
        panels.append(("Measures in [0, 1]", unit, True))
    panels += [(name, [(name, ys)], False) for name, ys in own]
    return panels


def plot_diversity(rows: Sequence[Row], out: Path) -> Path | None:
    panels = diversity_panels(rows)
    if not panels:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 5.0), squeeze=False)
    it = [r["iteration"] for r in rows]
    for ax, (title, curves, unit) in zip(axes[0], panels):
        for name, ys in curves:
            ax.plot(it, ys, marker="o", label=name)
        ax.set(title=title, xlabel="iteration")
        if unit:
            ax.set_ylim(-0.02, 1.02)
        ax.set_xticks(it)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=1, frameon=False)
    fig.suptitle("Diversity of the model's samples and of the selection", fontsize=11)
    fig.tight_layout()
    return _save(fig, out)


def plot_stage_seconds(rows: Sequence[Row], out: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    it = [r["iteration"] for r in rows]
    bottom = [0.0] * len(rows)
    for stage in STAGES:
        vals = [float(r.get(stage) or 0.0) for r in rows]
        ax.bar(it, vals, bottom=bottom, label=stage.removesuffix("_s"))
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.plot(it, [r.get("wall_s") for r in rows], color="black", marker="x", linestyle="", label="wall")
    ax.set(title="Seconds per stage and iteration", xlabel="iteration", ylabel="seconds")
    ax.set_xticks(it)
    _legend_outside(ax)
    return _save(fig, out)
