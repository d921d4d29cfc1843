"""Candidate records as scorers see them: fields checked once, verdicts and parses computed once."""

from __future__ import annotations

from functools import cached_property
from typing import Any, Sequence

from system.errors import QdcError
from system.tint import TASKS, Verdict, parse, verify
from system.tint.text import ParsedText

TINT_FIELDS = ("task", "input", "completion")


class ScorerInputError(QdcError):
    """A record lacks what a scorer or embedder needs; the message names the field and the record."""


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class CandidateBatch:
    """A list of candidate records (plain dicts) plus the per-record results several scorers share.

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
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or v in (float("inf"), float("-inf")):
                raise ScorerInputError(f"{user} needs a finite number in field {field!r}; {self.where(i)} has {v!r}")
            out.append(float(v))
        return out

    def texts(self, user: str = "the embedder") -> list[str]:
        out = self.values(self.text_field, user)
        for i, v in enumerate(out):
            if not isinstance(v, str):
                raise ScorerInputError(f"{user} needs text in field {self.text_field!r}; "
                                       f"{self.where(i)} has {type(v).__name__}")
        return out

    def is_tint(self) -> bool:
        """True when every record is a TInt candidate (registered task, integer input list, completion text)."""
        return len(self) > 0 and all(self._tint_problem(r) is None for r in self.records)

    @staticmethod
    def _tint_problem(record: dict[str, Any]) -> str | None:
        missing = [f for f in TINT_FIELDS if record.get(f) is None]
        if missing:
            return f"has no {', '.join(repr(m) for m in missing)}"
        if not isinstance(record["task"], str) or record["task"] not in TASKS:
            return f"has task {record['task']!r}, not one of {', '.join(sorted(TASKS))}"
        values = record["input"]
        if not isinstance(values, list) or not values or not all(_is_int(v) for v in values):
            return "has an 'input' that is not a list of integers"
        if not isinstance(record["completion"], str):
            return "has a 'completion' that is not text"
        return None

    def tint(self, user: str) -> list[tuple[str, list[int], str]]:
        """(task, input, completion) of every record, checked; raises naming the first bad record."""
        for i, record in enumerate(self.records):
            problem = self._tint_problem(record)
            if problem is not None:
                raise ScorerInputError(f"{user} needs TInt records ({', '.join(TINT_FIELDS)}); "
                                       f"{self.where(i)} {problem}")
        return [(r["task"], r["input"], r["completion"]) for r in self.records]

    @cached_property
    def verdicts(self) -> list[Verdict]:
        return [verify(task, values, text) for task, values, text in self.tint("the TInt verifier")]

    @cached_property
    def parsed(self) -> list[ParsedText]:
        return [parse(text) for text in self.values("completion", "trace parsing")]
