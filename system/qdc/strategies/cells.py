"""Greedy selection run cell by cell and merged back into one global greedy order (used by qdit).

On the approximate plan qdit's coverage only looks inside k-means cells, so the objective is a sum
of independent cell objectives: a cell's own greedy run does not depend on the other cells, and
its marginal gains never increase along the run (submodularity). Global greedy takes, at every
step, the cell whose next gain is the largest, so its first k picks are exactly the k largest gains
over all cells' runs, each cell contributing a prefix of its run.

``greedy_by_cells`` uses that: every cell runs a quota proportional to its size, the runs are
merged, and a cell whose whole run made the cut is resumed (and the merge redone) until none does.
Each cell is loaded into cache once or a few times instead of once per pick. On the exact plan
there is one cell: plain greedy.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np

QUOTA_SLACK = 1.1  # first-round picks of a cell, relative to its share of the budget


class CellRun(ABC):
    """One cell's greedy state. ``extend`` continues it; ``values`` must not increase along ``picks``."""

    def __init__(self, members: np.ndarray):
        self.members = members  # global indices; argmax ties go to the earlier member
        self.picks: list[int] = []  # positions in members
        self.values: list[float] = []

    @property
    def exhausted(self) -> bool:
        return len(self.picks) >= len(self.members)

    @abstractmethod
    def extend(self, x: np.ndarray, steps: int) -> None:
        """Make up to ``steps`` more picks (fewer if the cell runs out)."""


def rows(x: np.ndarray, members: np.ndarray) -> np.ndarray:
    """``x[members]``, without the copy when members is simply 0..n-1 (the exact plan's one cell)."""
    if len(members) == len(x) and (len(x) == 0 or (members[0] == 0 and bool(np.all(np.diff(members) == 1)))):
        return x
    return x[members]


def greedy_by_cells(runs: list[CellRun], x: np.ndarray, budget: int, tiebreak: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(the ``budget`` picks of global greedy in order, their values). ``tiebreak``: smaller wins, per item."""
    n = sum(len(run.members) for run in runs)
    for run in runs:
        run.extend(x, min(len(run.members), math.ceil(QUOTA_SLACK * budget * len(run.members) / n) + 2))
    while True:
        chosen, values, taken = _merge(runs, budget, tiebreak)
        saturated = [k for k, run in enumerate(runs) if taken[k] == len(run.picks) and not run.exhausted]
        if not saturated:
            return chosen, values
        for k in saturated:
            runs[k].extend(x, max(2, len(runs[k].picks)))


def _merge(runs: list[CellRun], budget: int, tiebreak: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    items = np.concatenate([run.members[np.asarray(run.picks, dtype=np.int64)] for run in runs])
    # A running minimum keeps each run a non-increasing prefix despite float drift in incremental updates.
    values = np.concatenate([np.minimum.accumulate(np.asarray(run.values, dtype=np.float64)) for run in runs])
    cell_of = np.repeat(np.arange(len(runs)), [len(run.picks) for run in runs])
    top = np.lexsort((tiebreak[items], -values))[:budget]
    return items[top], values[top], np.bincount(cell_of[top], minlength=len(runs))
