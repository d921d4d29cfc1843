"""Embeddings with known structure, for tests and benchmarks: Gaussian clusters on the unit sphere."""

from __future__ import annotations

import numpy as np

CHUNK = 65_536


def unit_rows(x: np.ndarray) -> np.ndarray:
    return (x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def clustered_embeddings(n: int, dim: int, n_clusters: int, *, spread: float = 1.0, seed: int = 0
                         ) -> tuple[np.ndarray, np.ndarray]:
    """(x, labels): n unit vectors around ``n_clusters`` random unit centres, cluster sizes uniform at random.

    Noise has norm ~``spread``, so two points of one cluster have cosine ~1/(1+spread^2) and points of
    different clusters ~0. Built in chunks, so 1M x 384 needs little more than the 1.5 GB it returns.
    """
    rng = np.random.default_rng(seed)
    centres = unit_rows(rng.standard_normal((n_clusters, dim)))
    labels = rng.integers(0, n_clusters, size=n)
    x = np.empty((n, dim), dtype=np.float32)
    scale = np.float32(spread / np.sqrt(dim))
    for start in range(0, n, CHUNK):
        stop = min(n, start + CHUNK)
        block = rng.standard_normal((stop - start, dim), dtype=np.float32)
        block *= scale
        block += centres[labels[start:stop]]
        x[start:stop] = unit_rows(block)
    return x, labels


def plant_duplicates(x: np.ndarray, n_dups: int, *, noise: float = 0.01, seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Append ``n_dups`` near-copies of distinct random rows; returns (x with copies, (n_dups, 2) [original, copy])."""
    rng = np.random.default_rng(seed)
    originals = rng.choice(x.shape[0], size=n_dups, replace=False)
    copies = x[originals] + (noise / np.sqrt(x.shape[1])) * rng.standard_normal((n_dups, x.shape[1]))
    out = np.concatenate([x, unit_rows(copies)])
    pairs = np.stack([originals, np.arange(x.shape[0], x.shape[0] + n_dups)], axis=1)
    return out, pairs
