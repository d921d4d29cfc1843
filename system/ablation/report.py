"""Ablation section of report.html: per-iteration curves per strategy, accuracy by list length,
selected-data QDC statistics, and the comparison tables, from <ablation dir>/comparison.json."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Collection, Sequence

from system.ablation.compare import (
    FINAL_COLUMNS, FINAL_DIVERSITY_COLUMNS, ITERATION_COLUMNS, PROMPT_DIVERSITY_COLUMNS, SIGNED, cell_text,
    has_prompt_diversity, present, read_comparison, split_table, unchosen_note,
)
from system.probe.report import NOWRAP_CSS
from system.report import _plt, _save, register_section

Row = dict[str, Any]
CURVES = (("id_accuracy", "ID accuracy"), ("ood_accuracy", "OOD accuracy (mean over the OOD splits)"),
          ("output_diversity", "Output diversity (Vendi of the model's samples)"),
          ("distinct_ngrams", "Output distinct 2-grams"))
PROMPT_CURVES = (("distinct_per_prompt", "Distinct completions / k (per prompt)"),
                 ("distinct_answers_per_prompt", "Distinct final answers / k (per prompt)"),
                 ("edit_distance_per_prompt", "Pairwise normalized edit distance (per prompt)"),
                 ("pass_at_k_gap", "pass@k - pass@1"))
SELECTION = (("sel_vendi", "Vendi"), ("sel_cluster_coverage", "cluster coverage"), ("sel_quality", "mean quality"),
             ("sel_complexity", "mean complexity"))


def _strategies(means: Sequence[Row]) -> list[str]:
    return list(dict.fromkeys(r["strategy"] for r in means))


def _seeds(means: Sequence[Row]) -> str:
    seeds = sorted({s for r in means for s in r["seeds"]})
    return f"mean ± std over seeds {seeds}" if len(seeds) > 1 else f"seed {seeds}"


def plot_curves(means: Sequence[Row], out: Path, curves: Sequence[tuple[str, str]] = CURVES,
                title: str = "Closed loop per selection strategy") -> Path:
    plt = _plt()
    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    strategies = _strategies(means)
    for ax, (key, title_) in zip(axes.flat, curves):
        for k, strategy in enumerate(strategies):
            pts = [r for r in means if r["strategy"] == strategy and r.get(key)]
            offset = (k - (len(strategies) - 1) / 2) * 0.04  # keep error bars of equal points apart
            ax.errorbar([r["iteration"] + offset for r in pts], [r[key]["mean"] for r in pts],
                        yerr=[r[key]["std"] for r in pts], marker="o", capsize=3, label=strategy)
        ax.set(title=title_, xlabel="iteration (0 = seed model, shared)", ylabel=title_.split(" (")[0])
        if "accuracy" in key or key in ("distinct_per_prompt", "distinct_answers_per_prompt"):
            ax.set_ylim(-0.02, 1.02)
        ax.set_xticks(sorted({r["iteration"] for r in means}))
        ax.grid(alpha=0.3)
    axes[0][0].legend(title="selection strategy", fontsize=8)
    fig.suptitle(f"{title} ({_seeds(means)})", fontsize=12)
    fig.tight_layout()
    return _save(fig, out)


GAIN_CURVES = (("id_gain", "ID accuracy gain"), ("ood_gain", "OOD accuracy gain"),
               ("diversity_change", "Output Vendi change"))


def plot_gains(means: Sequence[Row], out: Path) -> Path | None:
    """Changes since each run's own seed model (paired by seed), per strategy and iteration."""
    if not any(r.get("id_gain") for r in means):
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    strategies = _strategies(means)
    for ax, (key, title) in zip(axes, GAIN_CURVES):
        for k, strategy in enumerate(strategies):
            pts = [r for r in means if r["strategy"] == strategy and r.get(key)]
            offset = (k - (len(strategies) - 1) / 2) * 0.04
            ax.errorbar([r["iteration"] + offset for r in pts], [r[key]["mean"] for r in pts],
                        yerr=[r[key]["std"] for r in pts], marker="o", capsize=3, label=strategy)
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set(title=f"{title} since the seed model", xlabel="iteration", ylabel=title)
        ax.set_xticks(sorted({r["iteration"] for r in means}))
        ax.grid(alpha=0.3)
    axes[0].legend(title="selection strategy", fontsize=8)
    fig.suptitle(f"Paired by seed: each run minus its own iteration 0 ({_seeds(means)})", fontsize=12)
    fig.tight_layout()
    return _save(fig, out)


