"""PNG figures of probe results (matplotlib, Agg): curves, heatmaps and filter bars.

Every figure reads the aggregated rows of probe.json (`results.aggregate`): mean over seeds with the
95% interval (a bootstrap over prompts and seeds, or a t-interval over seeds where there are no
per-prompt scores: system/stats.py) as error bars where there is one, else the sample standard
deviation, and says how many seeds stand behind each point.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from system.report import _plt, _save

Row = dict[str, Any]
METRIC_NAMES = {"accuracy": "accuracy", "steps_valid": "step validity", "valid_trace": "fully valid traces"}
KIND_COLORS = {"static": ("#9ecae1", "#4292c6", "#08519c", "#08306b"), "dynamic": ("#fc9272", "#ef3b2c", "#a50f15", "#67000d"),
               "static_line": ("#a1d99b", "#41ab5d", "#006d2c", "#00441b")}
KIND_STYLE = {"static": ("o", "-"), "dynamic": ("s", "--"), "static_line": ("^", ":")}
NOISE_KINDS = ("static", "dynamic", "static_line")
PROMPT_SCORED = ("accuracy", "steps_valid", "valid_trace")  # per-prompt scores: bootstrap over prompts and seeds
SPLIT_TITLES = {"id": "ID", "ood_length": "OOD (longer lists)", "ood_digits": "OOD (more digits)", "ood_task": "OOD (held-out task)"}


def _value(row: Row, metric: str) -> tuple[float | None, float]:
    stats = row.get(metric)
    return (stats["mean"], stats["std"]) if stats else (None, 0.0)


def _bar(row: Row, metric: str) -> tuple[float | None, float, float]:
    """(mean, error below, error above): the 95% interval where there is one, else ± std."""
    stats = row.get(metric)
    if not stats:
        return None, 0.0, 0.0
    if "ci_low" in stats:
        return stats["mean"], max(0.0, stats["mean"] - stats["ci_low"]), max(0.0, stats["ci_high"] - stats["mean"])
    return stats["mean"], stats["std"], stats["std"]


def _errorbars(points: Sequence[Row], metric: str) -> tuple[list[float | None], list[list[float]]]:
    bars = [_bar(r, metric) for r in points]
    return [b[0] for b in bars], [[b[1] for b in bars], [b[2] for b in bars]]


def _bars_note(rows: Sequence[Row], metric: str) -> str:
    """What the error bars of ``metric`` are: the 95% interval of results.aggregate where there is one."""
    if not any("ci_low" in (r.get(metric) or {}) for r in rows):
        return ""
    return "95% bootstrap CI over prompts and seeds" if metric in PROMPT_SCORED else "95% t-interval over seeds"


def _seeds_note(rows: Sequence[Row], metrics: Sequence[str] = ("accuracy",)) -> str:
    """How many seeds stand behind each point and what the error bars of ``metrics`` are (none named:
    a figure without bars)."""
    seeds = sorted({s for r in rows for s in r.get("seeds", [])})
    counts = sorted({len(r.get("seeds", [])) for r in rows})
    notes = [n for n in (_bars_note(rows, m) for m in metrics) if n]
    bars = "; bars: " + (", ".join(dict.fromkeys(notes))) if notes else ""
    if counts == [1]:
        what = f"one run per point, seed {seeds[0]}" if len(seeds) == 1 else f"one seed per point, seeds {seeds}"
        return what + bars
    n = "/".join(str(c) for c in counts)
    return f"mean over {n} seeds {seeds}" + (bars or ("; bars: ± std" if metrics else ""))


def noise_curves(rows: Sequence[Row], probe: str, task: str, splits: Sequence[str], metric: str, out: Path) -> Path | None:
    """Accuracy vs contamination, one line per (noise kind, intensity), one panel per split; the clean
    cell (contamination 0) starts every line."""
    mine = [r for r in rows if r["probe"] == probe and r["task"] == task and r.get(metric)]
    splits = [s for s in splits if any(r["split"] == s for r in mine)]
    if not splits:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(splits), figsize=(5.2 * len(splits) + 1.0, 4.2), squeeze=False)
    for ax, split in zip(axes[0], splits):
        here = [r for r in mine if r["split"] == split]
        clean = next((r for r in here if r["noise"] == "none"), None)
        for kind in NOISE_KINDS:
            intensities = sorted({r["intensity"] for r in here if r["noise"] == kind})
            colors = KIND_COLORS[kind][-len(intensities):] if intensities else ()
            for color, intensity in zip(colors, intensities):
                pts = sorted((r for r in here if r["noise"] == kind and r["intensity"] == intensity),
                             key=lambda r: r["contamination"])
                if clean is not None:
                    pts = [clean, *pts]
                shift = 0.008 * (NOISE_KINDS.index(kind) - 1)  # keep error bars of equal points apart
                xs = [r["contamination"] + shift for r in pts]
                ys, es = _errorbars(pts, metric)
                marker, line = KIND_STYLE[kind]
                ax.errorbar(xs, ys, yerr=es, marker=marker, color=color, capsize=3, linestyle=line,
                            label=f"{kind.replace('_', ' ')}, intensity {intensity:g}")
        ax.set(title=f"{SPLIT_TITLES.get(split, split)}", xlabel="contamination (fraction of samples noised)",
               ylabel=METRIC_NAMES.get(metric, metric), ylim=(-0.02, 1.02), xlim=(-0.03, 1.03))
        ax.grid(alpha=0.3)
    if axes[0][-1].get_legend_handles_labels()[0]:
        axes[0][-1].legend(fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    what = {"finetune": "Fine-tuned on noised data", "prompt": "Few-shot prompted with noised exemplars"}[probe]
    fig.suptitle(f"{what}: clean {METRIC_NAMES.get(metric, metric)} on {task}\n({_seeds_note(mine, (metric,))})", fontsize=11, y=1.06)
    return _save(fig, out)


def noise_heatmaps(rows: Sequence[Row], probe: str, task: str, split: str, metric: str, out: Path) -> Path | None:
    """Contamination x intensity heatmap of the metric, one panel per noise kind (clean cell in column 0)."""
    mine = [r for r in rows if r["probe"] == probe and r["task"] == task and r["split"] == split and r.get(metric)]
    kinds = [k for k in NOISE_KINDS if any(r["noise"] == k for r in mine)]
    if not kinds:
        return None
    clean = next((r for r in mine if r["noise"] == "none"), None)
    plt = _plt()
    n_rows = max(len({r["intensity"] for r in mine if r["noise"] == k}) for k in kinds)
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.4 * len(kinds), 1.6 + 0.6 * n_rows), squeeze=False)
    image = None
    for ax, kind in zip(axes[0], kinds):
        here = [r for r in mine if r["noise"] == kind]
        cs = sorted({r["contamination"] for r in here} | ({0.0} if clean else set()))
        ins = sorted({r["intensity"] for r in here})
        grid = [[float("nan")] * len(cs) for _ in ins]
        for r in here:
            grid[ins.index(r["intensity"])][cs.index(r["contamination"])] = _value(r, metric)[0]
        if clean is not None:
            for row in grid:
                row[0] = _value(clean, metric)[0]
        image = ax.imshow(grid, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto", origin="lower")
        for yi, row in enumerate(grid):
            for xi, v in enumerate(row):
                if v == v:
                    ax.text(xi, yi, f"{v:.2f}", ha="center", va="center", fontsize=8,
                            color="white" if v < 0.55 else "black")
        ax.set_xticks(range(len(cs)), [f"{c:g}" for c in cs])
        ax.set_yticks(range(len(ins)), [f"{i:g}" for i in ins])
        ax.set(title=f"{kind.replace('_', ' ')} noise", xlabel="contamination", ylabel="intensity")
    if image is not None:
        fig.colorbar(image, ax=axes[0].tolist(), label=METRIC_NAMES.get(metric, metric), shrink=0.9)
    what = {"finetune": "fine-tuned", "prompt": "few-shot prompted"}[probe]
    fig.suptitle(f"{task}, {what}: {SPLIT_TITLES.get(split, split)} {METRIC_NAMES.get(metric, metric)} "
                 f"({_seeds_note(mine, ())})", fontsize=10, y=1.0 + 0.25 / (1.6 + 0.6 * n_rows))
    return _save(fig, out)


def filter_bars(rows: Sequence[Row], task: str, out: Path) -> Path | None:
    """Per strategy: the kept rate of clean, static-noised and dynamic-noised candidates, and the
    clean accuracy after training on the selection."""
    import numpy as np

    mine = [r for r in rows if r["probe"] == "filter" and r["task"] == task]
    strategies = sorted({r["strategy"] for r in mine})
    if not strategies:
        return None
    splits = [s for s in ("id", "ood_length", "ood_digits", "ood_task") if any(r["split"] == s for r in mine)]
    plt = _plt()
    # without training (probe.filter.train: false) there is no accuracy: one panel, not an empty second
    fig, axes = plt.subplots(1, 2 if splits else 1, figsize=(12 if splits else 7, 4.4), squeeze=False)
    left = axes[0][0]
    x = np.arange(len(strategies))
    width = 0.26
    first_split = {s: next(r for r in mine if r["strategy"] == s) for s in strategies}
    for k, (kind, color) in enumerate((("none", "#74c476"), ("static", "#4292c6"), ("dynamic", "#ef3b2c"))):
        ys, es = _errorbars([first_split[s] for s in strategies], f"kept_rate_{kind}")
        left.bar(x + (k - 1) * width, [y or 0.0 for y in ys], width, yerr=es, capsize=2,
                 color=color, label={"none": "clean"}.get(kind, f"{kind} noise"))
    left.set_xticks(x, strategies, rotation=20)
    left.set(title="Share of each kind of candidate the strategy keeps", ylabel="kept / in pool", ylim=(0, 1.05))
    left.grid(axis="y", alpha=0.3)
    if not splits:
        left.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))  # beside the bars, not on them
        fig.suptitle(f"Filter probe on {task}: what each strategy keeps ({_seeds_note(mine, ('kept_rate_none',))})", fontsize=10, y=1.02)
        return _save(fig, out)
    left.legend(fontsize=8)
    right = axes[0][1]
    for k, split in enumerate(splits):
        ys, es = _errorbars([next((r for r in mine if r["strategy"] == s and r["split"] == split), {})
                             for s in strategies], "accuracy")
        right.bar(x + (k - (len(splits) - 1) / 2) * 0.35, [y or 0.0 for y in ys], 0.35,
                  yerr=es, capsize=2, label=SPLIT_TITLES.get(split, split))
    right.set_xticks(x, strategies, rotation=20)
    right.set(title="Clean accuracy after training on the selection", ylabel="accuracy", ylim=(0, 1.05))
    right.grid(axis="y", alpha=0.3)
    right.legend(fontsize=8)
    fig.suptitle(f"Filter probe on {task}: noised candidates in the pool and what each strategy keeps "
                 f"({_seeds_note(mine, ('kept_rate_none', 'accuracy'))})", fontsize=10, y=1.02)
    return _save(fig, out)


def learning_curve(rows: Sequence[Row], task: str, threshold: float | None, out: Path) -> Path | None:
    """The clean fine-tune cell's accuracy against its step budget (the `finetune_curve` cells and the
    clean cell itself), one line per split, with the convergence bar."""
    mine = [r for r in rows if r["task"] == task and r.get("steps") is not None and r.get("accuracy")
            and (r["probe"] == "finetune_curve" or (r["probe"] == "finetune" and r["noise"] == "none"))]
    if len({r["steps"] for r in mine}) < 2:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for split in [s for s in SPLIT_TITLES if any(r["split"] == s for r in mine)]:
        pts = sorted((r for r in mine if r["split"] == split), key=lambda r: r["steps"])
        ys, es = _errorbars(pts, "accuracy")
        ax.errorbar([r["steps"] for r in pts], ys, yerr=es, marker="o", capsize=3, label=SPLIT_TITLES[split])
    if threshold is not None:
        ax.axhline(threshold, color="#a50f15", linestyle=":", linewidth=1.2, label=f"converged bar {threshold:g} (ID)")
    ax.set(title=f"Clean fine-tune cell on {task}: accuracy vs step budget\n({_seeds_note(mine)})",
           xlabel="optimizer steps (each point a full run with that budget)", ylabel="accuracy", ylim=(-0.02, 1.02))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out)
