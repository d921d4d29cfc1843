"""FAISS for every nearest-neighbour question the filter asks; this module alone decides exact vs approximate.

Embeddings are float32 and L2-normalized, so inner product is cosine similarity and squared
Euclidean distance is ``2 - 2 cos``.

Below ``exact_below`` candidates the plan is exact: a flat inner-product index and one "cell" that
holds everything, so the greedy strategies run their textbook O(n^2) or O(n k) form. Above it the
plan is approximate: spherical k-means splits the candidates into cells; searches go through an
IVF index over those cells (or HNSW, if asked), and the greedy strategies work cell by cell,
which is what keeps a million candidates near-linear in n.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import faiss
import numpy as np

ApproxKind = Literal["ivf", "hnsw"]
KMEANS_ITERS = 10
KMEANS_POINTS_PER_CENTROID = 32  # training sample per centroid (at least MIN_TRAIN_POINTS in all)
MAX_CELL_FACTOR = 3  # a k-means cell bigger than this many cell_size is split again
MIN_TRAIN_POINTS = 16_384
MIN_PROBES = 8  # kcenter's cross-cell coverage needs them as much as IVF recall does


@dataclass(frozen=True)
class IndexPlan:
    """How candidates are indexed: derived from n by :func:`plan_index`, nowhere else."""

    n: int
    dim: int
    exact: bool
    kind: Literal["flat", "ivf", "hnsw"]
    nlist: int  # cells (1 when exact)
    nprobe: int  # cells visited per IVF query (and cells a kcenter centre covers)
    cell_size: int  # points per cell, on average
    hnsw_m: int = 16
    hnsw_ef_search: int = 64


def plan_index(n: int, dim: int, *, exact_below: int = 10_000, min_cell: int = 128, max_cells: int = 1024,
               approx: ApproxKind = "ivf") -> IndexPlan:
    """Exact below ``exact_below`` points. Otherwise n / min_cell k-means cells, at most ``max_cells``;
    IVF visits nprobe ~ sqrt(nlist)/4 cells (at least 8), HNSW uses M=16 and efSearch ~ 8 log2 n.

    Small cells keep neighbours together: with fewer cells than the data has clusters, k-means
    cuts clusters apart and every cell-local step suffers. The cap bounds the cost of assigning
    points to cells (n * nlist * d): ~7 s for 1M x 384-d into 1024 cells on 2 cores.
    """
    if n < 1 or dim < 1:
        raise ValueError(f"an index needs n >= 1 and dim >= 1, got n={n}, dim={dim}")
    if n < exact_below:
        return IndexPlan(n, dim, True, "flat", 1, 1, n)
    nlist = max(2, min(max_cells, math.ceil(n / min_cell)))
    nprobe = min(nlist, max(MIN_PROBES, math.ceil(math.sqrt(nlist) / 4)))
    ef = max(32, 8 * math.ceil(math.log2(n)))
    return IndexPlan(n, dim, False, approx, nlist, nprobe, math.ceil(n / nlist), hnsw_ef_search=ef)


@dataclass
class Partition:
    """Candidates split into cells (k-means on the unit sphere); one cell when the plan is exact."""

    centroids: np.ndarray  # (C, d) float32, unit norm
    assign: np.ndarray  # (n,) int64: the cell of each point
    probes: np.ndarray  # (n, nprobe) int64: the nearest cells of each point, its own first
    cells: list[np.ndarray]  # member indices per non-empty cell, ascending; its id is assign[cell[0]]

    @property
    def n_cells(self) -> int:
        return len(self.cells)


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


def kmeans(x: np.ndarray, k: int, seed: int, niter: int = KMEANS_ITERS) -> np.ndarray:
    """Spherical k-means centroids (k, d), trained on a seeded subsample (faiss draws it)."""
    k = max(1, min(k, x.shape[0]))
    per_centroid = max(KMEANS_POINTS_PER_CENTROID, math.ceil(MIN_TRAIN_POINTS / k))
    km = faiss.Kmeans(x.shape[1], k, niter=niter, seed=seed, spherical=True, verbose=False,
                      max_points_per_centroid=per_centroid, min_points_per_centroid=1)
    km.train(x)
    return _unit(km.centroids)


def nearest_centroids(x: np.ndarray, centroids: np.ndarray, k: int = 1) -> np.ndarray:
    """(n, k) ids of the k most similar centroids of every row (exact)."""
    index = faiss.IndexFlatIP(centroids.shape[1])
    index.add(centroids)
    _, ids = index.search(x, min(k, centroids.shape[0]))
    return ids.astype(np.int64)


def _cells_of(assign: np.ndarray, n_cells: int) -> list[np.ndarray]:
    order = np.argsort(assign, kind="stable")
    bounds = np.searchsorted(assign[order], np.arange(n_cells + 1))
    return [order[bounds[c]:bounds[c + 1]] for c in range(n_cells)]


def make_partition(x: np.ndarray, plan: IndexPlan, seed: int) -> Partition:
    n = x.shape[0]
    if plan.exact:
        centroid = _unit(x.mean(axis=0, dtype=np.float64)[None, :])
        zeros = np.zeros(n, dtype=np.int64)
        return Partition(centroid, zeros, zeros[:, None], [np.arange(n)])
    centroids = kmeans(x, plan.nlist, seed)
    probes = nearest_centroids(x, centroids, plan.nprobe)
    assign = probes[:, 0].copy()
    cells = _cells_of(assign, centroids.shape[0])
    max_cell = MAX_CELL_FACTOR * plan.cell_size
    if any(len(c) > max_cell for c in cells):
        centroids, probes, assign = _split_large_cells(x, centroids, probes, assign, cells, plan, seed)
        cells = _cells_of(assign, centroids.shape[0])
    # Empty cells (k-means leaves a few) are dropped from the cell list but keep their centroid ids.
    return Partition(centroids, assign, probes, [c for c in cells if len(c)])


def _split_large_cells(x: np.ndarray, centroids: np.ndarray, probes: np.ndarray, assign: np.ndarray,
                       cells: list[np.ndarray], plan: IndexPlan, seed: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """k-means inside every oversized cell; its first sub-centroid keeps the old id, the rest are new."""
    new_centroids = [centroids]
    next_id = centroids.shape[0]
    touched: list[np.ndarray] = []
    for cid, members in enumerate(cells):
        if len(members) <= MAX_CELL_FACTOR * plan.cell_size:
            continue
        sub = kmeans(x[members], math.ceil(len(members) / plan.cell_size), seed + cid + 1)
        local = nearest_centroids(x[members], sub, 1)[:, 0]
        centroids[cid] = sub[0]
        ids = np.concatenate([[cid], np.arange(next_id, next_id + len(sub) - 1)])
        assign[members] = ids[local]
        new_centroids.append(sub[1:])
        next_id += len(sub) - 1
        touched.append(members)
    all_centroids = np.ascontiguousarray(np.concatenate(new_centroids), dtype=np.float32)
    moved = np.concatenate(touched)
    probes[moved] = nearest_centroids(x[moved], all_centroids, probes.shape[1])
    probes[moved, 0] = assign[moved]
    return all_centroids, probes, assign


# ------------------------------------------------------------------------------------------------
# searchable indexes


def new_index(plan: IndexPlan, partition: Partition | None = None) -> faiss.Index:
    """An empty inner-product index of the planned kind. IVF reuses the partition's centroids."""
    if plan.kind == "flat":
        return faiss.IndexFlatIP(plan.dim)
    if plan.kind == "hnsw":
        index = faiss.IndexHNSWFlat(plan.dim, plan.hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = plan.hnsw_ef_search
        return index
    if partition is None:
        raise ValueError("an IVF index needs the partition whose centroids it uses")
    quantizer = faiss.IndexFlatIP(plan.dim)
    quantizer.add(partition.centroids)
    index = faiss.IndexIVFFlat(quantizer, plan.dim, partition.centroids.shape[0], faiss.METRIC_INNER_PRODUCT)
    index.train(partition.centroids)  # the quantizer is already full: nothing is re-clustered
    index.nprobe = min(plan.nprobe, partition.centroids.shape[0])
    return index  # faiss's Python wrapper keeps the quantizer alive with the index


def search(index: faiss.Index, queries: np.ndarray, k: int, probes: np.ndarray | None = None
           ) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, ids) of the k nearest stored vectors; ids are -1 where fewer exist.

    With an IVF index and the queries' precomputed ``probes`` the coarse search is skipped.
    """
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if index.ntotal == 0:
        return (np.full((len(queries), k), -np.inf, dtype=np.float32), np.full((len(queries), k), -1, dtype=np.int64))
    if probes is not None and isinstance(index, faiss.IndexIVF) and probes.shape[1] >= index.nprobe:
        iq = np.ascontiguousarray(probes[:, : index.nprobe], dtype=np.int64)
        sims, ids = index.search_preassigned(queries, k, iq, None)
    else:
        sims, ids = index.search(queries, k)
    return sims, ids.astype(np.int64)


def add(index: faiss.Index, vectors: np.ndarray, cells: np.ndarray | None = None) -> None:
    """Append vectors (ids continue from ntotal). An IVF index takes each vector's known cell when
    given, so stored vectors and queries probed with the partition's cells agree."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if cells is not None and isinstance(index, faiss.IndexIVF):
        keys = np.ascontiguousarray(cells, dtype=np.int64)
        index.add_core(len(vectors), faiss.swig_ptr(vectors), None, faiss.swig_ptr(keys))
    else:
        index.add(vectors)


def build_index(x: np.ndarray, plan: IndexPlan, partition: Partition | None = None) -> faiss.Index:
    index = new_index(plan, partition)
    index.add(np.ascontiguousarray(x, dtype=np.float32))
    return index
