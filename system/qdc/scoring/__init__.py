"""Quality and complexity scorers (a registry) and their combination into two columns."""

from system.qdc.scoring import complexity, quality  # noqa: F401  (registers the scorers)
from system.qdc.scoring.base import SCORERS, Scorer, ScoreKind, score_columns, scorer_names

__all__ = ["SCORERS", "ScoreKind", "Scorer", "score_columns", "scorer_names"]
