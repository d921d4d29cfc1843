"""95% confidence intervals shared by the probes and the ablation.

Two cases, two methods:
- a seeds x prompts table of per-prompt scores (a probe cell is judged on a fixed set of clean prompts,
  the same in every cell and repeat): a bootstrap that resamples both, each draw picking seeds with
  replacement and prompts with replacement (the same prompt draw for every seed, since the prompts are
  shared). With one seed that is the usual bootstrap over prompts.
- one number per seed (a kept rate, a Vendi score, an ablation's accuracy gain): a Student-t interval.
  A bootstrap over three seeds has only ten distinct resamples and comes out about as wide as the
  seeds' own range, far too narrow; one seed has no interval.
"""

from __future__ import annotations

import math
import statistics
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


def describe(values: Sequence[float]) -> dict[str, float]:
    """Mean, sample standard deviation (0 for one value), min, max and n of one value per seed."""
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values), "n": len(values)}


def t_interval(values: Sequence[float], level: float = LEVEL,
               bounds: tuple[float, float] | None = None) -> tuple[float, float] | None:
    """The ``level`` Student-t interval of the mean of one value per seed, clipped to ``bounds`` (a
    rate's 0-1) where given; None for fewer than two values."""
    if len(values) < 2:
        return None
    from scipy.stats import t

    mean = statistics.fmean(values)
    half = float(t.ppf(0.5 + level / 2.0, len(values) - 1)) * statistics.stdev(values) / math.sqrt(len(values))
    lo, hi = mean - half, mean + half
    if bounds is not None:
        lo, hi = max(lo, bounds[0]), min(hi, bounds[1])
    return lo, hi
