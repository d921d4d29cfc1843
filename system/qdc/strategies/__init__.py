"""Selection strategies (a registry): none, random, quality_threshold, top_quality, kcenter, deita, qdit, semdedup."""

from system.qdc.strategies import deita, kcenter, qdit, semdedup, simple  # noqa: F401  (registers them)
from system.qdc.strategies.base import (
    STRATEGIES, Choice, ReasonBook, SelectionInputs, SelectionStrategy, check_budget, rank_order,
)

__all__ = ["STRATEGIES", "Choice", "ReasonBook", "SelectionInputs", "SelectionStrategy", "check_budget", "rank_order"]
