"""Baselines that look at one column or none: none, random, quality_threshold, top_quality."""

from __future__ import annotations

import numpy as np

from system.qdc.strategies.base import (
    STRATEGIES, Choice, ReasonBook, SelectionInputs, SelectionStrategy, check_budget, rank_order,
)


@STRATEGIES.register("none")
class KeepAll(SelectionStrategy):
    """Keep everything, in input order, up to the budget."""

    def select(self, inputs: SelectionInputs, budget: int, seed: int) -> Choice:
        check_budget(budget, inputs.n)
        book = ReasonBook(inputs.n, "beyond the budget")
        book.mark(slice(0, budget), "kept (no filtering)")
        return book.finish(np.arange(budget))


@STRATEGIES.register("random")
class RandomChoice(SelectionStrategy):
    """A uniform sample without replacement."""

    def select(self, inputs: SelectionInputs, budget: int, seed: int) -> Choice:
        check_budget(budget, inputs.n)
        chosen = np.random.default_rng(seed).choice(inputs.n, size=budget, replace=False)
        book = ReasonBook(inputs.n, "not drawn")
        book.mark(chosen, "drawn at random")
        return book.finish(chosen)


@STRATEGIES.register("quality_threshold")
class QualityThreshold(SelectionStrategy):
    """Every candidate whose quality reaches the threshold; a uniform sample of them if there are more
    than the budget (so, unlike top_quality, it does not prefer the very best among the passing ones)."""

    needs = frozenset({"quality"})

    def select(self, inputs: SelectionInputs, budget: int, seed: int) -> Choice:
        check_budget(budget, inputs.n)
        threshold = self.config.quality_threshold
        passing = np.flatnonzero(inputs.quality >= threshold)
        book = ReasonBook(inputs.n, f"quality below {threshold:g}")
        if len(passing) > budget:
            chosen = np.sort(np.random.default_rng(seed).choice(passing, size=budget, replace=False))
            book.mark(passing, f"quality >= {threshold:g}, not drawn within the budget")
        else:
            chosen = passing
        book.mark(chosen, f"quality >= {threshold:g}")
        return book.finish(chosen)


@STRATEGIES.register("top_quality")
class TopQuality(SelectionStrategy):
    """The ``budget`` highest-quality candidates (ties broken by a seeded shuffle)."""

    needs = frozenset({"quality"})

    def select(self, inputs: SelectionInputs, budget: int, seed: int) -> Choice:
        check_budget(budget, inputs.n)
        chosen = rank_order(inputs.quality, seed)[:budget]
        book = ReasonBook(inputs.n, "below the top by quality")
        book.mark(chosen, "top by quality")
        return book.finish(chosen)
