"""The scorer interface and how columns combine into one quality and one complexity score.

A quality scorer returns values in [0, 1] (1 = best). A complexity scorer returns a non-negative
magnitude (steps, list length, ...); columns are divided by their batch maximum before they are
averaged, so no scorer's units dominate. Both combinations are weighted means, in [0, 1].
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

from system.qdc.batch import CandidateBatch
from system.qdc.registry import Registry

if TYPE_CHECKING:
    from system.qdc.config import FilterConfig

ScoreKind = Literal["quality", "complexity"]


class Scorer(ABC):
    """Maps a batch of candidate records to one float column (length n)."""

    name: ClassVar[str]
    kind: ClassVar[ScoreKind]
    fields: ClassVar[str]  # what the scorer reads, for messages and docs

    @classmethod
    def from_config(cls, config: "FilterConfig") -> "Scorer":
        return cls()

    @abstractmethod
    def score(self, batch: CandidateBatch) -> np.ndarray:
        """One float64 value per record; raises ScorerInputError naming a record that lacks an input."""


SCORERS: Registry[type[Scorer]] = Registry("scorer")


def scorer_names(kind: ScoreKind) -> list[str]:
    return [n for n in SCORERS.names() if SCORERS.get(n).kind == kind]


def weighted_mean(columns: dict[str, np.ndarray], weights: dict[str, float], n: int) -> np.ndarray:
    total = sum(weights.values())
    if not columns or total <= 0:
        return np.ones(n)
    out = np.zeros(n)
    for name, col in columns.items():
        out += weights[name] * col
    return out / total


def normalized_magnitude(col: np.ndarray) -> np.ndarray:
    top = float(col.max()) if len(col) else 0.0
    return col / top if top > 0 else np.ones_like(col)


def score_columns(batch: CandidateBatch, quality: dict[str, float], complexity: dict[str, float],
                  config: "FilterConfig") -> dict[str, np.ndarray]:
    """Every named scorer's column, plus the combined ``quality`` and ``complexity`` columns."""
    n = len(batch)
    out: dict[str, np.ndarray] = {}
    for name in list(quality) + list(complexity):
        out[name] = np.asarray(SCORERS.get(name).from_config(config).score(batch), dtype=np.float64)
    q_cols = {k: out[k] for k in quality}
    c_cols = {k: normalized_magnitude(out[k]) for k in complexity}
    out["quality"] = np.clip(weighted_mean(q_cols, quality, n), 0.0, 1.0)
    out["complexity"] = weighted_mean(c_cols, complexity, n)
    return out
