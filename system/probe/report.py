"""Probe results section of report.html: curves, heatmaps and tables from <probe dir>/probe.json."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any, Sequence

from system.probe.results import read_summary
from system.report import register_section

Row = dict[str, Any]
# numbers stay on one line (a wrapped "0.855 ±" / "0.120" reads badly); headers still wrap
NOWRAP_CSS = "<style>table.qdc-nowrap td{white-space:nowrap}</style>"


def fmt(stats: dict[str, Any] | None) -> str:
    """mean [95% interval] where there is an interval, else mean ± std over seeds, else the mean."""
    if not stats:
        return ""
    if "ci_low" in stats:
        return f"{stats['mean']:.3f} [{stats['ci_low']:.3f}, {stats['ci_high']:.3f}]"
    if stats["n"] > 1:
        return f"{stats['mean']:.3f} ± {stats['std']:.3f}"
    return f"{stats['mean']:.3f}"


def html_table(rows: Sequence[Row], columns: Sequence[tuple[str, str]]) -> str:
    """columns: (key, header); stats dicts print as mean [95% interval] (`fmt`)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in columns)
    body = []
    for r in rows:
        cells = []
        for key, _ in columns:
            v = r.get(key)
            text = fmt(v) if isinstance(v, dict) else (f"{v:g}" if isinstance(v, float) else "" if v is None else str(v))
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table class='qdc-nowrap'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


SPLIT_NAMES = {"id": "ID", "ood_length": "OOD length", "ood_digits": "OOD digits", "ood_task": "OOD task"}
NOISE_KEYS = ("task", "noise", "contamination", "intensity")
NOISE_COLUMNS = [("task", "task"), ("noise", "noise"), ("contamination", "contamination"), ("intensity", "intensity")]
FILTER_KEYS = ("task", "strategy")
FILTER_COLUMNS = [("task", "task"), ("strategy", "strategy"), ("kept_rate_none", "clean kept"),
                  ("kept_rate_static", "static kept"), ("kept_rate_dynamic", "dynamic kept"),
                  ("share_dynamic", "dynamic share of selection"), ("selection_vendi", "selection Vendi")]


def pivot(rows: Sequence[Row], keys: Sequence[str], metrics: Sequence[tuple[str, str]]) -> tuple[list[Row], list[tuple[str, str]]]:
    """One row per ``keys`` with a column per (split, metric): the tables stay one line per cell."""
    splits = [s for s in SPLIT_NAMES if any(r.get("split") == s for r in rows)]
    merged: dict[tuple, Row] = {}
    for r in rows:
        row = merged.setdefault(tuple(r.get(k) for k in keys), {k: v for k, v in r.items() if k != "split"})
        for metric, _ in metrics:
            row[f"{r.get('split')}:{metric}"] = r.get(metric)
    columns = [(f"{s}:{m}", f"{SPLIT_NAMES[s]} {label}") for m, label in metrics for s in splits]
    ordered = sorted(merged.values(), key=lambda r: (r["task"], r.get("noise") != "none", str(r.get("noise")),
                                                    r.get("intensity") or 0, r.get("contamination") or 0,
                                                    str(r.get("strategy"))))
    return ordered, columns


def _img(p: Path | None) -> str:
    return f'<img src="{p.name}" alt="{html.escape(p.stem)}">' if p is not None else ""


def noise_definition(run_dir: Path) -> str:
    """What the grid's noise was, from the probe directory's recipe.yaml (defaults where unset)."""
    import yaml

    from system.probe.config import NoiseGridConfig

    grid: dict[str, Any] = {}
    recipe = run_dir / "recipe.yaml"
    if recipe.is_file():
        data = yaml.safe_load(recipe.read_text()) or {}
        grid = ((data.get("probe") or {}).get("grid") or {}) if isinstance(data, dict) else {}
    g = NoiseGridConfig.model_fields
    draw = grid.get("static_draw", g["static_draw"].default)
    unit = grid.get("dynamic_unit", g["dynamic_unit"].default)
    variant = grid.get("static_variant", g["static_variant"].default)
    static = ("drops each step line with probability intensity" if variant == "line" else
              "redraws each digit of the written trace with probability intensity, "
              + ("uniformly from 0-9 (it may stay the true digit; the study's draw)" if draw == "uniform"
                 else "as a different digit (every redrawn digit is wrong)"))
    dynamic = ("replaces each digit of each intermediate value with a different digit with probability intensity "
               "(the study's unit)" if unit == "digit" else
               "perturbs each intermediate value (one digit, or a flipped comparison) with probability intensity")
    return (f"Static noise (<code>static_variant: {html.escape(str(variant))}</code>, <code>static_draw: "
            f"{html.escape(str(draw))}</code>) {static}; errors do not propagate. <code>static_line</code> noise drops "
            f"each step line with probability intensity. Dynamic noise (<code>dynamic_unit: {html.escape(str(unit))}"
            f"</code>) {dynamic} while computing; errors propagate to later steps and the answer.")


