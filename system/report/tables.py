"""HTML tables of metrics.jsonl: the summary (first and last iteration side by side), the key columns
per iteration, and every metric (nested keys joined with ``/``) in a collapsed table, one row per
metric and one column per iteration so that it stays as wide as the number of iterations."""

from __future__ import annotations

import html
from typing import Any, Iterable, Mapping, Sequence

from system.report.loop_plots import STAGES, accuracy_by_level, level_name

Row = dict[str, Any]


def cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, Mapping):
        return html.escape(", ".join(f"{k}: {cell(v)}" for k, v in value.items()))
    return html.escape("" if value is None else str(value))


def table(head: Sequence[str], body: Iterable[Sequence[str]], cls: str = "", titles: Sequence[str] = ()) -> str:
    """``head`` and ``body`` cells are HTML already (escaped by the caller)."""
    titles = list(titles) or [""] * len(head)
    ths = "".join(f"<th title='{html.escape(t)}'>{h}</th>" if t else f"<th>{h}</th>" for h, t in zip(head, titles))
    rows = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in body)
    return f"<table class='{cls}'><thead><tr>{ths}</tr></thead><tbody>{rows}</tbody></table>"


def flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{prefix}{key}/"))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _kept(row: Row) -> str:
    if not row.get("n_generated"):
        return ""
    return f"{row.get('n_selected', 0)} / {row['n_generated']}"


KEY_COLUMNS: tuple[tuple[str, str, Any], ...] = (
    ("iteration", "iteration", lambda r: cell(r.get("iteration"))),
    ("ID acc.", "id_accuracy", lambda r: cell(r.get("id_accuracy"))),
    ("OOD acc.", "ood_accuracy", lambda r: cell(r.get("ood_accuracy"))),
    ("pass@k", "pass_at_k", lambda r: cell(r.get("pass_at_k"))),
    ("kept / generated", "n_selected / n_generated", lambda r: html.escape(_kept(r))),
    ("frontier", "frontier_length (the lowest curriculum frontier)", lambda r: cell(r.get("frontier_length"))),
    ("output Vendi", "output_diversity (Vendi score of the model's samples)", lambda r: cell(r.get("output_diversity"))),
    ("wall s", "wall_s", lambda r: cell(r.get("wall_s"))),
)


def metrics_tables(rows: Sequence[Row]) -> str:
    """The key columns per iteration, then every metric in a <details>."""
    key = table([h for h, _, _ in KEY_COLUMNS], ([fn(r) for _, _, fn in KEY_COLUMNS] for r in rows), "metrics",
                [t for _, t, _ in KEY_COLUMNS])
    flat = [flatten(r) for r in rows]
    names = [k for k in dict.fromkeys(k for f in flat for k in f if k != "iteration")
             if any(f.get(k) is not None for f in flat)]
    full = table(["metric", *(f"iteration {r.get('iteration')}" for r in rows)],
                 ([f"<code>{html.escape(n)}</code>", *(cell(f.get(n)) for f in flat)] for n in names), "metrics all")
    return (f"{key}<details><summary>All {len(names)} metrics of each iteration (metrics.jsonl, nested keys "
            f"joined with /)</summary><div class='scroll'>{full}</div></details>")


def _change(first: Any, last: Any, signed: bool = True) -> str:
    if isinstance(first, (int, float)) and isinstance(last, (int, float)) and signed:
        return f"{last - first:+.3f}"
    return ""


def summary_table(rows: Sequence[Row]) -> str:
    """First and last iteration side by side: accuracy (overall, per level), what was kept, diversity, time."""
    first, last = rows[0], rows[-1]
    level_key, levels = accuracy_by_level(rows)
    name = level_name(rows)
    lines: list[tuple[str, Any, Any]] = [("ID accuracy", first.get("id_accuracy"), last.get("id_accuracy")),
                                        ("OOD accuracy", first.get("ood_accuracy"), last.get("ood_accuracy"))]
    lines += [(f"accuracy at {name} {lv}", (first.get(level_key) or {}).get(lv), (last.get(level_key) or {}).get(lv))
              for lv in levels]
    lines.append(("output diversity (Vendi)", first.get("output_diversity"), last.get("output_diversity")))
    looped = [r for r in rows if r.get("n_generated")]
    body = [[html.escape(label), cell(a), cell(b), _change(a, b)] for label, a, b in lines]
    if looped:
        body.append(["pass@k (first and last loop iteration)", cell(looped[0].get("pass_at_k")),
                     cell(looped[-1].get("pass_at_k")), _change(looped[0].get("pass_at_k"), looped[-1].get("pass_at_k"))])
        body.append(["kept / generated", html.escape(_kept(looped[0])), html.escape(_kept(looped[-1])), ""])
    head = ["", f"iteration {first.get('iteration')}", f"iteration {last.get('iteration')}", "change"]
    wall = sum(float(r.get("wall_s") or 0.0) for r in rows)
    stages = {s.removesuffix("_s"): sum(float(r.get(s) or 0.0) for r in rows) for s in STAGES}
    spent = ", ".join(f"{k} {v:.0f} s" for k, v in stages.items() if v >= 0.5)
    return (table(head, body, "summary") +
            f"<p>{_recorded(rows)}; wall time {wall:.0f} s ({html.escape(spent)}).</p>")


def _recorded(rows: list[dict[str, Any]]) -> str:
    """What metrics.jsonl holds: the seed model's row (iteration 0) and the loop's iterations."""
    loop = sum(1 for r in rows if r.get("iteration", 0) > 0)
    seed = any(r.get("iteration") == 0 for r in rows)
    return ("seed model and " if seed else "") + f"{loop} self-improvement iteration{'s' if loop != 1 else ''} recorded"
