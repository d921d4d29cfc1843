"""Judging candidates once: the family's verdict of every candidate, as columns of the candidate.

The filter stage calls `judge_candidates`; everything downstream (the QDC scorers, pass@k, kept
fractions, the report) reads the stored columns and never runs a verifier again.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from system.tasks.base import TaskFamily, Verdict

Row = dict[str, Any]


def judge_rows(family: TaskFamily, rows: Sequence[Mapping[str, Any]], text_field: str = "completion") -> list[Verdict]:
    prompts = [family.prompt_of(r) for r in rows]
    return family.verify(prompts, [r[text_field] for r in rows])


def judge_candidates(family: TaskFamily, rows: Sequence[Mapping[str, Any]], text_field: str = "completion"
                     ) -> list[Row]:
    """``rows`` with the family's verdict columns added (see `Verdict.columns`)."""
    return [{**r, **v.columns()} for r, v in zip(rows, judge_rows(family, rows, text_field))]


def verify_errors(rows: Sequence[Mapping[str, Any]]) -> list[Row]:
    """The candidates whose verifier raised (their ``verify_error``), in order."""
    return [r for r in rows if r.get("verify_error")]
