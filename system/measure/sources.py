"""What ``qdc measure`` reads: JSONL or parquet files, and run directories (candidates and selection of
chosen iterations), each turned into a labelled dataset whose every record can be named in an error
(``data.jsonl:7``, ``runs/x/iter_001/samples.parquet row 12``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from system.errors import InputFileError, QdcError
from system.jsonio import read_jsonl_numbered

Record = dict[str, Any]
SAMPLES = "samples.parquet"
_ITER_DIR = re.compile(r"^iter_(\d{3,})$")


@dataclass
class Dataset:
    """One column of the comparison: records, where each came from, and how many there were before sampling."""

    label: str
    source: str  # the input as given (file, or run directory)
    records: list[Record]
    where: list[str]  # per record: file:line or file row N
    n_records: int = 0  # before --sample
    iteration: int | None = None
    part: str | None = None  # "candidates" | "selection" for run directories

    def __post_init__(self) -> None:
        if not self.n_records:
            self.n_records = len(self.records)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "source": self.source, "n_records": self.n_records,
                               "n_measured": len(self.records)}
        if self.iteration is not None:
            out.update(iteration=self.iteration, part=self.part)
        return out


# ------------------------------------------------------------------------------------------------
# flags


def parse_names(pairs: Sequence[str], inputs: Sequence[Path]) -> dict[int, str]:
    """``--name A=label`` (A an input as written) -> {input index: label}."""
    out: dict[int, str] = {}
    for pair in pairs:
        key, sep, label = pair.partition("=")
        if not sep or not key or not label.strip():
            raise QdcError(f"--name {pair!r}: expected INPUT=label")
        hits = [i for i, p in enumerate(inputs) if key == str(p) or Path(key) == p]
        if not hits:
            raise QdcError(f"--name {pair!r}: {key!r} is not one of the inputs ({', '.join(map(str, inputs))})")
        for i in hits:
            out[i] = label.strip()
    return out


def parse_iterations(text: str | None) -> list[int] | None:
    """``--iterations 1,5`` -> [1, 5]."""
    if text is None:
        return None
    try:
        its = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise QdcError(f"--iterations {text!r}: expected iteration numbers separated by commas, e.g. 1,5") from None
    if not its or any(i < 0 for i in its):
        raise QdcError(f"--iterations {text!r}: expected iteration numbers >= 0, e.g. 1,5")
    return list(dict.fromkeys(its))


# ------------------------------------------------------------------------------------------------
# reading


def read_parquet_rows(path: Path) -> list[Record]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except (OSError, pa.ArrowException) as e:
        raise InputFileError(f"{path}: not a readable parquet file ({str(e).splitlines()[0]})") from None


def _file_dataset(path: Path, label: str) -> Dataset:
    if path.suffix == ".parquet":
        if not path.is_file():
            raise InputFileError(f"{path}: file not found")
        rows = read_parquet_rows(path)
        where = [f"{path} row {i + 1}" for i in range(len(rows))]
    else:
        numbered = read_jsonl_numbered(path)
        rows = [r for _, r in numbered]
        where = [f"{path}:{lineno}" for lineno, _ in numbered]
    if not rows:
        raise InputFileError(f"{path}: no records (the file is empty)")
    return Dataset(label, str(path), rows, where)


def run_iterations(run: Path) -> list[int]:
    """Iterations of a run directory that have a samples.parquet, ascending."""
    found = []
    for d in run.iterdir():
        m = _ITER_DIR.match(d.name)
        if m and (d / SAMPLES).is_file():
            found.append(int(m.group(1)))
    return sorted(found)


def _run_datasets(run: Path, label: str, iterations: list[int] | None) -> list[Dataset]:
    present = run_iterations(run)
    if not present:
        raise InputFileError(f"{run}: a folder but not a run directory (no iter_XXX/{SAMPLES})")
    wanted = present if iterations is None else iterations
    out = []
    for it in wanted:
        path = run / f"iter_{it:03d}" / SAMPLES
        if it not in present:
            raise InputFileError(f"{path}: not found (iterations with samples: {', '.join(map(str, present))})")
        rows = read_parquet_rows(path)
        for i, r in enumerate(rows):
            if not isinstance(r.get("selected"), bool):
                raise InputFileError(f"{path} row {i + 1}: no boolean 'selected' column (not a loop's samples file)")
        where = [f"{path} row {i + 1}" for i in range(len(rows))]
        chosen = [i for i, r in enumerate(rows) if r["selected"]]
        if not rows:
            raise InputFileError(f"{path}: no candidates")
        if not chosen:
            raise InputFileError(f"{path}: no candidate was selected in iteration {it}; leave it out of --iterations")
        out.append(Dataset(f"{label} iter {it} candidates", str(run), rows, where, iteration=it, part="candidates"))
        out.append(Dataset(f"{label} iter {it} selection", str(run), [rows[i] for i in chosen],
                           [where[i] for i in chosen], iteration=it, part="selection"))
    return out


def _default_labels(inputs: Sequence[Path]) -> list[str]:
    stems = [p.name if p.is_dir() else p.stem for p in inputs]
    return [s if stems.count(s) == 1 else str(p) for s, p in zip(stems, inputs)]


def load_datasets(inputs: Sequence[Path], names: Sequence[str] = (), iterations: str | None = None) -> list[Dataset]:
    """Every input as one dataset (a file) or two per iteration (a run directory: candidates, selection)."""
    its = parse_iterations(iterations)
    labels = _default_labels(inputs)
    for i, label in parse_names(names, inputs).items():
        labels[i] = label
    if its is not None and not any(p.is_dir() for p in inputs):
        raise QdcError("--iterations applies to run directories, and no input is one")
    out: list[Dataset] = []
    for path, label in zip(inputs, labels):
        out += _run_datasets(path, label, its) if path.is_dir() else [_file_dataset(path, label)]
    seen: set[str] = set()
    for d in out:
        if d.label in seen:
            raise QdcError(f"two datasets are labelled {d.label!r}; give them distinct labels with --name INPUT=label")
        seen.add(d.label)
    return out


# ------------------------------------------------------------------------------------------------
# fields and sampling


def texts_of(d: Dataset, field_name: str) -> list[str]:
    out = []
    for r, where in zip(d.records, d.where):
        v = r.get(field_name)
        if not isinstance(v, str):
            what = "none" if v is None else type(v).__name__
            raise InputFileError(f"{where}: --text-field {field_name!r} needs text on every record; "
                                 f"this one has {what}")
        out.append(v)
    return out


def numbers_of(d: Dataset, field_name: str) -> np.ndarray:
    out = []
    for r, where in zip(d.records, d.where):
        v = r.get(field_name)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InputFileError(f"{where}: --quality-field {field_name!r} needs a finite number; this one has {v!r}")
        out.append(float(v))
    return np.array(out, dtype=np.float64)


def equal_size_samples(datasets: list[Dataset], n: int | None, seed: int) -> None:
    """Replace every dataset's records by a seeded sample of ``n`` (in file order); every dataset must have n."""
    if n is None:
        return
    if n < 1:
        raise QdcError(f"--sample must be at least 1, got {n}")
    small = min(datasets, key=lambda d: len(d.records))
    if len(small.records) < n:
        raise QdcError(f"--sample {n} is more than the {len(small.records)} records of {small.label!r}; "
                       f"datasets are compared on equal-size samples, so use --sample {len(small.records)} or less")
    for i, d in enumerate(datasets):
        idx = np.sort(np.random.default_rng([seed, i]).choice(len(d.records), size=n, replace=False))
        d.records = [d.records[j] for j in idx]
        d.where = [d.where[j] for j in idx]
