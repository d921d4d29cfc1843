"""``qdc filter IN.jsonl --strategy S --budget N``: the QDC filter on anyone's JSONL.

Every check runs before anything is written. A record that cannot be scored is an error naming its
line (or, with ``--skip-bad``, dropped and counted in the summary): one bad record never changes how
the others are scored. The chosen records and the summary are written as one (temp files, then
renames), never over the input, and a failure leaves whatever was at OUT before.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from system.errors import InputFileError, QdcError, short
from system.jsonio import dumps_jsonl, read_jsonl_numbered, write_jsonl
from system.qdc.config import DEFAULT_COMPLEXITY, DEFAULT_QUALITY, FilterConfig
from system.qdc.filter import QDCFilter
from system.qdc.scoring.quality import FieldQuality
from system.qdc.strategies import STRATEGIES
from system.store import atomic_write_files, refuse_clobber

UNIFORM = "uniform (no --quality-field, and no record has the TInt fields 'task' and 'input')"


def summary_path(out: Path) -> Path:
    return out.with_name(out.name + ".summary.json")


def is_tint_data(records: list[dict[str, Any]]) -> bool:
    """The file is TInt data when any record carries the TInt fields (task and input); every record
    must then be a valid TInt record (`record_problem`, through the TInt family's row_problem)."""
    return any(r.get("task") is not None and r.get("input") is not None for r in records)


def finite_number(v: object) -> bool:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:  # an int beyond float range, e.g. 10**400
        return False


def record_problem(record: dict[str, Any], *, tint: bool, text_field: str, quality_field: str | None) -> str | None:
    """Why the filter cannot score ``record`` (None when it can)."""
    if not isinstance(record.get(text_field), str):
        got = "nothing" if record.get(text_field) is None else type(record[text_field]).__name__
        return f"needs text in field {text_field!r} (--text-field), has {got}"
    if quality_field is not None and not finite_number(record.get(quality_field)):
        return f"needs a finite number in field {quality_field!r} (--quality-field), has {short(record.get(quality_field))}"
    if tint:
        problem = _tint_family().row_problem(record, text_field)
        if problem is not None:
            return f"not a TInt record: {problem} (the file holds TInt records, so every record must be one)"
    return None


def _tint_family() -> Any:
    from system.tasks.tint_family import TintFamily

    return TintFamily.default()


def _unit(flag: str, value: float | None, hi: float) -> float | None:
    if value is not None and not (math.isfinite(value) and 0.0 <= value <= hi):
        raise QdcError(f"{flag} must be in [0, {hi:g}], got {value}")
    return value


def filter_command(path: Path, *, strategy: str, budget: int, text_field: str = "completion",
                   quality_field: str | None = None, seed: int = 0, out: Path | None = None,
                   alpha: float | None = None, threshold: float | None = None,
                   skip_bad: bool = False) -> dict[str, Any]:
    """Select ``budget`` records of ``path``; returns the summary (also written, see the module doc)."""
    if strategy not in STRATEGIES:
        raise QdcError(f"--strategy {strategy!r} is unknown; known: {', '.join(STRATEGIES.names())}")
    if budget < 1:
        raise QdcError(f"--budget must be at least 1, got {budget}")
    knobs = {k: v for k, v in (("qdit_alpha", _unit("--alpha", alpha, 1.0)),
                               ("deita_threshold", _unit("--threshold", threshold, 2.0))) if v is not None}
    if out is not None:
        refuse_clobber({"--out": out, "--out (its summary)": summary_path(out)}, [path])
    rows = read_jsonl_numbered(path)
    if not rows:
        raise InputFileError(f"{path}: no records (the file is empty)")
    tint = is_tint_data([r for _, r in rows])
    good: list[tuple[int, dict[str, Any]]] = []
    skipped: list[int] = []
    for lineno, record in rows:
        problem = record_problem(record, tint=tint, text_field=text_field, quality_field=quality_field)
        if problem is None:
            good.append((lineno, record))
        elif skip_bad:
            skipped.append(lineno)
        else:
            raise InputFileError(f"{path}:{lineno}: {problem}; --skip-bad drops such records")
    if not good:
        raise InputFileError(f"{path}: none of the {len(rows)} records can be scored")
    if budget > len(good):
        kept = f" ({len(skipped)} dropped by --skip-bad)" if skipped else ""
        raise QdcError(f"--budget {budget} is more than the {len(good)} records in {path}{kept}")
    labels = [f"{path}:{lineno}" for lineno, _ in good]
    records = [record for _, record in good]
    judged = records
    if tint:  # the TInt family judges every record once; the scorers read its verdict columns
        from system.tasks.verdicts import judge_candidates

        judged = judge_candidates(_tint_family(), records, text_field)
    if quality_field is not None:
        source = f"field {quality_field!r}"
    else:
        source = "TInt verifier" if tint else UNIFORM
    config = FilterConfig(
        strategy=strategy, budget=budget, text_field=text_field, quality_field=quality_field,
        quality_scorers=dict(DEFAULT_QUALITY) if tint else {"uniform": 1.0},
        complexity_scorers=dict(DEFAULT_COMPLEXITY) if tint else {"text_length": 1.0}, **knobs,
    )
    selection = QDCFilter(config).select(judged, budget, seed, labels=labels)
    summary = {"input": str(path), "text_field": text_field, "quality": source, "tint_records": tint,
               **({"quality_rescaling": FieldQuality.RESCALING} if quality_field is not None else {}),
               "skipped": {"count": len(skipped), "lines": skipped[:1000]},
               **selection.summary(), "config": config.model_dump(mode="json")}
    chosen = selection.chosen_records(records)
    if out is None:
        write_jsonl(chosen, None)
        sys.stderr.write(json.dumps(summary, indent=2) + "\n")
        return summary
    atomic_write_files({out: dumps_jsonl(chosen).encode("utf-8"),
                        summary_path(out): (json.dumps(summary, indent=2, ensure_ascii=False) + "\n").encode("utf-8")})
    return summary
