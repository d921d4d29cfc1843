"""`qdc report RUN_DIR`: PNG plots and a self-contained report.html from a run directory.

Reads only files of the run-directory contract (metrics.jsonl, manifest.json, recipe.yaml); the
HTML refers to the PNGs beside it, so it opens in a browser with no server.
"""

from __future__ import annotations

import html
import importlib
import json
from pathlib import Path
from typing import Any, Callable

from system.errors import QdcError
from system.store import MANIFEST, METRICS, RECIPE, atomic_write_files

STAGES = ("generate_s", "filter_s", "learn_s", "sync_s", "eval_s")


class ReportError(QdcError):
    pass


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# While a report is built, figures wait under temp names and are renamed in only once the whole
# report has rendered (`build_report`), so a report that fails leaves no new file behind.
_pending: list[tuple[Path, Path]] | None = None


def _save(fig: Any, path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp.png")
    try:
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        _plt().close(fig)
    if _pending is None:
        tmp.replace(path)
    else:
        _pending.append((tmp, path))
    return path


def _legend_outside(ax: Any) -> None:
    """Legend right of the axes: curves that end together at the last iteration stay visible."""
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def plot_accuracy(rows: list[dict[str, Any]], out: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    it = [r["iteration"] for r in rows]
    ax.plot(it, [r.get("id_accuracy") for r in rows], marker="o", label="ID accuracy")
    ax.plot(it, [r.get("ood_accuracy") for r in rows], marker="s", label="OOD accuracy")
    lengths = sorted({int(k) for r in rows for k in (r.get("accuracy_by_length") or {})})
    for length in lengths:
        ys = [(r.get("accuracy_by_length") or {}).get(str(length)) for r in rows]
        ax.plot(it, ys, linestyle="--", alpha=0.7, label=f"length {length}")
    ax.set(title="Greedy exact-answer accuracy per iteration", xlabel="iteration (0 = seed training)",
           ylabel="accuracy", ylim=(-0.02, 1.02))
    ax.set_xticks(it)
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    return _save(fig, out)


def plot_diversity(rows: list[dict[str, Any]], out: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    it = [r["iteration"] for r in rows]
    keys = [("output_diversity", "output diversity (Vendi / n)"), ("distinct_ngrams", "distinct 3-grams"),
            ("selection_diversity", "selected-data diversity")]
    for key, label in keys:
        ys = [r.get(key) for r in rows]
        if any(y is not None for y in ys):
            ax.plot(it, ys, marker="o", label=label)
    ax.set(title="Diversity of the model's samples and of the selection", xlabel="iteration", ylabel="score")
    ax.set_xticks(it)
    ax.grid(alpha=0.3)
    _legend_outside(ax)
    return _save(fig, out)


def plot_stage_seconds(rows: list[dict[str, Any]], out: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
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


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3f}"
        if isinstance(v, dict):
            return ", ".join(f"{k}: {cell(x)}" for k, x in v.items())
        return html.escape("" if v is None else str(v))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(r.get(c))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


Section = Callable[[Path], str]
_EXTRA_SECTIONS: list[Section] = []
# Modules that register a section with `register_section` when imported.
SECTION_MODULES = ("system.probe.report", "system.ablation.report")


def register_section(fn: Section) -> Section:
    """Other reports (probes, ablations) add a section that renders when its files exist."""
    _EXTRA_SECTIONS.append(fn)
    return fn


CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee;margin:0.5em 0}pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:12px}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:1em}"""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ReportError(f"{path}: not valid JSON ({type(e).__name__}; truncated?)") from None


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """metrics.jsonl, every line checked: a damaged line is an error naming it, not a traceback."""
    p = run_dir / METRICS
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


def loop_section(run_dir: Path) -> str:
    rows = read_metrics(run_dir)
    if not rows:
        return ""
    plots = [plot_accuracy(rows, run_dir / "accuracy.png"), plot_diversity(rows, run_dir / "diversity.png"),
             plot_stage_seconds(rows, run_dir / "stage_seconds.png")]
    columns = ["iteration", "id_accuracy", "ood_accuracy", "accuracy_by_length", "pass_at_k", "output_diversity",
               "n_generated", "n_selected", "frontier_length", *STAGES, "wall_s"]
    imgs = "".join(f'<img src="{p.name}" alt="{p.stem}">' for p in plots)
    return f"<h2>Closed loop</h2><div class='grid'>{imgs}</div><h3>metrics.jsonl</h3>{_table(rows, columns)}"


def build_report(run_dir: str | Path) -> Path:
    """Render every section, then put the figures and report.html in place together: a report that
    cannot finish (a damaged file, a failing plot) writes nothing."""
    global _pending
    run = Path(run_dir)
    if not run.is_dir():
        raise ReportError(f"{run}: no such run directory")
    for module in SECTION_MODULES:
        importlib.import_module(module)
    manifest = _read_json(run / MANIFEST) if (run / MANIFEST).is_file() else {}
    if not isinstance(manifest, dict):
        raise ReportError(f"{run / MANIFEST}: not a manifest (a JSON object)")
    try:
        recipe = (run / RECIPE).read_text(encoding="utf-8") if (run / RECIPE).is_file() else ""
    except UnicodeDecodeError:
        raise ReportError(f"{run / RECIPE}: not UTF-8 text") from None
    _pending = []
    try:
        sections = [s for s in [loop_section(run)] + [fn(run) for fn in _EXTRA_SECTIONS] if s]
        if not sections:
            raise ReportError(f"{run}: nothing to report (no {METRICS} or probe/ablation results yet)")
        status = "finished" if manifest.get("done") else f"in progress ({len(manifest.get('finished', []))} stages done)"
        page = (
            f"<!doctype html><html><head><meta charset='utf-8'><title>qdc-loop report: {html.escape(run.name)}</title>"
            f"<style>{CSS}</style></head><body><h1>qdc-loop report: {html.escape(run.name)}</h1>"
            f"<p>Run status: {html.escape(status)}.</p>{''.join(sections)}"
            f"<h2>Recipe</h2><pre>{html.escape(recipe)}</pre></body></html>"
        )
        out = run / "report.html"
        atomic_write_files({**{final: tmp.read_bytes() for tmp, final in _pending}, out: page.encode("utf-8")})
    finally:
        for tmp, _ in _pending:
            tmp.unlink(missing_ok=True)
        _pending = None
    return out
