"""measure.html and its PNGs: every distribution plotted side by side, one panel per dataset.

Plots are drawn from the measured result alone (histograms are stored with shared bin edges), so
the report shows exactly what measure.json says. The HTML refers to the PNGs beside it.
"""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from system.measure.table import COMPLEXITY_NAMES, DIVERSITY_ROWS, caption, table_rows

CSS = """body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
td.l,th.l{text-align:left}th{background:#f3f3f3}img{max-width:100%;border:1px solid #eee;margin:0.5em 0}
p.caption{font-size:13px;color:#555}"""
PANEL_W, PANEL_H = 3.2, 2.6


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> str:
    fig.savefig(path, dpi=100, bbox_inches="tight")
    _plt().close(fig)
    return path.name


def _panels(n: int, title: str, sharey: bool = True, per_row: int = 4) -> tuple[Any, list[Any]]:
    """n panels, at most ``per_row`` to a row (unused ones hidden), sharing the x axis."""
    plt = _plt()
    cols, rows = min(n, per_row), -(-n // per_row)
    fig, axes = plt.subplots(rows, cols, figsize=(PANEL_W * cols, PANEL_H * rows), sharex=True, sharey=sharey,
                             squeeze=False, layout="constrained")
    fig.suptitle(title, fontsize=11)
    flat = list(axes.flat)
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def plot_histograms(labels: list[str], stats: list[dict[str, Any] | None], title: str, xlabel: str,
                    out: Path) -> str:
    """One panel per dataset: the share of its records in each (shared) bin."""
    fig, axes = _panels(len(labels), title)
    for ax, label, s in zip(axes, labels, stats):
        ax.set_title(label, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.grid(alpha=0.3)
        if s is None:
            ax.text(0.5, 0.5, "not measured", ha="center", va="center", transform=ax.transAxes, fontsize=9)
            continue
        counts = s["histogram"]["counts"]
        total = sum(counts) or 1
        ax.stairs([c / total for c in counts], s["histogram"]["edges"], fill=True, alpha=0.75)
        ax.axvline(s["mean"], color="k", linestyle="--", linewidth=1)
    for ax in axes[::4]:
        ax.set_ylabel("share of records", fontsize=8)
    return _save(fig, out)


def plot_diversity(result: dict[str, Any], out: Path) -> str:
    """One panel per diversity measure, a bar per dataset."""
    labels = [d["label"] for d in result["datasets"]]
    fig, axes = _panels(len(DIVERSITY_ROWS), "Diversity", sharey=False)
    for ax in axes:
        ax.tick_params(axis="x", labelbottom=False)
    colors = [f"C{i % 10}" for i in range(len(labels))]
    for ax, (key, name, _) in zip(axes, DIVERSITY_ROWS):
        ax.bar(range(len(labels)), [d["diversity"][key] for d in result["datasets"]], color=colors)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.grid(alpha=0.3, axis="y")
    handles = [_plt().Rectangle((0, 0), 1, 1, color=c) for c in colors]
    fig.legend(handles, labels, loc="outside lower center", ncol=min(4, len(labels)), fontsize=8)
    return _save(fig, out)


def plot_cells(result: dict[str, Any], out: Path) -> str:
    """One panel per dataset: the share of its records in each k-means cell of the union (cells in the
    order of the union's occupancy, largest first)."""
    ds = result["datasets"]
    union = [sum(col) for col in zip(*(d["cells"] for d in ds))]
    order = sorted(range(len(union)), key=lambda c: -union[c])
    fig, axes = _panels(len(ds), "Share of records per k-means cell of the union")
    for ax, d in zip(axes, ds):
        total = sum(d["cells"]) or 1
        ax.bar(range(len(order)), [d["cells"][c] / total for c in order], width=1.0)
        ax.set_title(f"{d['label']}\ncoverage {d['diversity']['cluster_coverage']:.2f}", fontsize=9)
        ax.set_xlabel("cell (by union size)", fontsize=8)
        ax.grid(alpha=0.3, axis="y")
    for ax in axes[::4]:
        ax.set_ylabel("share of records", fontsize=8)
    return _save(fig, out)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def write_plots(result: dict[str, Any], folder: Path) -> list[tuple[str, str]]:
    """(title, png file name) of every plot, written into ``folder``."""
    ds = result["datasets"]
    labels = [d["label"] for d in ds]
    plots = []
    if any(d["quality"] for d in ds):
        plots.append(("Quality", plot_histograms(labels, [d["quality"] for d in ds], "Quality", "quality",
                                                 folder / "quality.png")))
    plots.append(("Diversity", plot_diversity(result, folder / "diversity.png")))
    plots.append(("Coverage", plot_cells(result, folder / "cells.png")))
    names = list(dict.fromkeys(n for d in ds for n in d["complexity"]))
    for name in names:
        title = COMPLEXITY_NAMES.get(name, name)
        stats = [d["complexity"].get(name) for d in ds]
        plots.append((f"Complexity: {title}", plot_histograms(labels, stats, f"Complexity: {title}", title,
                                                              folder / f"complexity_{_slug(name)}.png")))
    return plots


def _html_table(result: dict[str, Any]) -> str:
    head = "<tr><th class='l'></th><th class='l'>measure</th>" + "".join(
        f"<th>{html.escape(d['label'])}</th>" for d in result["datasets"]) + "</tr>"
    body = "".join(
        f"<tr><td class='l'>{html.escape(sec)}</td><td class='l'>{html.escape(name)}</td>"
        + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
        for sec, name, cells in table_rows(result))
    return f"<table>{head}{body}</table>"


def render_html(result: dict[str, Any], plots: list[tuple[str, str]]) -> str:
    sources = "".join(f"<li>{html.escape(d['label'])}: {html.escape(d['source'])}</li>" for d in result["datasets"])
    figures = "".join(f"<h2>{html.escape(title)}</h2><img src='{html.escape(name)}' alt='{html.escape(title)}'>"
                      for title, name in plots)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>qdc measure</title><style>{CSS}</style>"
            f"</head><body><h1>QDC makeup</h1><ul>{sources}</ul>{_html_table(result)}"
            f"<p class='caption'>{html.escape(caption(result))}.</p>{figures}"
            "<p class='caption'>Every number is in measure.json beside this page.</p></body></html>")