def plot_lengths(means: Sequence[Row], out: Path) -> Path | None:
    """Accuracy by list length: the seed model and each strategy's last iteration."""
    strategies = _strategies(means)
    last = {s: max((r for r in means if r["strategy"] == s), key=lambda r: r["iteration"]) for s in strategies}
    seed_row = next((r for r in means if r["iteration"] == 0), None)
    lengths = sorted({int(k) for r in last.values() for k in r.get("accuracy_by_length", {})})
    if not lengths:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    series = ([("seed model (iteration 0)", seed_row)] if seed_row else []) + [
        (f"{s} (iteration {r['iteration']})", r) for s, r in last.items()]
    for k, (label, row) in enumerate(series):
        by = row.get("accuracy_by_length", {})
        xs = [n for n in lengths if str(n) in by]
        ax.errorbar([x + (k - (len(series) - 1) / 2) * 0.06 for x in xs], [by[str(x)]["mean"] for x in xs],
                    yerr=[by[str(x)]["std"] for x in xs], marker="o", capsize=3, label=label,
                    linestyle=":" if k == 0 and seed_row else "-", color="black" if k == 0 and seed_row else None)
    ax.set(title=f"Accuracy by list length ({_seeds(means)})", xlabel="list length", ylabel="accuracy",
           ylim=(-0.02, 1.02))
    ax.set_xticks(lengths)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out)


def plot_selection(means: Sequence[Row], out: Path) -> Path | None:
    """The selected data's QDC statistics per strategy, averaged over iterations >= 1."""
    import numpy as np

    strategies = _strategies(means)
    rows = [r for r in means if r["iteration"] >= 1]
    if not rows:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(SELECTION), figsize=(3.4 * len(SELECTION), 3.8))
    for ax, (key, title) in zip(axes, SELECTION):
        vals = []
        for s in strategies:
            xs = [r[key]["mean"] for r in rows if r["strategy"] == s and r.get(key)]
            vals.append(float(np.mean(xs)) if xs else 0.0)
        ax.bar(range(len(strategies)), vals, color=[f"C{i}" for i in range(len(strategies))])
        ax.set_xticks(range(len(strategies)), strategies, rotation=30, ha="right")
        ax.set(title=f"selection {title}")
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("What each strategy selected (mean over iterations and seeds)", fontsize=11)
    fig.tight_layout()
    return _save(fig, out)


def _table(rows: Sequence[Row], columns: Sequence[tuple[str, str]], interval: bool = False,
           signed: Collection[str] = SIGNED) -> str:
    columns = present(columns, rows)
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in columns)
    body = "".join("<tr>" + "".join(
        f"<td>{html.escape(cell_text(r.get(k), signed=k in signed, interval=interval))}</td>" for k, _ in columns)
        + "</tr>" for r in rows)
    return f"<table class='qdc-nowrap'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def ablation_section(run_dir: Path) -> str:
    data = read_comparison(run_dir)
    if not data or not data.get("means"):
        return ""
    means = data["means"]
    figs = [plot_curves(means, run_dir / "ablation_curves.png"), plot_gains(means, run_dir / "ablation_gains.png"),
            plot_lengths(means, run_dir / "ablation_lengths.png"),
            plot_selection(means, run_dir / "ablation_selection.png")]
    per_prompt = ""
    if has_prompt_diversity(means):
        figs.insert(1, plot_curves(means, run_dir / "ablation_prompt_diversity.png", PROMPT_CURVES,
                                   "Per-prompt output diversity (k samples of each prompt)"))
        per_prompt = ("<h3>Per-prompt output diversity</h3><p>Among the k samples of each evaluation prompt: distinct "
                      "completions and final answers over k, mean pairwise edit distance over the longer length, and "
                      "pass@k - pass@1, averaged over prompts (a collapse toward one completion per prompt shows here, "
                      f"not in the cross-prompt Vendi score).</p>{_table(data['final'], PROMPT_DIVERSITY_COLUMNS, True)}")
    by_split, split_columns, split_signed = split_table(data["final"])
    splits = (f"<h3>Accuracy per evaluation split</h3><p>Final iteration; gains paired with each run's seed model.</p>"
              f"{_table(by_split, split_columns, True, split_signed)}" if split_columns else "")
    imgs = "".join(f'<img src="{p.name}" alt="{p.stem}">' for p in figs if p is not None)
    note = unchosen_note(data["final"])
    note_html = f"<p><b>{html.escape(note)}</b></p>" if note else ""
    runs = "".join(f"<li>{html.escape(r['strategy'])}, seed {r['seed']}: <code>{html.escape(r['dir'])}</code></li>"
                   for r in data.get("runs", []))
    return (f"{NOWRAP_CSS}<h2>Filtering ablation</h2><p>The same loop (same seeds, prompts and optimizer steps) once per "
            "selection strategy; iteration 0 is the shared seed model. Final-iteration tables: mean [95% Student-t "
            "interval over seeds]; per iteration and in the figures: ± the sample standard deviation over "
            f"seeds.</p>{note_html}{imgs}<h3>Final iteration</h3>{_table(data['final'], FINAL_COLUMNS, True)}{splits}"
            "<h3>Diversity and selected data</h3><p>Output diversity at the final iteration; the selected data's "
            f"statistics averaged over iterations.</p>{_table(data['final'], FINAL_DIVERSITY_COLUMNS, True)}{per_prompt}"
            f"<h3>Per iteration</h3>{_table(means, ITERATION_COLUMNS)}<h3>Runs</h3><ul>{runs}</ul>")


register_section(ablation_section)
