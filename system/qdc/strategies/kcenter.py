"""k-center greedy (farthest point first): diversity only, quality is ignored.

Each pick is the candidate farthest from every centre chosen so far. Distances are squared
Euclidean on unit vectors (2 - 2 cos). The first centre is the point nearest the mean of all
candidates, a deterministic stand-in for the textbook's arbitrary first point; every later centre is
a farthest point, on both plans.

Exact plan: the textbook greedy over all candidates, O(n * budget * d) time, O(n) extra memory.

Approximate plan, for millions of candidates: points live in k-means cells, and a new centre
updates the distances of its own cell at once and of the other cells among its FAISS probes (its
nearest cells) when those cells are next visited (pending centres are applied with one matrix
product). While centres are still sparse (fewer than ``SPARSE_PHASE`` per cell), a point's nearest
centre may lie far outside its probes, so each cell also keeps the centres nearest its centroid and
receives every new centre that joins them. A cell no centre has reached yet is bounded through its
centroid: its points lie within its radius r of the centroid, so none is farther than r + D from the
centre nearest the centroid (at distance D). Each cell keeps an upper bound of its farthest distance.
The greedy runs in phases: with M the largest bound, every cell whose bound reaches
tau = ((1 - tolerance) * sqrt(M))^2 is visited, brought up to date, and takes its points farther
than tau one by one. So every pick is within ``tolerance`` of the farthest point (tolerance 0 is
exact lazy greedy), a cell takes several picks per visit, and a point is only ever measured against
centres of nearby cells.

(An earlier version gave every cell a first centre before any farthest pick: with a budget near
the number of natural clusters some clusters got two centres and others none, a covering radius up
to 1.1x that of the exact greedy.)
"""

from __future__ import annotations

import numpy as np

from system.qdc.index import Partition
from system.qdc.strategies.base import (
    STRATEGIES, Choice, ReasonBook, SelectionInputs, SelectionStrategy, check_budget,
)
from system.qdc.strategies.cells import rows
from system.qdc.threads import single_blas_thread

UNCOVERED = 4.0  # above any squared distance between unit vectors
SPARSE_PHASE = 2  # centres per cell below which a cell also takes the centres nearest its centroid
NEAR_PER_PROBE = 2  # ... that many per FAISS probe


