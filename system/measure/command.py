"""``qdc measure A.jsonl [B.jsonl | RUN_DIR ...]``: the QDC makeup of datasets, side by side.

Every check and every number comes before anything is written. Then the PNGs, measure.json and
measure.html (last) are built in a temporary folder beside ``--out`` and moved into place at once,
so a failed or killed run leaves no partial output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from system.errors import QdcError
from system.measure.makeup import EMBEDDER_NAMES, measure
from system.measure.report import render_html, write_plots
from system.measure.sources import equal_size_samples, load_datasets
from system.measure.table import print_table
from system.store import atomic_write_dir

OUTPUT_MARK = "measure.json"


def check_out(out: Path, inputs: Sequence[Path]) -> None:
    """Refuse an --out that is, or holds, one of the inputs, or a folder that is not an earlier measure output."""
    target = out.resolve()
    for p in inputs:
        src = p.resolve()
        if target == src or target in src.parents:
            raise QdcError(f"--out {out}: would overwrite the input {p}; choose another folder")
    if out.exists() and not out.is_dir():
        raise QdcError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / OUTPUT_MARK).is_file():
        raise QdcError(f"--out {out}: a folder with other files in it (not an earlier qdc measure output); "
                       "choose a new or empty folder")


def measure_command(inputs: Sequence[Path], *, names: Sequence[str] = (), text_field: str = "completion",
                    quality_field: str | None = None, embedder: str = "hashed", sample: int | None = None,
                    seed: int = 0, iterations: str | None = None, clusters: int = 50,
                    out: Path | None = None) -> dict[str, Any]:
    if embedder not in EMBEDDER_NAMES:
        raise QdcError(f"--embedder {embedder!r} is not one of {', '.join(EMBEDDER_NAMES)}")
    if clusters < 1:
        raise QdcError(f"--clusters must be at least 1, got {clusters}")
    if out is not None:
        check_out(out, inputs)
    datasets = load_datasets(inputs, names, iterations)
    equal_size_samples(datasets, sample, seed)
    result = measure(datasets, text_field=text_field, quality_field=quality_field, embedder=embedder,
                     clusters=clusters, seed=seed, sample=sample)
    print_table(result)
    if out is not None:
        def fill(folder: Path) -> None:
            plots = write_plots(result, folder)
            (folder / OUTPUT_MARK).write_text(json.dumps(result, indent=2) + "\n")
            (folder / "measure.html").write_text(render_html(result, plots))

        atomic_write_dir(out, fill)
        print(f"wrote {out / 'measure.html'} and {out / OUTPUT_MARK}")
    return result
