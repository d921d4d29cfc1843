"""The QDC filter as one object: score, embed, select under a budget, measure before and after.

This is the entry point for the training loop (one call per iteration) and for ``qdc filter``.
Plain Python: no Ray here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from system.errors import QdcError
from system.qdc.batch import CandidateBatch
from system.qdc.config import FilterConfig
from system.qdc.embedders import EMBEDDERS, Embedder, HiddenStateSource, PolicyHiddenStates
from system.qdc.metrics import cluster_coverage, cluster_labels, distinct_ngrams, embedding_metrics
from system.qdc.scoring import score_columns
from system.qdc.strategies import STRATEGIES, Choice, SelectionInputs


@dataclass
class Selection:
    """What the filter chose and why. ``chosen`` indexes the input records, in the strategy's order."""

    strategy: str
    budget: int
    seed: int
    chosen: np.ndarray
    choice: Choice
    scores: dict[str, np.ndarray]
    metrics_before: dict[str, float] = field(default_factory=dict)
    metrics_after: dict[str, float] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.choice.reason)

    def mask(self) -> np.ndarray:
        m = np.zeros(self.n, dtype=bool)
        m[self.chosen] = True
        return m

    def reason(self, i: int) -> str:
        return self.choice.reason_of(i)

    def reasons(self) -> list[str]:
        return [self.choice.reason_of(i) for i in range(self.n)]

    def chosen_records(self, records: Sequence[dict[str, Any]], *, input_order: bool = True) -> list[dict[str, Any]]:
        idx = np.sort(self.chosen) if input_order else self.chosen
        return [records[int(i)] for i in idx]

    def summary(self) -> dict[str, Any]:
        """JSON-able: counts, reasons, score means, metrics before/after, timings."""
        mask = self.mask()
        scores = {name: {"mean_all": float(col.mean()), "mean_selected": float(col[mask].mean()) if mask.any() else 0.0}
                  for name, col in self.scores.items()}
        return {
            "strategy": self.strategy,
            "budget": self.budget,
            "seed": self.seed,
            "n_candidates": self.n,
            "n_selected": int(len(self.chosen)),
            "reasons": self.choice.reason_counts(),
            "strategy_info": self.choice.info,
            "scores": scores,
            "metrics": {"candidates": self.metrics_before, "selection": self.metrics_after},
            "seconds": self.seconds,
        }


class QDCFilter:
    """Scores, embeds and selects candidate records as the config says."""

    def __init__(self, config: FilterConfig | None = None, *, embedder: Embedder | None = None):
        self.config = config or FilterConfig()
        self.embedder = embedder or EMBEDDERS.get(self.config.embedder).from_config(self.config)
        self.strategy = STRATEGIES.get(self.config.strategy)(self.config)

    def attach_hidden_states(self, source: HiddenStateSource) -> None:
        """Give the ``policy_hidden`` embedder the current policy (the loop calls this each iteration)."""
        if not isinstance(self.embedder, PolicyHiddenStates):
            raise QdcError(f"embedder {self.config.embedder!r} does not take hidden states; use policy_hidden")
        self.embedder.attach(source)

    def score(self, batch: CandidateBatch) -> dict[str, np.ndarray]:
        return score_columns(batch, self.config.quality_weights(), dict(self.config.complexity_scorers), self.config)

    def embed(self, batch: CandidateBatch) -> np.ndarray:
        return self.embedder.embed(batch.texts(f"embedder {self.config.embedder!r}"))

    def select(self, records: Sequence[dict[str, Any]], budget: int | float | None = None, seed: int = 0, *,
               embeddings: np.ndarray | None = None, labels: Sequence[str] | None = None,
               metrics: bool = True) -> Selection:
        """Choose at most ``budget`` records (default: the config's). ``embeddings`` skips the embedder;
        ``labels`` name records in error messages (e.g. file:line)."""
        n = len(records)
        if n == 0:
            raise QdcError("the filter got no candidates")
        k = self.config.budget_for(n, budget)
        if not 1 <= k <= n:
            raise QdcError(f"budget {k} is outside 1..{n} (the number of candidates)")
        batch = CandidateBatch(records, text_field=self.config.text_field, labels=labels)
        seconds: dict[str, float] = {}
        t = time.perf_counter()
        scores = self.score(batch)
        seconds["score"] = time.perf_counter() - t
        x = embeddings
        if x is None and (metrics or "embeddings" in self.strategy.needs):
            t = time.perf_counter()
            x = self.embed(batch)
            seconds["embed"] = time.perf_counter() - t
        elif x is not None:
            x = np.array(x, dtype=np.float32, order="C")  # a copy: normalized below
            if x.ndim != 2 or len(x) != n:
                raise QdcError(f"embeddings must have one row per candidate ({n}), got shape {x.shape}")
            x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        cfg = self.config
        inputs = SelectionInputs.build(scores["quality"], scores["complexity"], x, exact_below=cfg.exact_below,
                                       min_cell=cfg.min_cell, max_cells=cfg.max_cells, approx=cfg.approx_index)
        t = time.perf_counter()
        choice = self.strategy.select(inputs, k, seed)
        seconds["select"] = time.perf_counter() - t
        selection = Selection(cfg.strategy, k, seed, choice.chosen, choice, scores, seconds=seconds)
        if metrics and x is not None:
            t = time.perf_counter()
            texts = batch.texts()
            clusters = cluster_labels(x, min(cfg.coverage_clusters, n), seed)
            selection.metrics_before = self.metrics(x, texts, scores, np.arange(n), clusters, seed)
            selection.metrics_after = self.metrics(x, texts, scores, choice.chosen, clusters, seed)
            seconds["metrics"] = time.perf_counter() - t
        return selection

    def metrics(self, x: np.ndarray, texts: Sequence[str], scores: dict[str, np.ndarray], idx: np.ndarray,
                clusters: np.ndarray, seed: int = 0) -> dict[str, float]:
        """Diversity and score means of the rows ``idx`` of the candidates; ``clusters`` is a
        clustering of all candidates, against which cluster coverage is measured."""
        out: dict[str, float] = {"n": float(len(idx))}
        out.update(embedding_metrics(x[idx], self.config.vendi_max_n, seed))
        out.update(distinct_ngrams([texts[i] for i in idx]))
        out["cluster_coverage"] = cluster_coverage(clusters, idx)
        out["quality_mean"] = float(scores["quality"][idx].mean()) if len(idx) else 0.0
        out["complexity_mean"] = float(scores["complexity"][idx].mean()) if len(idx) else 0.0
        return out