def convergence_banner(summary: dict[str, Any]) -> str:
    from system.probe.convergence import UNDER_TRAINED, describe

    convergence = summary.get("convergence")
    if not convergence:
        return ""
    text = html.escape(describe(convergence))
    if convergence["status"] == UNDER_TRAINED:
        return (f"<p style='border:2px solid #a50f15;background:#fee0d2;padding:0.6em;font-weight:bold'>"
                f"{text}</p>")
    return f"<p><b>{text}</b></p>"


def learning_curve_part(means: Sequence[Row], tasks: Sequence[str], summary: dict[str, Any], run_dir: Path) -> str:
    from system.probe import plots

    rows = [r for r in means if r["probe"] == "finetune_curve" or (r["probe"] == "finetune" and r["noise"] == "none")]
    if not any(r["probe"] == "finetune_curve" for r in rows):
        return ""
    threshold = (summary.get("convergence") or {}).get("threshold")
    figs = [plots.learning_curve(rows, task, threshold, run_dir / f"probe_finetune_{task}_learning_curve.png")
            for task in tasks]
    table, split_columns = pivot([{**r, "noise": "none"} for r in rows], ("task", "steps"), [("accuracy", "accuracy")])
    table.sort(key=lambda r: (r["task"], r.get("steps") or 0))
    return ("<h3>Learning curve of the clean cell</h3><p>The clean fine-tune cell trained again at smaller step "
            "budgets (<code>probe.finetune.curve_points</code>; each point a full run with that budget and the same "
            "schedule shape): if accuracy still climbs at the full budget, the grid's cells are not converged.</p>"
            + "".join(_img(f) for f in figs)
            + html_table(table, [("task", "task"), ("steps", "steps"), *split_columns, ("seeds", "seeds")]))


def probe_section(run_dir: Path) -> str:
    from system.probe import plots

    summary = read_summary(run_dir)
    if not summary or not summary.get("means"):
        return ""
    means: list[Row] = summary["means"]
    tasks = sorted({r["task"] for r in means})
    splits = [s for s in ("id", "ood_length", "ood_digits", "ood_task") if any(r["split"] == s for r in means)]
    parts = [NOWRAP_CSS, "<h2>Noise-robustness probes</h2>", convergence_banner(summary),
             f"<p>{noise_definition(run_dir)} Contamination is the fraction of training samples (fine-tune probe) or "
             "exemplars (prompt probe) that carry noise, each of them changed. Accuracy is exact-answer accuracy on "
             "clean prompts, greedy; every cell of the fine-tune grid trains for the same number of steps. Tables "
             "give the mean over seeds with its 95% bootstrap interval over prompts and seeds in brackets; error bars "
             "are that interval.</p>"]
    for probe, title in (("finetune", "Fine-tune probe"), ("prompt", "Prompt probe")):
        rows = [r for r in means if r["probe"] == probe]
        if not rows:
            continue
        under = probe == "finetune" and (summary.get("convergence") or {}).get("status") == "under-trained"
        parts.append(f"<h3>{title}{' (under-trained)' if under else ''}</h3>")
        if probe == "prompt" and any(r["noise"] in ("zero_shot", "wrong_task") for r in rows):
            parts.append("<p>Rows <code>zero_shot</code> (the same queries with no exemplars) and <code>wrong_task"
                         "</code> (clean exemplars of another base task) are the baselines of the clean cell: only "
                         "where clean few-shot accuracy is well above both does the model read its exemplars, and "
                         "only then can noise in them matter.</p>")
        for task in tasks:
            probe_splits = [s for s in splits if any(r["split"] == s and r["task"] == task for r in rows)]
            figs = [plots.noise_curves(rows, probe, task, probe_splits, "accuracy", run_dir / f"probe_{probe}_{task}_accuracy.png")]
            if probe == "finetune":
                figs.append(plots.noise_curves(rows, probe, task, probe_splits, "steps_valid",
                                               run_dir / f"probe_{probe}_{task}_steps_valid.png"))
            figs += [plots.noise_heatmaps(rows, probe, task, s, "accuracy", run_dir / f"probe_{probe}_{task}_{s}_heatmap.png")
                     for s in probe_splits]
            parts.append("".join(_img(f) for f in figs))
        table, split_columns = pivot(rows, NOISE_KEYS, [("accuracy", "accuracy"), ("steps_valid", "step validity"),
                                                        ("valid_trace", "fully valid traces")])
        parts.append(html_table(table, [*NOISE_COLUMNS, *split_columns, ("seeds", "seeds")]))
        if probe == "finetune":
            parts.append(learning_curve_part(means, tasks, summary, run_dir))
    rows = [r for r in means if r["probe"] == "filter"]
    if rows:
        parts.append("<h3>Filter probe</h3><p>A pool of clean, static-noised and dynamic-noised candidates; each "
                     "strategy selects under the same budget; 'kept' is the share of that kind of candidate the "
                     "strategy keeps. Accuracy is that of a fresh model trained on the selection.</p>")
        parts.append("".join(_img(plots.filter_bars(rows, task, run_dir / f"probe_filter_{task}.png")) for task in tasks))
        table, split_columns = pivot(rows, FILTER_KEYS, [("accuracy", "accuracy after SFT")])
        parts.append(html_table(table, [*FILTER_COLUMNS, *split_columns, ("seeds", "seeds")]))
    return "".join(parts)


register_section(probe_section)
