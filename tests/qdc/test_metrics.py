"""Diversity metrics against brute force, and the objectives the greedy strategies optimize."""

from __future__ import annotations

import numpy as np
import pytest

from system.qdc.metrics import (
    cluster_coverage, distinct_ngrams, facility_location_value, kcenter_radius,
    mean_pairwise_cosine_distance, vendi_score,
)
from system.qdc.synthetic import unit_rows


def brute_vendi(x: np.ndarray) -> float:
    k = x.astype(np.float64) @ x.T.astype(np.float64) / len(x)
    eig = np.clip(np.linalg.eigvalsh(k), 0, None)
    p = eig[eig > 1e-12] / eig.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def test_vendi_extremes_and_brute_force() -> None:
    rng = np.random.default_rng(0)
    same = np.tile(unit_rows(rng.standard_normal((1, 16))), (50, 1))
    assert vendi_score(same) == pytest.approx(1.0)
    assert vendi_score(np.eye(10, 32, dtype=np.float32)) == pytest.approx(10.0)
    for n in (20, 300):  # n < d and n > d take different routes
        x = unit_rows(rng.standard_normal((n, 64)))
        assert vendi_score(x) == pytest.approx(brute_vendi(x), rel=1e-6)


def test_vendi_subsamples_large_sets() -> None:
    x = unit_rows(np.random.default_rng(1).standard_normal((4000, 16)))
    full, sub = vendi_score(x), vendi_score(x, max_n=1000, seed=0)
    assert sub == pytest.approx(full, rel=0.05)
    assert sub == vendi_score(x, max_n=1000, seed=0)


def test_mean_pairwise_cosine_distance_matches_brute_force() -> None:
    x = unit_rows(np.random.default_rng(2).standard_normal((60, 8)))
    sims = x.astype(np.float64) @ x.T
    brute = 1 - (sims.sum() - np.trace(sims)) / (60 * 59)
    assert mean_pairwise_cosine_distance(x) == pytest.approx(brute, abs=1e-6)
    assert mean_pairwise_cosine_distance(x[:1]) == 0.0


def test_distinct_ngrams() -> None:
    out = distinct_ngrams(["a b a", "a b"])
    assert out == {"distinct_1": pytest.approx(2 / 5), "distinct_2": pytest.approx(2 / 3)}
    assert distinct_ngrams([]) == {"distinct_1": 0.0, "distinct_2": 0.0}


def test_cluster_coverage() -> None:
    labels = np.array([0, 0, 1, 1, 2, 5])
    assert cluster_coverage(labels, np.array([0, 1])) == pytest.approx(1 / 4)
    assert cluster_coverage(labels, np.arange(6)) == 1.0


def test_objectives_match_brute_force() -> None:
    rng = np.random.default_rng(3)
    x = unit_rows(rng.standard_normal((200, 12)))
    q = rng.random(200)
    chosen = rng.choice(200, size=15, replace=False)
    sims = x @ x[chosen].T
    cover = np.maximum(sims.max(axis=1), 0).sum()
    expected = 0.3 * q[chosen].sum() + 0.7 * 15 / 200 * cover
    assert facility_location_value(x, q, chosen, 0.3) == pytest.approx(expected, rel=1e-5)
    assert kcenter_radius(x, chosen) == pytest.approx(np.sqrt(2 - 2 * sims.max(axis=1).min()), rel=1e-5)
