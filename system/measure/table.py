"""The comparison as one table: a row per measure, a column per dataset (printed with rich, reused by
the html report)."""

from __future__ import annotations

from typing import Any

Row = tuple[str, str, list[str]]  # section, measure, one cell per dataset

DIVERSITY_ROWS = (
    ("vendi", "Vendi score", "{:.2f}"),
    ("mean_cosine_distance", "mean pairwise cosine distance", "{:.3f}"),
    ("distinct_1", "distinct 1-grams", "{:.3f}"),
    ("distinct_2", "distinct 2-grams", "{:.3f}"),
    ("distinct_3", "distinct 3-grams", "{:.3f}"),
    ("cluster_coverage", "coverage of union cells", "{:.3f}"),
    ("near_duplicate_rate", "near-duplicate rate", "{:.3f}"),
)
COMPLEXITY_NAMES = {"chars": "characters", "tokens": "tokens", "trace_steps": "trace steps",
                    "list_length": "input list length", "digits": "digits per number"}


def caption(result: dict[str, Any]) -> str:
    sizes = sorted({d["n_measured"] for d in result["datasets"]})
    if result["sample"] is not None:
        size = (f"each dataset measured on a seeded sample of {result['sample']} records "
                f"(--sample, --seed {result['seed']})")
    elif len(sizes) == 1:
        size = f"every dataset measured whole ({sizes[0]} records each)"
    else:
        size = (f"datasets measured whole, at different sizes ({', '.join(map(str, sizes))} records): Vendi, "
                "distinct n-grams and coverage grow with size; --sample N compares equal-size samples")
    clusters = result["clusters"]
    return (f"{size}; embedder {result['embedder']} on field {result['text_field']!r}; coverage of "
            f"{clusters['non_empty']} k-means cells of the union; near-duplicate: cosine distance <= "
            f"{result['near_duplicate_eps']:g}; tokens: {result['tokenizer']}; n-grams of {result['ngram_tokens']}")


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else spec.format(v)


def table_rows(result: dict[str, Any]) -> list[Row]:
    ds = result["datasets"]
    rows: list[Row] = [("", "records measured (of)", [f"{d['n_measured']} ({d['n_records']})" for d in ds])]

    def q(key: str, spec: str = "{:.3f}") -> list[str]:
        return [_fmt(d["quality"][key] if d["quality"] else None, spec) for d in ds]

    if any(d["quality"] for d in ds):
        rows.append(("quality", "source", [d["quality"]["source"] if d["quality"] else "none" for d in ds]))
        rows.append(("quality", "mean", q("mean")))
        rows.append(("quality", "quartiles 25 / 50 / 75", [
            " / ".join(f"{d['quality'][k]:.3f}" for k in ("q25", "median", "q75")) if d["quality"] else "-"
            for d in ds]))
    if any("verdicts" in d for d in ds):
        rows.append(("quality", "answer correct", [_fmt(d.get("verdicts", {}).get("answer_correct"), "{:.3f}")
                                                   for d in ds]))
        for kind in ("static", "dynamic", "malformed"):
            rows.append(("quality", f"verifier: {kind}" + (" noise" if kind != "malformed" else ""), [
                _fmt(d["verdicts"]["noise_kind"][kind] if "verdicts" in d else None, "{:.3f}") for d in ds]))
    for key, name, spec in DIVERSITY_ROWS:
        rows.append(("diversity", name, [spec.format(d["diversity"][key]) for d in ds]))
    names = list(dict.fromkeys(n for d in ds for n in d["complexity"]))
    for name in names:
        cells = []
        for d in ds:
            c = d["complexity"].get(name)
            cells.append("-" if c is None else f"{c['mean']:.1f} ({c['median']:.4g})")
        rows.append(("complexity", f"{COMPLEXITY_NAMES.get(name, name)}: mean (median)", cells))
    return rows


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="QDC makeup", caption=caption(result), show_lines=False)
    table.add_column("", style="dim")
    table.add_column("measure", no_wrap=True)
    for d in result["datasets"]:
        table.add_column(d["label"], justify="right")
    section = None
    for sec, name, cells in table_rows(result):
        table.add_row(sec if sec != section else "", name, *cells, end_section=False)
        section = sec
    console = Console()
    if not console.is_terminal:  # a pipe or file: wide enough for every column, not rich's default 80
        console = Console(width=max(100, 50 + 25 * len(result["datasets"])))
    console.print(table)
