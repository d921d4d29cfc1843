"""SemDeDup-style near-duplicate removal: cluster, then drop near-duplicates within each cluster.

Inside a cluster the members are ordered by quality (ties by a seeded shuffle) and an item is
dropped when an earlier (better) member has cosine distance <= ``semdedup_eps`` to it, as in the
SemDeDup paper. What survives is kept best-first up to the budget. Exact plan: one cluster, all
pairs. Approximate plan: the k-means cells, so a pair split by a cell boundary is missed.
"""

from __future__ import annotations

import numpy as np

from system.qdc.strategies.base import (
    STRATEGIES, Choice, ReasonBook, SelectionInputs, SelectionStrategy, check_budget, rank_order, ranks_of,
)
from system.qdc.threads import single_blas_thread

BLOCK = 4096  # rows of a cluster's similarity matrix computed at once


def duplicates_in_cell(x: np.ndarray, members: np.ndarray, limit: float) -> tuple[np.ndarray, np.ndarray]:
    """(is duplicate, the earliest earlier member it duplicates or -1) for members given best-first."""
    xs = x[members]
    dup = np.zeros(len(members), dtype=bool)
    of = np.full(len(members), -1, dtype=np.int64)
    for lo in range(0, len(members), BLOCK):
        hi = min(len(members), lo + BLOCK)
        close = xs[lo:hi] @ xs[:hi].T >= limit  # row r: member lo + r against members 0..hi-1
        close = np.tril(close, lo - 1)  # keep strictly earlier members only
        first = close.argmax(axis=1)
        hit = close[np.arange(hi - lo), first]
        dup[lo:hi] = hit
        of[lo:hi] = np.where(hit, members[first], -1)
    return dup, of


@STRATEGIES.register("semdedup")
class SemDeDup(SelectionStrategy):
    """Drop near-duplicates (cosine distance <= semdedup_eps) of better items, then keep best-first."""

    needs = frozenset({"quality", "embeddings"})

    def select(self, inputs: SelectionInputs, budget: int, seed: int) -> Choice:
        check_budget(budget, inputs.n)
        x = inputs.need_embeddings(f"strategy {self.name!r}")
        eps = self.config.semdedup_eps
        order = rank_order(inputs.quality, seed)
        ranks = ranks_of(order)
        dup = np.zeros(inputs.n, dtype=bool)
        of = np.full(inputs.n, -1, dtype=np.int64)
        cells = inputs.partition(seed).cells
        with single_blas_thread():
            for cell in cells:
                members = cell[np.argsort(ranks[cell], kind="stable")]
                d, o = duplicates_in_cell(x, members, 1.0 - eps)
                dup[members], of[members] = d, o
        survivors = order[~dup[order]]
        chosen = survivors[:budget]
        book = ReasonBook(inputs.n, "not a duplicate, beyond the budget")
        book.mark(np.flatnonzero(dup), f"near-duplicate (cosine distance <= {eps:g}) of a better item", of[dup])
        book.mark(chosen, "not a near-duplicate")
        return book.finish(chosen, removed=float(dup.sum()))
