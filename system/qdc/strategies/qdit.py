"""QDIT-style selection: greedy facility location with a quality weight alpha.

    f(S) = alpha * sum_{j in S} q_j  +  (1 - alpha) * (k / n) * sum_{i in V} max(0, max_{j in S} cos(i, j))

The coverage term is scaled by k/n (k = budget) so that both terms are at most k and alpha means
what it says: alpha = 1 is top_quality exactly, alpha = 0 is pure facility location.

Greedy adds the candidate with the largest marginal gain. Within a block of candidates the gains
are kept for all of them and updated incrementally: a pick only changes the gains through the
points it covers better than before (usually few), so a step costs O(|improved| * n_block), not
O(n_block^2).

Exact plan: one block, the whole candidate set (dense n x n similarities). Approximate plan: the
coverage is restricted to k-means cells (a point is covered only from its own cell), which makes
f a sum of independent cell objectives; cells.py merges the per-cell greedy runs back into the
global greedy order. Memory: one cell's similarities at a time plus O(n) state.
"""

from __future__ import annotations

import numpy as np

from system.qdc.strategies.base import (
    STRATEGIES, Choice, ReasonBook, SelectionInputs, SelectionStrategy, check_budget, rank_order, ranks_of,
)
from system.qdc.strategies.cells import CellRun, greedy_by_cells, rows
from system.qdc.threads import single_blas_thread


def block_similarities(x: np.ndarray, members: np.ndarray, weight: float) -> np.ndarray:
    """The members' cosine similarities, clipped at 0 and scaled by the coverage weight."""
    xs = rows(x, members)
    sims = xs @ xs.T
    np.maximum(sims, 0.0, out=sims)
    if weight != 1.0:
        sims *= np.float32(weight)
    return sims


class FacilityLocationRun(CellRun):
    """Marginal gains of every member, updated incrementally; the similarities are rebuilt on resume
    (only one cell's n_c x n_c matrix lives at a time)."""

    def __init__(self, members: np.ndarray, base: np.ndarray, weight: float):
        super().__init__(members)
        self.base = base  # alpha * quality of the members
        self.weight = weight
        self.cur: np.ndarray | None = None  # each member's best similarity to the chosen ones
        self.gains: np.ndarray | None = None

    def extend(self, x: np.ndarray, steps: int) -> None:
        sims = block_similarities(x, self.members, self.weight)
        if self.gains is None:
            self.cur = np.zeros(len(self.members), dtype=np.float32)
            self.gains = self.base + sims.sum(axis=0, dtype=np.float64)
        cur, gains = self.cur, self.gains
        assert cur is not None
        for _ in range(steps):
            if self.exhausted:
                break
            j = int(np.argmax(gains))
            self.picks.append(j)
            self.values.append(float(gains[j]))
            col = sims[j]  # symmetric: row j is column j
            improved = np.flatnonzero(col > cur)
            if improved.size:
                old = cur[improved]
                new = col[improved]
                # gain_m loses sum_i [max(0, s_im - old_i) - max(0, s_im - new_i)]
                #            = sum_i min(max(s_im, old_i), new_i) - sum_i old_i
                covered = np.maximum(sims[improved], old[:, None])
                np.minimum(covered, new[:, None], out=covered)
                gains -= covered.sum(axis=0)
                gains += float(old.sum())
                cur[improved] = new
            gains[j] = -np.inf


def facility_location(x: np.ndarray, quality: np.ndarray, cells: list[np.ndarray], budget: int,
                      alpha: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(chosen indices in greedy order, their marginal gains) under the cell-separable objective."""
    ranks = ranks_of(rank_order(quality, seed))
    weight = (1.0 - alpha) * budget / len(quality)
    runs: list[CellRun] = []
    for cell in cells:
        members = cell[np.argsort(ranks[cell], kind="stable")]  # argmax ties -> the better quality rank
        runs.append(FacilityLocationRun(members, alpha * quality[members], weight))
    return greedy_by_cells(runs, x, budget, ranks)


@STRATEGIES.register("qdit")
class QDIT(SelectionStrategy):
    """Maximize alpha * quality + (1 - alpha) * coverage, greedily."""

    needs = frozenset({"quality", "embeddings"})

    def select(self, inputs: SelectionInputs, budget: int, seed: int) -> Choice:
        check_budget(budget, inputs.n)
        x = inputs.need_embeddings(f"strategy {self.name!r}")
        cells = inputs.partition(seed).cells
        with single_blas_thread():
            chosen, gains = facility_location(x, inputs.quality, cells, budget, self.config.qdit_alpha, seed)
        book = ReasonBook(inputs.n, "marginal gain below the cut")
        book.mark(chosen, "largest quality + coverage gain")
        return book.finish(chosen, objective=float(gains.sum()))
