"""``qdc measure``: the quality, diversity and complexity makeup of datasets or run iterations, side by side.

    sources.py   inputs (JSONL, parquet, run directories) -> labelled datasets; equal-size samples
    family.py    the task family's own quality and complexity signals (TInt today)
    makeup.py    the measures themselves -> one JSON-able result
    table.py     the result as one table (rich on the terminal, reused in the html)
    report.py    measure.html and its side-by-side PNGs
    command.py   the command: check everything, measure, print, then write atomically
"""
