"""Diversity metrics of a set of embeddings or texts, and the objectives the greedy strategies optimize.

* Vendi score: exp(entropy of the eigenvalues of K/n), K the cosine-similarity matrix. For unit
  rows K = X X^T, whose non-zero eigenvalues are those of X^T X (d x d), so the exact score costs
  O(n d^2), not O(n^3); sets above ``max_n`` are subsampled (seeded) all the same.
* Mean pairwise cosine distance: exact in O(n d) from the sum of the rows.
* Distinct n-grams: unique word n-grams / all word n-grams (distinct-1, distinct-2).
* Cluster coverage: share of the candidates' k-means clusters that the selection touches.
"""

from __future__ import annotations

from typing import Sequence

import faiss
import numpy as np

from system.qdc.index import kmeans, nearest_centroids

SEARCH_BLOCK = 65_536


def vendi_score(x: np.ndarray, max_n: int = 50_000, seed: int = 0) -> float:
    """1 for identical rows, up to min(n, d) for orthogonal ones: the effective number of distinct items."""
    n = len(x)
    if n == 0:
        return 0.0
    if n > max_n:
        x = x[np.sort(np.random.default_rng(seed).choice(n, size=max_n, replace=False))]
    x = np.asarray(x, dtype=np.float64)
    gram = x.T @ x if x.shape[0] > x.shape[1] else x @ x.T
    eig = np.clip(np.linalg.eigvalsh(gram / x.shape[0]), 0.0, None)
    total = eig.sum()
    if total <= 0:
        return 0.0
    p = eig[eig > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))


def mean_pairwise_cosine_distance(x: np.ndarray) -> float:
    """1 - mean cosine similarity over all pairs i != j (unit rows)."""
    n = len(x)
    if n < 2:
        return 0.0
    s = np.asarray(x, dtype=np.float64).sum(axis=0)
    sq_norms = float(np.einsum("ij,ij->", x, x, dtype=np.float64))
    return float(1.0 - (s @ s - sq_norms) / (n * (n - 1)))


def distinct_ngrams(texts: Sequence[str], sizes: Sequence[int] = (1, 2)) -> dict[str, float]:
    """distinct-k for each k: unique whitespace-token k-grams over all k-grams in the texts."""
    out: dict[str, float] = {}
    tokenized = [t.split() for t in texts]
    for k in sizes:
        seen: set[tuple[str, ...]] = set()
        total = 0
        for toks in tokenized:
            grams = [tuple(toks[i:i + k]) for i in range(len(toks) - k + 1)]
            total += len(grams)
            seen.update(grams)
        out[f"distinct_{k}"] = len(seen) / total if total else 0.0
    return out


def cluster_labels(x: np.ndarray, n_clusters: int, seed: int = 0) -> np.ndarray:
    """k-means cluster of every row (the reference clustering for coverage)."""
    return nearest_centroids(x, kmeans(x, n_clusters, seed), 1)[:, 0]


def cluster_coverage(labels: np.ndarray, chosen: np.ndarray) -> float:
    """Share of the clusters present among the candidates that hold at least one chosen item."""
    present = np.unique(labels)
    if len(present) == 0:
        return 0.0
    return float(len(np.unique(labels[chosen])) / len(present))


def embedding_metrics(x: np.ndarray, max_n: int = 50_000, seed: int = 0) -> dict[str, float]:
    return {"vendi": vendi_score(x, max_n, seed), "mean_cosine_distance": mean_pairwise_cosine_distance(x)}


# ------------------------------------------------------------------------------------------------
# objectives (exact, evaluated with FAISS flat search against the chosen set)


def nearest_chosen_similarity(x: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    """Every row's highest cosine similarity to a chosen row (exact)."""
    index = faiss.IndexFlatIP(x.shape[1])
    index.add(np.ascontiguousarray(x[chosen], dtype=np.float32))
    out = np.empty(len(x), dtype=np.float32)
    for lo in range(0, len(x), SEARCH_BLOCK):
        sims, _ = index.search(np.ascontiguousarray(x[lo:lo + SEARCH_BLOCK], dtype=np.float32), 1)
        out[lo:lo + SEARCH_BLOCK] = sims[:, 0]
    return out


def facility_location_value(x: np.ndarray, quality: np.ndarray, chosen: np.ndarray, alpha: float,
                            budget: int | None = None) -> float:
    """alpha * sum of chosen quality + (1 - alpha) * (k / n) * sum over all rows of max(0, best similarity)."""
    k = len(chosen) if budget is None else budget
    coverage = float(np.maximum(nearest_chosen_similarity(x, chosen), 0.0).sum(dtype=np.float64))
    return float(alpha * quality[chosen].sum() + (1.0 - alpha) * k / len(x) * coverage)


def kcenter_radius(x: np.ndarray, chosen: np.ndarray) -> float:
    """Largest Euclidean distance from any row to its nearest chosen row (unit rows)."""
    worst = float(nearest_chosen_similarity(x, chosen).min())
    return float(np.sqrt(max(0.0, 2.0 - 2.0 * worst)))
