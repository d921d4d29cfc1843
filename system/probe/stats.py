"""Confidence intervals for probe results: a bootstrap over evaluation prompts and seeds.

A probe cell is judged on a fixed set of clean prompts (the same prompts in every cell and repeat),
so a group of repeats is a seeds x prompts table of per-prompt scores. Its 95% interval resamples
both: each bootstrap draw picks seeds with replacement and prompts with replacement (the same prompt
draw for every seed, since the prompts are shared) and takes the mean of the resampled table. With one
seed that is the usual bootstrap over prompts; where no per-prompt scores exist (a kept rate, a Vendi
score) only seeds are resampled, and one seed has no interval.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

DRAWS = 2000
LEVEL = 0.95


def _percentiles(stats: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(stats, [tail, 1.0 - tail])
    return float(lo), float(hi)


def bootstrap_mean_ci(table: Sequence[Sequence[float]], *, draws: int = DRAWS, level: float = LEVEL,
                      seed: int = 0) -> tuple[float, float]:
    """95% (``level``) percentile interval of the mean of a seeds x prompts table, resampling seeds and
    prompts. Rows of unequal length (prompt sets that differ by seed) are resampled each on its own."""
    rows = [np.asarray(r, dtype=np.float64) for r in table if len(r)]
    if not rows:
        raise ValueError("a bootstrap needs at least one non-empty row")
    rng = np.random.default_rng(seed)
    n_seeds = len(rows)
    seed_counts = rng.multinomial(n_seeds, np.full(n_seeds, 1.0 / n_seeds), size=draws)  # (draws, seeds)
    if len({len(r) for r in rows}) == 1:
        m = np.stack(rows)  # (seeds, prompts)
        n_prompts = m.shape[1]
        prompt_counts = rng.multinomial(n_prompts, np.full(n_prompts, 1.0 / n_prompts), size=draws)
        stats = ((seed_counts @ m) * prompt_counts).sum(axis=1) / (n_seeds * n_prompts)
    else:
        row_means = np.empty((draws, n_seeds))
        for k, r in enumerate(rows):
            counts = rng.multinomial(len(r), np.full(len(r), 1.0 / len(r)), size=draws)
            row_means[:, k] = counts @ r / len(r)
        stats = (seed_counts * row_means).sum(axis=1) / n_seeds
    return _percentiles(stats, level)


def bootstrap_seeds_ci(values: Sequence[float], *, draws: int = DRAWS, level: float = LEVEL,
                       seed: int = 0) -> tuple[float, float] | None:
    """Percentile interval of the mean over seeds, resampling seeds; None for fewer than two values."""
    if len(values) < 2:
        return None
    return bootstrap_mean_ci([[v] for v in values], draws=draws, level=level, seed=seed)
