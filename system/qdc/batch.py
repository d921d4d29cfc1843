"""Candidate records as scorers see them: fields checked once, with messages that name the record.

Verdicts are not computed here: the task family judges every candidate once, in the filter stage
(`system.tasks.verdicts`), and stores its verdict as columns of the record (``answer_correct``,
``verdict_quality``, the family's signals and complexity measures). Scorers only read columns.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from system.errors import QdcError


class ScorerInputError(QdcError):
    """A record lacks what a scorer or embedder needs; the message names the field and the record."""


class CandidateBatch:
    """A list of candidate records (plain dicts) with the checks several scorers share.

    ``labels`` name records in error messages (e.g. ``data.jsonl:7``); default ``record <i>``.
    """

    def __init__(self, records: Sequence[dict[str, Any]], *, text_field: str = "completion",
                 labels: Sequence[str] | None = None):
        if labels is not None and len(labels) != len(records):
            raise ValueError("labels must name every record")
        self.records = records
        self.text_field = text_field
        self.labels = labels

    def __len__(self) -> int:
        return len(self.records)

    def where(self, i: int) -> str:
        return self.labels[i] if self.labels is not None else f"record {i}"

    def values(self, field: str, user: str) -> list[Any]:
        """The field of every record; the first record without it raises naming ``user`` (who needs it)."""
        out = []
        for i, record in enumerate(self.records):
            if field not in record or record[field] is None:
                raise ScorerInputError(f"{user} needs field {field!r} on every record; {self.where(i)} has none")
            out.append(record[field])
        return out

    def numbers(self, field: str, user: str) -> list[float]:
        out = []
        for i, v in enumerate(self.values(field, user)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ScorerInputError(f"{user} needs a finite number in field {field!r}; {self.where(i)} has {v!r}")
            out.append(float(v))
        return out

    def verdict_column(self, column: str, user: str) -> list[float]:
        """A column the task family's verdicts wrote (bools as 0/1); missing -> an error saying where
        verdicts come from."""
        out = []
        for i, record in enumerate(self.records):
            v = record.get(column)
            if isinstance(v, bool) or (isinstance(v, (int, float)) and math.isfinite(v)):
                out.append(float(v))
                continue
            raise ScorerInputError(
                f"{user} reads the verdict column {column!r}, which the task family writes when it judges the "
                f"candidates; {self.where(i)} has {'none' if v is None else repr(v)} (give records the family "
                f"can judge, e.g. TInt records with task, input and completion, or use --quality-field)")
        return out

    def texts(self, user: str = "the embedder") -> list[str]:
        out = self.values(self.text_field, user)
        for i, v in enumerate(out):
            if not isinstance(v, str):
                raise ScorerInputError(f"{user} needs text in field {self.text_field!r}; "
                                       f"{self.where(i)} has {type(v).__name__}")
        return out
