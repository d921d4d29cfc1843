"""The selection-strategy interface: candidates' scores and embeddings, a budget and a seed in;
chosen indices and a reason for every candidate out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Literal

import numpy as np

from system.qdc.index import IndexPlan, Partition, make_partition, plan_index
from system.qdc.registry import Registry

if TYPE_CHECKING:
    from system.qdc.config import FilterConfig

Need = Literal["quality", "complexity", "embeddings"]


@dataclass
class SelectionInputs:
    """Everything a strategy may read. Columns are aligned with the candidates (length n).

    ``quality`` and ``complexity`` are in [0, 1], higher is better; ``embeddings`` are float32 unit
    rows. The k-means partition is computed on first use and shared by every strategy run on the
    same inputs with the same seed.
    """

    quality: np.ndarray
    complexity: np.ndarray
    embeddings: np.ndarray | None
    plan: IndexPlan
    _partitions: dict[int, Partition] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, quality: np.ndarray | None, complexity: np.ndarray | None, embeddings: np.ndarray | None,
              *, n: int | None = None, exact_below: int = 10_000, min_cell: int = 128, max_cells: int = 1024,
              approx: Literal["ivf", "hnsw"] = "ivf") -> "SelectionInputs":
        """Missing columns become uniform (all ones); n is taken from whichever input is given."""
        sizes = {len(a) for a in (quality, complexity, embeddings) if a is not None}
        if n is not None:
            sizes.add(n)
        if len(sizes) != 1:
            raise ValueError(f"quality, complexity and embeddings must have one length, got {sorted(sizes)}")
        n = sizes.pop()
        q = np.ones(n) if quality is None else np.asarray(quality, dtype=np.float64)
        c = np.ones(n) if complexity is None else np.asarray(complexity, dtype=np.float64)
        x = None if embeddings is None else np.ascontiguousarray(embeddings, dtype=np.float32)  # what FAISS takes
        dim = 1 if x is None else x.shape[1]
        plan = plan_index(n, dim, exact_below=exact_below, min_cell=min_cell, max_cells=max_cells, approx=approx)
        return cls(q, c, x, plan)

    @property
    def n(self) -> int:
        return len(self.quality)

    def need_embeddings(self, user: str) -> np.ndarray:
        if self.embeddings is None:
            raise ValueError(f"{user} needs embeddings")
        return self.embeddings

    def partition(self, seed: int) -> Partition:
        if seed not in self._partitions:
            self._partitions[seed] = make_partition(self.need_embeddings("the k-means partition"), self.plan, seed)
        return self._partitions[seed]


@dataclass
class Choice:
    """What a strategy chose (``chosen``, in the order it chose them) and why, for every candidate.

    ``reason`` holds a code per candidate into ``codes``; ``related`` (or None) names another
    candidate where the reason involves one (the admitted item a rejected one is too close to).
    """

    chosen: np.ndarray
    reason: np.ndarray
    codes: tuple[str, ...]
    related: np.ndarray | None = None
    info: dict[str, float] = field(default_factory=dict)  # strategy-specific figures (objective, radius)

    def reason_of(self, i: int) -> str:
        text = self.codes[int(self.reason[i])]
        if self.related is not None and self.related[i] >= 0:
            text += f" (#{int(self.related[i])})"
        return text

    def reason_counts(self) -> dict[str, int]:
        counts = np.bincount(self.reason, minlength=len(self.codes))
        return {code: int(c) for code, c in zip(self.codes, counts) if c}


class ReasonBook:
    """Collects reason codes while a strategy runs: every candidate starts with ``default``."""

    def __init__(self, n: int, default: str):
        self.codes: list[str] = [default]
        self.reason = np.zeros(n, dtype=np.int16)
        self.related: np.ndarray | None = None

    def mark(self, idx: np.ndarray | list[int] | slice, text: str, related: np.ndarray | None = None) -> None:
        if text not in self.codes:
            self.codes.append(text)
        self.reason[idx] = self.codes.index(text)
        if related is not None:
            if self.related is None:
                self.related = np.full(len(self.reason), -1, dtype=np.int64)
            self.related[idx] = related

    def finish(self, chosen: np.ndarray | list[int], **info: float) -> Choice:
        return Choice(np.asarray(chosen, dtype=np.int64), self.reason, tuple(self.codes), self.related, info)


class SelectionStrategy(ABC):
    """One selection rule. ``needs`` declares which inputs it reads, so callers can skip the rest."""

    name: ClassVar[str]
    needs: ClassVar[frozenset[Need]] = frozenset()

    def __init__(self, config: "FilterConfig | None" = None):
        if config is None:
            from system.qdc.config import FilterConfig

            config = FilterConfig()
        self.config = config

    @abstractmethod
    def select(self, inputs: SelectionInputs, budget: int, seed: int) -> Choice:
        """Choose at most ``budget`` of ``inputs.n`` candidates; the same seed gives the same choice."""


STRATEGIES: Registry[type[SelectionStrategy]] = Registry("selection strategy")


def check_budget(budget: int, n: int) -> None:
    if not isinstance(budget, (int, np.integer)) or isinstance(budget, bool):
        raise ValueError(f"budget must be an integer count, got {budget!r}")
    if not 1 <= budget <= n:
        raise ValueError(f"budget must be between 1 and the {n} candidates, got {budget}")


def rank_order(score: np.ndarray, seed: int) -> np.ndarray:
    """Indices by score, highest first; ties broken by a seeded shuffle (so equal scores are fair)."""
    perm = np.random.default_rng(seed).permutation(len(score))
    return perm[np.argsort(-np.asarray(score)[perm], kind="stable")]


def ranks_of(order: np.ndarray) -> np.ndarray:
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(len(order))
    return ranks
