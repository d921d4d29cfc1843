"""Shared data for the QDC tests: clustered embeddings with known structure and TInt candidates."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

import system.qdc  # noqa: F401  (sets OMP_WAIT_POLICY before FAISS loads)
from system.qdc.synthetic import clustered_embeddings
from system.tint import NoiseSpec, sample_records


@dataclass
class Clustered:
    x: np.ndarray
    labels: np.ndarray
    quality: np.ndarray
    complexity: np.ndarray
    n_clusters: int


def make_clustered(n: int, n_clusters: int, seed: int = 0, spread: float = 0.6) -> Clustered:
    """Quality is high in three clusters only, so a quality-only selection stays in those three."""
    x, labels = clustered_embeddings(n, 48, n_clusters, spread=spread, seed=seed)
    rng = np.random.default_rng(seed + 1)
    quality = np.where(labels < 3, 0.9, 0.4) + 0.1 * rng.random(n)
    complexity = 0.5 + 0.5 * rng.random(n)
    return Clustered(x, labels, quality, complexity, n_clusters)


@pytest.fixture(scope="session")
def clustered() -> Clustered:
    return make_clustered(1500, 20)


def tint_candidates(k: int = 4, prompts_per_task: int = 25, seed: int = 0) -> list[dict]:
    """k samples per prompt, as a generator would give them: some clean, some with static or dynamic noise."""
    records: list[dict] = []
    kinds = [NoiseSpec(), NoiseSpec("dynamic", 1.0, 0.4), NoiseSpec("static", 1.0, 0.3), NoiseSpec()]
    for task in ("sum", "max", "sort"):
        for sample in range(k):
            noise = kinds[sample % len(kinds)]
            for pid, record in enumerate(sample_records(task, "id", prompts_per_task, seed, noise)):
                record["prompt_id"] = f"{task}-{pid}"
                records.append(record)
    return records


@pytest.fixture(scope="session")
def tint_records() -> list[dict]:
    """The candidates with the TInt family's verdict columns, as the loop's filter stage scores them."""
    from system.tasks.tint_family import TintFamily
    from system.tasks.verdicts import judge_candidates

    return judge_candidates(TintFamily.default(), tint_candidates())
