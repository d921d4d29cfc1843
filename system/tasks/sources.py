"""Reading a task's rows: a JSONL / JSON / CSV / parquet file, a glob of them, a folder, or a Hugging
Face `datasets` id; and refusing rows the `dataset` family cannot use, naming the file and line.

- A file, or a glob of files (read in sorted order), is read here, each row keeping where it came
  from: ``file:line`` for JSONL (every line is checked on its own, so a broken line is named),
  ``file:row N`` for JSON, CSV and parquet (N counts data rows from 1). CSV values are text.
- A folder or a hub id goes through ``datasets.load_dataset(path, hf_config, split=...)``, which
  resolves a folder as it would a hub repository (split names from file names such as
  ``train-00000-of-00001.parquet``, configs from its README); rows are ``path[split]:row N``. When
  ``hf_split`` is not set and the default split is missing, a dataset with a single split uses it.
  A folder whose files datasets cannot read has its JSONL files checked line by line for the message.

Every problem is a one-line `TaskDataError` naming the file (and line or row).
"""

from __future__ import annotations

import csv
import glob
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from system.errors import InputFileError
from system.jsonio import read_jsonl_numbered
from system.tasks.base import TaskDataError
from system.tasks.config import ColumnsConfig, SourceConfig

FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".parquet": "parquet"}


@dataclass(frozen=True)
class Row:
    """One row of a source, with where it came from (for messages)."""

    values: Mapping[str, Any]
    where: str

    def __getitem__(self, column: str) -> Any:
        return self.values[column]

    def get(self, column: str, default: Any = None) -> Any:
        return self.values.get(column, default)


def _shorten(text: str, limit: int = 160) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


# ------------------------------------------------------------------------------------------------
# files


def _read_jsonl(path: Path) -> list[Row]:
    try:
        numbered = read_jsonl_numbered(path)
    except InputFileError as e:
        raise TaskDataError(str(e)) from None
    return [Row(obj, f"{path}:{lineno}") for lineno, obj in numbered]


def _read_json(path: Path) -> list[Row]:
    """A JSON array of objects, an object holding one such array (``{"data": [...]}``), or JSON lines."""
    text = _read_text(path)
    if not text.strip():
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data":  # more than one JSON value: JSON lines under a .json name
            return _read_jsonl(path)
        raise TaskDataError(f"{path}:{e.lineno}: not JSON ({e.msg})") from None
    if isinstance(data, dict):
        arrays = [v for v in data.values() if isinstance(v, list)]
        if len(arrays) != 1:
            raise TaskDataError(f"{path}: expected a JSON array of objects (or an object holding one array), "
                                f"got an object with keys {', '.join(map(str, data))[:120]}")
        data = arrays[0]
    if not isinstance(data, list):
        raise TaskDataError(f"{path}: expected a JSON array of objects, got {type(data).__name__}")
    rows = []
    for n, obj in enumerate(data, start=1):
        if not isinstance(obj, dict):
            raise TaskDataError(f"{path}:row {n}: expected a JSON object, got {type(obj).__name__}")
        rows.append(Row(obj, f"{path}:row {n}"))
    return rows


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise TaskDataError(f"{path}: not UTF-8 text (byte {e.start})") from None


def _read_csv(path: Path) -> list[Row]:
    rows = []
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        try:
            header = next(reader, None)
            if header is None:
                return []
            if len(set(header)) != len(header) or any(not h.strip() for h in header):
                raise TaskDataError(f"{path}:line 1: the header needs distinct, non-empty column names")
            for n, record in enumerate(reader, start=1):
                if not record:
                    continue
                if len(record) != len(header):
                    raise TaskDataError(f"{path}:row {n} (line {reader.line_num}): {len(record)} fields, "
                                        f"the header has {len(header)}")
                rows.append(Row(dict(zip(header, record)), f"{path}:row {n}"))
        except csv.Error as e:
            raise TaskDataError(f"{path}:line {reader.line_num}: not CSV ({e})") from None
        except UnicodeDecodeError as e:
            raise TaskDataError(f"{path}: not UTF-8 text (byte {e.start})") from None
    return rows


def _read_parquet(path: Path) -> list[Row]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        raise TaskDataError(f"{path}: not a readable parquet file ({_shorten(str(e))})") from None
    return [Row(obj, f"{path}:row {n}") for n, obj in enumerate(table.to_pylist(), start=1)]


_READERS = {"jsonl": _read_jsonl, "json": _read_json, "csv": _read_csv, "parquet": _read_parquet}


def read_file(path: str | Path) -> list[Row]:
    """The rows of one data file (its format from its suffix); an empty file is refused."""
    p = Path(path)
    kind = FORMATS.get(p.suffix.lower())
    if kind is None:
        raise TaskDataError(f"{p}: unknown data file type {p.suffix or '(none)'}; "
                            f"use one of {', '.join(FORMATS)}")
    rows = _READERS[kind](p)
    if not rows:
        raise TaskDataError(f"{p}: no rows (empty file)")
    return rows


# ------------------------------------------------------------------------------------------------
# datasets (folders and hub ids)


def _data_files(folder: Path) -> Iterator[Path]:
    for p in sorted(folder.rglob("*")):
        parts = p.relative_to(folder).parts
        if p.is_file() and p.suffix.lower() in FORMATS and not any(part.startswith(".") for part in parts):
            yield p


