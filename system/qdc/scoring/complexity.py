"""Complexity scorers: non-negative magnitudes (the combination divides each by its batch maximum)."""

from __future__ import annotations

import numpy as np

from system.qdc.batch import CandidateBatch
from system.qdc.scoring.base import SCORERS, Scorer


@SCORERS.register("trace_steps")
class TraceSteps(Scorer):
    """Number of segments in the completion's trace (steps written before the answer)."""

    kind = "complexity"
    fields = "completion"

    def score(self, batch: CandidateBatch) -> np.ndarray:
        return np.array([float(len(p.steps)) for p in batch.parsed])


@SCORERS.register("list_length")
class ListLength(Scorer):
    """Length of the input list."""

    kind = "complexity"
    fields = "input"

    def score(self, batch: CandidateBatch) -> np.ndarray:
        return np.array([float(len(values)) for _, values, _ in batch.tint(f"scorer {self.name!r}")])


@SCORERS.register("digits")
class Digits(Scorer):
    """Mean number of decimal digits of the input numbers."""

    kind = "complexity"
    fields = "input"

    def score(self, batch: CandidateBatch) -> np.ndarray:
        rows = batch.tint(f"scorer {self.name!r}")
        return np.array([sum(len(str(abs(v))) for v in values) / len(values) for _, values, _ in rows])


@SCORERS.register("op_mix")
class OpMix(Scorer):
    """Number of distinct operators in the trace (a sum uses one, a median's sort-and-average several)."""

    kind = "complexity"
    fields = "completion"

    def score(self, batch: CandidateBatch) -> np.ndarray:
        return np.array([float(len({s.op for s in p.steps if s is not None})) for p in batch.parsed])


@SCORERS.register("text_length")
class TextLength(Scorer):
    """Whitespace-separated words of the text field: the complexity proxy for non-TInt data."""

    kind = "complexity"
    fields = "the text field"

    def score(self, batch: CandidateBatch) -> np.ndarray:
        return np.array([float(len(t.split())) for t in batch.texts(f"scorer {self.name!r}")])
