"""Quality scorers, each in [0, 1]: the task family's verdict (its quality, exact answer, TInt's step
checks), majority agreement, the generator's log-prob, a numeric field of the record, or nothing
(uniform). Verdict columns are computed once per candidate by the task family (`system.tasks`).

TInt's chain consistency checks every operand against the prompt's numbers and earlier
results. That is the signal that lets self-improvement work: majority vote plus internal
consistency keeps consistent traces built on a miscopied number, and the model learns its own
copying errors.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING, ClassVar

import numpy as np

from system.qdc.batch import CandidateBatch, ScorerInputError
from system.qdc.scoring.base import SCORERS, Scorer

if TYPE_CHECKING:
    from system.qdc.config import FilterConfig


class VerdictColumn(Scorer):
    """A column of the task family's verdict, read as a number in [0, 1]."""

    kind = "quality"
    column: ClassVar[str]

    def score(self, batch: CandidateBatch) -> np.ndarray:
        return np.clip(np.array(batch.verdict_column(self.column, f"scorer {self.name!r}")), 0.0, 1.0)


@SCORERS.register("verifier")
class VerifierQuality(VerdictColumn):
    """The task family's verdict quality (a dataset verifier's score; TInt: mean of exact answer, chain
    consistency and step validity)."""

    fields = "verdict_quality"
    column = "verdict_quality"


@SCORERS.register("answer_correct")
class AnswerCorrect(VerdictColumn):
    """1 if the completion's final answer is the reference answer."""

    fields = "answer_correct"
    column = "answer_correct"


@SCORERS.register("steps_valid")
class StepsValid(VerdictColumn):
    """TInt: fraction of the trace's segments that are steps with correct arithmetic."""

    fields = "steps_valid"
    column = "steps_valid"


@SCORERS.register("chain_consistent")
class ChainConsistent(VerdictColumn):
    """TInt: 1 if every operand is grounded: a number of the prompt (or a task constant) or an earlier result."""

    fields = "chain_consistent"
    column = "chain_consistent"


@SCORERS.register("majority")
class MajorityAgreement(Scorer):
    """Share of the prompt's k samples that give the same final answer (0 if no answer was extracted).

    Samples are grouped by ``prompt_id``, or by ``prompt`` text when no record has a prompt_id; answers
    are the verdicts' ``extracted_answer``.
    """

    kind = "quality"
    fields = "extracted_answer, prompt_id (or prompt)"

    def score(self, batch: CandidateBatch) -> np.ndarray:
        has_id = any("prompt_id" in r for r in batch.records)
        keys = batch.values("prompt_id" if has_id else "prompt", f"scorer {self.name!r}")
        keys = [k if isinstance(k, (str, int, float)) else repr(k) for k in keys]
        for i, r in enumerate(batch.records):
            if "extracted_answer" not in r:
                raise ScorerInputError(f"scorer {self.name!r} reads the verdict column 'extracted_answer', which the "
                                       f"task family writes when it judges the candidates; {batch.where(i)} has none")
        answers = [r["extracted_answer"] for r in batch.records]
        per_prompt = Counter(keys)
        votes = Counter((k, a) for k, a in zip(keys, answers) if a is not None)
        return np.array([votes[(k, a)] / per_prompt[k] if a is not None else 0.0 for k, a in zip(keys, answers)])


@SCORERS.register("mean_logprob")
class MeanLogprob(Scorer):
    """exp(mean token log-prob): the geometric-mean token probability, in (0, 1].

    Reads ``mean_logprob``, or the ``logprobs`` list when that is what the generator supplied.
    """

    kind = "quality"
    fields = "mean_logprob or logprobs"

    def score(self, batch: CandidateBatch) -> np.ndarray:
        out = np.empty(len(batch))
        for i, record in enumerate(batch.records):
            value = record.get("mean_logprob")
            if value is None and isinstance(record.get("logprobs"), list) and record["logprobs"]:
                value = sum(record["logprobs"]) / len(record["logprobs"])
            if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
                raise ScorerInputError(f"scorer {self.name!r} needs a number in 'mean_logprob' or a non-empty "
                                       f"'logprobs' list on every record; {batch.where(i)} has neither")
            out[i] = math.exp(min(0.0, float(value)))
        return out


def _finite(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:  # an int beyond float range, e.g. 10**400
        return None
    return f if math.isfinite(f) else None


def rank_unit(col: np.ndarray) -> np.ndarray:
    """Ranks mapped to [0, 1] (lowest 0, highest 1), tied values sharing their average rank; a
    constant column is all 1. An outlier moves only its own rank, never the others' spacing."""
    n = len(col)
    values, inverse, counts = np.unique(col, return_inverse=True, return_counts=True)
    if len(values) <= 1:
        return np.ones(n)
    first = np.cumsum(counts) - counts  # 0-based rank of each distinct value's first occurrence
    average = first + (counts - 1) / 2.0
    return average[inverse] / (n - 1)


@SCORERS.register("field")
class FieldQuality(Scorer):
    """A numeric field of the record (``quality_field``), rescaled to [0, 1] over the batch by rank.

    Min-max rescaling let one outlier (-1e20) squeeze every other record to the same score, and
    values near the float limits overflowed to NaN; ranks keep the order and nothing else."""

    kind = "quality"
    fields = "the configured quality_field"
    RESCALING = "rank: average rank of tied values, mapped to [0, 1] (lowest 0, highest 1)"

    def __init__(self, field: str | None = None):
        self.field = field

    @classmethod
    def from_config(cls, config: "FilterConfig") -> "FieldQuality":
        return cls(config.quality_field)

    def score(self, batch: CandidateBatch) -> np.ndarray:
        if self.field is None:
            raise ScorerInputError(f"scorer {self.name!r} needs quality_field to name a numeric field")
        col = np.empty(len(batch))
        for i, v in enumerate(batch.values(self.field, f"quality field {self.field!r}")):
            f = _finite(v)
            if f is None:
                shown = repr(v) if len(repr(v)) <= 40 else repr(v)[:37] + "..."
                raise ScorerInputError(f"{batch.where(i)}: quality field {self.field!r} needs a finite number, "
                                       f"has {shown}")
            col[i] = f
        return rank_unit(col)


@SCORERS.register("uniform")
class Uniform(Scorer):
    """Every candidate 1: no quality signal."""

    kind = "quality"
    fields = "nothing"

    def score(self, batch: CandidateBatch) -> np.ndarray:
        return np.ones(len(batch))
