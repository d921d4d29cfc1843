"""DEITA-style score-first selection with a diversity filter.

Candidates are visited in order of quality x complexity (ties by a seeded shuffle). One is admitted
only if its cosine distance to every already admitted item exceeds ``deita_threshold``; the scan
stops when the budget is full (or admits fewer when the candidates run out).

The scan is sequential by definition, but it is run in chunks: a chunk is first checked against
the admitted set with one batched FAISS search (flat when exact, IVF over the k-means cells or
HNSW when approximate), then against its own earlier members with one dense product; only the
items that conflict inside the chunk are resolved one by one.
"""

from __future__ import annotations

from typing import Callable

import faiss
import numpy as np

from system.qdc.index import add, new_index, search
from system.qdc.strategies.base import (
    STRATEGIES, Choice, ReasonBook, SelectionInputs, SelectionStrategy, check_budget, rank_order,
)
from system.qdc.threads import single_blas_thread

CHUNK = 2048


def admit_in_chunk(sims: np.ndarray, ok: np.ndarray, limit: float) -> tuple[np.ndarray, np.ndarray]:
    """The sequential rule inside one chunk (positions in scan order): an ``ok`` item is admitted unless
    an earlier admitted item of the chunk has similarity >= ``limit`` with it.

    Returns (admitted mask, blocker) where blocker[i] is the chunk position that blocked i, or -1.
    """
    conflict = np.triu(sims >= limit, 1)
    conflict[~ok, :] = False
    alive = ok.copy()
    blocker = np.full(len(ok), -1, dtype=np.int64)
    for t in np.flatnonzero(conflict.any(axis=1)):
        if alive[t]:
            killed = conflict[t] & alive
            blocker[killed] = t
            alive &= ~conflict[t]
    return alive, blocker


def deita_scan(x: np.ndarray, score: np.ndarray, budget: int, threshold: float, seed: int,
               index_factory: Callable[[], faiss.Index], probes: np.ndarray | None, book: ReasonBook
               ) -> np.ndarray:
    """Admitted indices in scan order. ``probes`` (IVF only): each candidate's cells, its own first."""
    order = rank_order(score, seed)
    cells = None if probes is None else probes[:, 0]
    limit = 1.0 - threshold  # similarity at or above which two items are too close
    index = index_factory()
    admitted = np.empty(budget, dtype=np.int64)  # in admission order = the index's ids
    n_admitted = 0
    scanned = 0
    for start in range(0, len(order), CHUNK):
        if n_admitted >= budget:
            break
        idx = order[start:start + CHUNK]
        xb = x[idx]
        sims_adm, ids = search(index, xb, 1, None if probes is None else probes[idx])
        near = sims_adm[:, 0] >= limit
        if near.any():
            owners = admitted[ids[near, 0]]
            book.mark(idx[near], f"within cosine distance {threshold:g} of an admitted item", owners)
        alive, blocker = admit_in_chunk(xb @ xb.T, ~near, limit)
        blocked = blocker >= 0
        if blocked.any():
            book.mark(idx[blocked], f"within cosine distance {threshold:g} of an admitted item", idx[blocker[blocked]])
        take = np.flatnonzero(alive)[: budget - n_admitted]
        if take.size:
            add(index, xb[take], None if cells is None else cells[idx[take]])
            admitted[n_admitted:n_admitted + take.size] = idx[take]
            n_admitted += take.size
        scanned = start + (take[-1] + 1 if n_admitted >= budget and take.size else len(idx))
    chosen = admitted[:n_admitted]
    book.mark(order[scanned:], "not reached: the budget was full")
    book.mark(chosen, "admitted by quality x complexity, far from every admitted item")
    return chosen


@STRATEGIES.register("deita")
class Deita(SelectionStrategy):
    """Score-first (quality x complexity) with a minimum cosine distance between admitted items."""

    needs = frozenset({"quality", "complexity", "embeddings"})

    def select(self, inputs: SelectionInputs, budget: int, seed: int) -> Choice:
        check_budget(budget, inputs.n)
        x = inputs.need_embeddings(f"strategy {self.name!r}")
        plan = inputs.plan
        partition = inputs.partition(seed) if plan.kind == "ivf" else None
        probes = partition.probes if partition is not None else None
        book = ReasonBook(inputs.n, "not admitted")
        with single_blas_thread():
            chosen = deita_scan(x, inputs.quality * inputs.complexity, budget, self.config.deita_threshold, seed,
                                lambda: new_index(plan, partition), probes, book)
        return book.finish(chosen)
