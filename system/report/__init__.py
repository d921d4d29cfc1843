"""`qdc report RUN_DIR`: report.html and its PNG plots from a run directory.

Reads only files of the run-directory contract (metrics.jsonl, manifest.json, recipe.yaml,
iter_XXX/samples.parquet, and what probes and ablations write); the HTML refers to the PNGs beside it,
so it opens in a browser with no server. Sections: summary, plots, metrics (key columns; the rest
collapsed), samples (kept and rejected candidates with their verdicts and reasons), the probe and
ablation sections when their files exist, and the recipe (collapsed). Nothing is written unless the
whole report renders (`files.staged`).
"""

from __future__ import annotations

import html
import importlib
import json
from pathlib import Path
from typing import Any, Callable

import yaml

from system.errors import QdcError
from system.report.files import _plt, _save, staged
from system.report.loop_plots import STAGES, plot_accuracy, plot_diversity, plot_stage_seconds
from system.report.samples import samples_section
from system.report.tables import metrics_tables, summary_table
from system.store import MANIFEST, METRICS, RECIPE

__all__ = ["STAGES", "ReportError", "build_report", "register_section", "_plt", "_save"]


class ReportError(QdcError):
    pass


Section = Callable[[Path], str]
_EXTRA_SECTIONS: list[Section] = []
# Modules that register a section with `register_section` when imported.
SECTION_MODULES = ("system.probe.report", "system.ablation.report")


def register_section(fn: Section) -> Section:
    """Other reports (probes, ablations) add a section that renders when its files exist."""
    _EXTRA_SECTIONS.append(fn)
    return fn


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;line-height:1.4}
nav a{margin-right:1em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.6em}
table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}img{display:block;max-width:100%;border:1px solid #eee;margin:0.5em 0}
pre{background:#f7f7f7;padding:.6em;overflow:auto;font-size:12px}
.scroll{overflow-x:auto;max-width:100%}
table.all td:first-child,table.all th:first-child,table.summary td:first-child{text-align:left}
details{margin:.6em 0}details>pre{max-height:40em}summary{cursor:pointer;color:#1a5fb4}
table.samples{table-layout:fixed;width:100%}table.samples td,table.samples th{text-align:left;vertical-align:top}
table.samples td{overflow-wrap:anywhere}table.samples pre{white-space:pre-wrap;overflow-wrap:anywhere;margin:0 0 .3em 0;padding:.3em}
col.c0{width:8%}col.c1{width:22%}col.c2{width:28%}col.c3{width:24%}col.c4{width:18%}
.kv{display:inline-block;margin-right:.8em;font-size:12px}
.k{color:#666;font-size:11px}.more{color:#999;font-size:11px}.kept{color:#1a7f37;font-weight:600}
.rejected{color:#b42318;font-weight:600}ul.reasons{font-size:13px;margin:.2em 0}"""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ReportError(f"{path}: not valid JSON ({type(e).__name__}; truncated?)") from None


def read_metrics(run: Path) -> list[dict[str, Any]]:
    """metrics.jsonl, every line checked: a damaged line is an error naming it, not a traceback."""
    p = run / METRICS
    if not p.is_file():
        return []
    rows = []
    for lineno, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except (ValueError, RecursionError):
            raise ReportError(f"{p}:{lineno}: not valid JSON (truncated?)") from None
        if not isinstance(row, dict) or not isinstance(row.get("iteration"), int):
            raise ReportError(f"{p}:{lineno}: not a metrics row (no integer 'iteration')")
        rows.append(row)
    return rows


def _section(sid: str, title: str, body: str) -> str:
    return f"<section id='{sid}'><h2>{html.escape(title)}</h2>{body}</section>"


def _loop_sections(run: Path, rows: list[dict[str, Any]], recipe: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(id, title, html) of the closed loop's sections."""
    if not rows:
        return []
    accuracy, seconds = plot_accuracy(rows, run / "accuracy.png"), plot_stage_seconds(rows, run / "stage_seconds.png")
    diversity = plot_diversity(rows, run / "diversity.png")
    images = [accuracy, diversity, seconds]
    plots = "".join(f"<img src='{p.name}' alt='{p.stem}'>" for p in images if p is not None)
    out = [("plots", "Plots", plots), ("metrics", "Metrics per iteration", metrics_tables(rows))]
    samples = samples_section(run, recipe)
    if samples:
        out.append(("samples", "Samples: what was generated, kept and rejected", samples))
    return out


def build_report(run_dir: str | Path) -> Path:
    run = Path(run_dir)
    if not run.is_dir():
        raise ReportError(f"{run}: no such run directory")
    for module in SECTION_MODULES:
        importlib.import_module(module)
    try:
        recipe_text = (run / RECIPE).read_text(encoding="utf-8") if (run / RECIPE).is_file() else ""
    except UnicodeDecodeError:
        raise ReportError(f"{run / RECIPE}: not UTF-8 text") from None
    try:
        recipe = yaml.safe_load(recipe_text) or {}
    except yaml.YAMLError:
        recipe = {}
    recipe = recipe if isinstance(recipe, dict) else {}
    manifest = _read_json(run / MANIFEST) if (run / MANIFEST).is_file() else {}
    if not isinstance(manifest, dict):
        raise ReportError(f"{run / MANIFEST}: not a manifest (a JSON object)")
    rows = read_metrics(run)
    try:
        with staged(run) as stage:
            sections = _loop_sections(run, rows, recipe)
            sections += [(f"extra{i}", "", s) for i, fn in enumerate(_EXTRA_SECTIONS) if (s := fn(run))]
            if not sections:
                raise ReportError(f"{run}: nothing to report (no {METRICS} or probe/ablation results yet)")
            return stage.commit(_page(run, manifest, recipe, recipe_text, rows, sections))
    except OSError as e:
        raise ReportError(f"{run}: cannot write the report: {e}") from None


def _page(run: Path, manifest: dict[str, Any], recipe: dict[str, Any], recipe_text: str, rows: list[dict[str, Any]],
          sections: list[tuple[str, str, str]]) -> str:
    status = "finished" if manifest.get("done") else f"in progress ({len(manifest.get('finished', []))} stages done)"
    family = (recipe.get("task") or {}).get("family", "tint") if recipe else ""
    facts = [f"Run status: {status}"] + ([f"task family: {family}"] if family else [])
    summary = f"<p>{html.escape('; '.join(facts))}.</p>" + (summary_table(rows) if rows else "")
    parts = [("summary", "Summary", summary), *sections]
    lines = recipe_text.count("\n")
    recipe_html = (f"<details><summary>recipe.yaml: the resolved recipe ({lines} lines)</summary>"
                   f"<pre>{html.escape(recipe_text)}</pre></details>")
    parts.append(("recipe", "Recipe", recipe_html))
    nav = "".join(f"<a href='#{sid}'>{html.escape(title.split(':')[0])}</a>" for sid, title, _ in parts if title)
    body = "".join(_section(sid, title, content) if title else f"<section id='{sid}'>{content}</section>"
                   for sid, title, content in parts)
    name = html.escape(run.resolve().name)
    return (f"<!doctype html><html><head><meta charset='utf-8'><meta name='viewport' content='width=device-width'>"
            f"<title>qdc-loop report: {name}</title><style>{CSS}</style></head><body>"
            f"<h1>qdc-loop report: {name}</h1><nav>{nav}</nav>{body}</body></html>")
