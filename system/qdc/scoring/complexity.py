"""Complexity scorers: non-negative magnitudes (the combination divides each by its batch maximum).
The family-specific ones read the measures the task family wrote with its verdicts."""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from system.qdc.batch import CandidateBatch
from system.qdc.scoring.base import SCORERS, Scorer


class VerdictMagnitude(Scorer):
    """A complexity measure the task family wrote with its verdict."""

    kind = "complexity"
    column: ClassVar[str]

    def score(self, batch: CandidateBatch) -> np.ndarray:
        return np.maximum(np.array(batch.verdict_column(self.column, f"scorer {self.name!r}")), 0.0)


@SCORERS.register("trace_steps")
class TraceSteps(VerdictMagnitude):
    """TInt: number of segments in the completion's trace (steps written before the answer)."""

    fields = "trace_steps"
    column = "trace_steps"


@SCORERS.register("list_length")
class ListLength(VerdictMagnitude):
    """TInt: length of the input list."""

    fields = "list_length"
    column = "list_length"


@SCORERS.register("digits")
class Digits(VerdictMagnitude):
    """TInt: mean number of decimal digits of the input numbers."""

    fields = "digits"
    column = "digits"


@SCORERS.register("op_mix")
class OpMix(VerdictMagnitude):
    """TInt: number of distinct operators in the trace (a sum uses one, a median's sort-and-average several)."""

    fields = "op_mix"
    column = "op_mix"


@SCORERS.register("level")
class Level(VerdictMagnitude):
    """The prompt's curriculum level (TInt: list length; dataset: difficulty)."""

    fields = "level"
    column = "level"


@SCORERS.register("solution_lines")
class SolutionLines(VerdictMagnitude):
    """Dataset: non-empty lines of the completion (a worked solution's steps)."""

    fields = "solution_lines"
    column = "solution_lines"


@SCORERS.register("text_length")
class TextLength(Scorer):
    """Whitespace-separated words of the text field: the complexity proxy for non-TInt data."""

    kind = "complexity"
    fields = "the text field"

    def score(self, batch: CandidateBatch) -> np.ndarray:
        return np.array([float(len(t.split())) for t in batch.texts(f"scorer {self.name!r}")])