def _explain_folder(folder: Path) -> None:
    """Name the first broken JSONL line or empty file in a folder datasets could not read."""
    for p in _data_files(folder):
        if FORMATS[p.suffix.lower()] in ("jsonl", "json"):
            read_file(p)


def _load_with_datasets(source: SourceConfig, split: str, explicit: bool) -> list[Row]:
    import datasets

    path, config = source.path, source.hf_config
    label = f"{path}[{config}/" if config else f"{path}["
    try:
        try:
            ds = datasets.load_dataset(path, config, split=split)
        except ValueError as e:
            if explicit or not str(e).startswith("Unknown split"):
                raise
            splits = datasets.load_dataset(path, config)
            if len(splits) != 1:
                raise TaskDataError(f"{path}: no split {split!r}; it has {', '.join(splits)} (set hf_split)") from None
            split, ds = next(iter(splits.items()))
    except TaskDataError:
        raise
    except Exception as e:
        folder = Path(path).expanduser()
        if folder.is_dir():
            _explain_folder(folder)
        raise TaskDataError(f"{path}: datasets cannot load it: {type(e).__name__}: {_shorten(str(e))}") from None
    where = f"{label}{split}]"
    rows = [Row(obj, f"{where}:row {n}") for n, obj in enumerate(ds, start=1)]
    if not rows:
        raise TaskDataError(f"{where}: no rows")
    return rows


# ------------------------------------------------------------------------------------------------
# sources


def _looks_local(path: str) -> bool:
    return (path.startswith((".", "/", "~", "\\")) or Path(path).suffix.lower() in FORMATS
            or path.count("/") > 1 or ":" in path)


def load_rows(source: SourceConfig, *, default_split: str) -> list[Row]:
    """Every row of a source (see the module docstring for what a path may be). ``default_split`` is
    the datasets split read when ``source.hf_split`` is not set (train for task.train, test for task.eval)."""
    path = Path(source.path).expanduser()
    hub_options = source.hf_config is not None or source.hf_split is not None
    if path.is_dir():
        return _load_with_datasets(SourceConfig(path=str(path), hf_config=source.hf_config,
                                                hf_split=source.hf_split),
                                   source.hf_split or default_split, explicit=source.hf_split is not None)
    if path.is_file() or glob.has_magic(source.path):
        if hub_options:
            raise TaskDataError(f"{source.path}: hf_config and hf_split apply to a datasets id or a folder, "
                                "not to files")
        if path.is_file():
            return read_file(path)
        files = [Path(p) for p in sorted(glob.glob(str(path), recursive=True))
                 if Path(p).is_file() and Path(p).suffix.lower() in FORMATS]
        if not files:
            raise TaskDataError(f"{source.path}: no {'/'.join(FORMATS)} file matches")
        return [row for p in files for row in read_file(p)]
    if _looks_local(source.path):
        raise TaskDataError(f"{source.path}: file not found")
    return _load_with_datasets(source, source.hf_split or default_split, explicit=source.hf_split is not None)


# ------------------------------------------------------------------------------------------------
# columns


def as_level(value: Any) -> int | None:
    """A difficulty value as an integer level (3, 3.0, "3"), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
        return int(value.strip())
    return None


def _is_messages(value: Any) -> bool:
    return (isinstance(value, list) and len(value) > 0 and all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in value))


def check_columns(rows: Sequence[Row], columns: ColumnsConfig, where: str) -> None:
    """Refuse a source the columns cannot be read from: no rows (named by ``where``, e.g.
    ``task.eval.id``), a row without a named column, a prompt that is not non-empty text (or messages
    that are not a list of {role, content}), a null answer, a solution that is not text or null, a
    difficulty that is not an integer (see `as_level`), a null task. Names the row's file and line."""
    if not rows:
        raise TaskDataError(f"{where}: no rows")
    named = {"prompt": columns.prompt, "messages": columns.messages, "answer": columns.answer,
             "solution": columns.solution, "difficulty": columns.difficulty, "task": columns.task}
    wanted = {key: name for key, name in named.items() if name is not None}
    for row in rows:
        for key, name in wanted.items():
            if name not in row.values:
                have = ", ".join(map(str, row.values)) or "none"
                raise TaskDataError(f"{row.where}: no column {name!r} (task.columns.{key}); the row has: {have}")
            value = row.values[name]
            problem = _problem(key, value)
            if problem:
                raise TaskDataError(f"{row.where}: column {name!r} (task.columns.{key}) {problem}")


def _problem(key: str, value: Any) -> str | None:
    shown = _shorten(repr(value), 60)
    if key == "prompt" and not (isinstance(value, str) and value.strip()):
        return "is empty" if isinstance(value, str) or value is None else f"is {shown}, not text"
    if key == "messages" and not _is_messages(value):
        return f"is {shown}, not a list of {{role, content}} messages"
    if key in ("answer", "task") and value is None:
        return "is null"
    if key == "solution" and not (value is None or isinstance(value, str)):
        return f"is {shown}, not text"
    if key == "difficulty" and as_level(value) is None:
        return f"is {shown}, not an integer level"
    return None
