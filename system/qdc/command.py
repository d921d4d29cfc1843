"""``qdc filter IN.jsonl --strategy S --budget N``: the QDC filter on anyone's JSONL.

Every check runs before anything is written; the chosen records and the summary are each written
atomically, the summary last (a failure there removes the records file again), so a failed run
leaves no partial output behind.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from system.errors import InputFileError, QdcError
from system.jsonio import read_jsonl_numbered, write_jsonl
from system.qdc.batch import CandidateBatch
from system.qdc.config import DEFAULT_COMPLEXITY, DEFAULT_QUALITY, FilterConfig
from system.qdc.filter import QDCFilter
from system.qdc.strategies import STRATEGIES
from system.store import atomic_write_json


def _tint_judged(records: list[dict[str, Any]], labels: list[str], text_field: str) -> bool:
    """TInt data when any record carries TInt fields (task and input); then every record must be a
    valid TInt candidate (the first that is not is named with its line)."""
    if not any("task" in r and "input" in r for r in records):
        return False
    from system.tasks.tint_family import TintFamily

    family = TintFamily.default()
    for where, record in zip(labels, records):
        problem = family.row_problem(record, text_field)
        if problem is not None:
            raise InputFileError(f"{where}: not a TInt record: {problem}")
    return True


def summary_path(out: Path) -> Path:
    return out.with_name(out.name + ".summary.json")


def filter_command(path: Path, *, strategy: str, budget: int, text_field: str = "completion",
                   quality_field: str | None = None, seed: int = 0, out: Path | None = None) -> dict[str, Any]:
    """Select ``budget`` records of ``path``; returns the summary (also written, see the module doc)."""
    if strategy not in STRATEGIES:
        raise QdcError(f"--strategy {strategy!r} is unknown; known: {', '.join(STRATEGIES.names())}")
    if budget < 1:
        raise QdcError(f"--budget must be at least 1, got {budget}")
    rows = read_jsonl_numbered(path)
    if not rows:
        raise InputFileError(f"{path}: no records (the file is empty)")
    if budget > len(rows):
        raise QdcError(f"--budget {budget} is more than the {len(rows)} records in {path}")
    labels = [f"{path}:{lineno}" for lineno, _ in rows]
    records = [record for _, record in rows]
    batch = CandidateBatch(records, text_field=text_field, labels=labels)
    batch.texts(f"--text-field {text_field!r}")
    tint = _tint_judged(records, labels, text_field)
    judged = records
    if tint:  # the TInt family judges every record once; the scorers read its verdict columns
        from system.tasks.tint_family import TintFamily
        from system.tasks.verdicts import judge_candidates

        judged = judge_candidates(TintFamily.default(), records, text_field)
    if quality_field is not None:
        batch.numbers(quality_field, f"--quality-field {quality_field!r}")
        source = f"field {quality_field!r}"
    else:
        source = "TInt verifier" if tint else "uniform (no --quality-field, not TInt records)"
    config = FilterConfig(
        strategy=strategy, budget=budget, text_field=text_field, quality_field=quality_field,
        quality_scorers=dict(DEFAULT_QUALITY) if tint else {"uniform": 1.0},
        complexity_scorers=dict(DEFAULT_COMPLEXITY) if tint else {"text_length": 1.0},
    )
    selection = QDCFilter(config).select(judged, budget, seed, labels=labels)
    summary = {"input": str(path), "text_field": text_field, "quality": source, "tint_records": tint,
               **selection.summary(), "config": config.model_dump(mode="json")}
    chosen = selection.chosen_records(records)
    if out is None:
        write_jsonl(chosen, None)
        sys.stderr.write(json.dumps(summary, indent=2) + "\n")
        return summary
    write_jsonl(chosen, out)
    try:
        atomic_write_json(summary_path(out), summary)
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return summary