class CellKCenter:
    """State of the phased greedy over the partition's cells (one cell on the exact plan)."""

    def __init__(self, x: np.ndarray, part: Partition):
        self.x = x
        self.order = np.concatenate(part.cells)
        self.xs = rows(x, self.order)  # cells contiguous
        sizes = np.array([len(c) for c in part.cells])
        self.bounds = np.concatenate([[0], np.cumsum(sizes)])
        self.centroids = np.stack([part.centroids[part.assign[c[0]]] for c in part.cells])
        cell_of_centroid = np.full(len(part.centroids), -1, dtype=np.int64)
        cell_of_centroid[[part.assign[c[0]] for c in part.cells]] = np.arange(len(part.cells))
        self.neighbours = np.where(part.probes >= 0, cell_of_centroid[np.maximum(part.probes, 0)], -1)
        self.dist = np.full(len(x), np.inf, dtype=np.float32)  # in self.order; -1 once chosen
        self.upper = np.full(len(part.cells), np.inf)
        self.pending: list[list[int]] = [[] for _ in part.cells]
        self.chosen: list[int] = []
        self.values: list[float] = []
        n_cells = len(part.cells)
        self.reached = np.zeros(n_cells, dtype=bool)  # visited at least once (its distances are real)
        self.radius = np.array([np.sqrt(max(0.0, 2.0 - 2.0 * float((self._cell(k)[0] @ self.centroids[k]).min())))
                                for k in range(n_cells)])
        # the centres nearest each centroid (similarities), kept while centres are sparse
        self.near = np.full((n_cells, min(n_cells, NEAR_PER_PROBE * part.probes.shape[1])), -np.inf)
        self.sparse_until = SPARSE_PHASE * n_cells if n_cells > 1 else 0

    def _cell(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.bounds[k], self.bounds[k + 1]
        return self.xs[lo:hi], self.dist[lo:hi]

    def _refresh(self, k: int) -> float:
        """Apply the centres pending for cell k; returns its farthest distance from the centres it was given."""
        block, d = self._cell(k)
        self.reached[k] = True
        if self.pending[k]:
            sims = block @ self.x[self.pending[k]].T
            np.minimum(d, 2.0 - 2.0 * sims.max(axis=1), out=d)
            self.pending[k].clear()
        self.upper[k] = float(d.max())
        return self.upper[k]

    def _take(self, k: int, j: int, value: float) -> None:
        block, d = self._cell(k)
        g = int(self.order[self.bounds[k] + j])
        self.chosen.append(g)
        self.values.append(value)
        np.minimum(d, 2.0 - 2.0 * (block @ block[j]), out=d)
        d[j] = -1.0
        targets = set(int(o) for o in self.neighbours[g] if o >= 0)
        if len(self.chosen) <= self.sparse_until:
            targets.update(self._nearest_to_centroids(g))
        targets.discard(k)
        for other in targets:
            self.pending[other].append(g)

    def _nearest_to_centroids(self, g: int) -> np.ndarray:
        """Cells for which centre g is among the centres nearest their centroid; tightens the
        centroid bounds of the cells not yet reached."""
        sims = self.centroids @ self.x[g]
        worst = np.argmin(self.near, axis=1)
        cells = np.flatnonzero(sims > self.near[np.arange(len(sims)), worst])
        self.near[cells, worst[cells]] = sims[cells]
        open_cells = np.flatnonzero(~self.reached)
        nearest = np.sqrt(np.maximum(0.0, 2.0 - 2.0 * self.near[open_cells].max(axis=1)))
        self.upper[open_cells] = np.minimum(UNCOVERED, (self.radius[open_cells] + nearest) ** 2)
        return cells

    def run(self, budget: int, tolerance: float) -> None:
        if budget < 1 or self.chosen:
            return
        # the first centre: the point nearest the mean of all candidates
        mean = self.x.mean(axis=0, dtype=np.float64)
        mean /= max(float(np.linalg.norm(mean)), 1e-12)
        first = int(np.argmax(self.xs @ mean.astype(np.float32)))  # position in self.order
        k = int(np.searchsorted(self.bounds, first, side="right") - 1)
        self.reached[k] = True
        self._take(k, first - int(self.bounds[k]), UNCOVERED)
        self.upper[k] = float(self._cell(k)[1].max())
        while len(self.chosen) < budget:
            top = float(self.upper.max())
            if top < 0:  # every candidate is a centre
                return
            tau = (1.0 - tolerance) ** 2 * top
            for k in np.argsort(-self.upper, kind="stable"):
                if self.upper[k] < tau or len(self.chosen) >= budget:
                    break
                far = self._refresh(k)
                d = self._cell(k)[1]
                while far >= tau and far >= 0 and len(self.chosen) < budget:
                    j = int(np.argmax(d))
                    self._take(k, j, far)
                    far = float(d.max())
                self.upper[k] = far


@STRATEGIES.register("kcenter")
class KCenter(SelectionStrategy):
    """Greedy farthest-point selection on the embeddings."""

    needs = frozenset({"embeddings"})

    def select(self, inputs: SelectionInputs, budget: int, seed: int) -> Choice:
        check_budget(budget, inputs.n)
        x = inputs.need_embeddings(f"strategy {self.name!r}")
        state = CellKCenter(x, inputs.partition(seed))
        with single_blas_thread():
            state.run(budget, 0.0 if inputs.plan.exact else self.config.kcenter_tolerance)
        book = ReasonBook(inputs.n, "covered by the chosen centres")
        book.mark(state.chosen, "farthest from the chosen centres")
        last = state.values[-1] if state.values else UNCOVERED
        if last >= UNCOVERED:  # the budget ran out on first centres: no distance to report
            return book.finish(state.chosen)
        return book.finish(state.chosen, last_pick_distance=float(np.sqrt(max(0.0, last))))
