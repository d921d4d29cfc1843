"""JSONL in and out: line-numbered errors on the way in, atomic files on the way out."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterable

from system.errors import InputFileError
from system.store import atomic_write_files


def read_jsonl_numbered(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line; the first line that is not a JSON object raises."""
    p = Path(path)
    if not p.is_file():
        raise InputFileError(f"{p}: file not found")
    records: list[tuple[int, dict[str, Any]]] = []
    with p.open(encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputFileError(f"{p}:{lineno}: not a JSON line ({e.msg})") from None
            except RecursionError:
                raise InputFileError(f"{p}:{lineno}: JSON nested too deeply to read") from None
            if not isinstance(obj, dict):
                raise InputFileError(f"{p}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            records.append((lineno, obj))
    return records


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    return [record for _, record in read_jsonl_numbered(path)]


def dumps_jsonl(records: Iterable[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


def write_jsonl(records: Iterable[dict[str, Any]], out: str | Path | None) -> None:
    """Write to ``out`` atomically (all or nothing), or to stdout when ``out`` is None."""
    text = dumps_jsonl(records)
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        atomic_write_files({Path(out): text.encode("utf-8")})
