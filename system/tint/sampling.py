"""Seeded input sampling by list length and digit count, and the named splits."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Literal

from system.tint.tasks import Task

SplitName = Literal["id", "ood_length", "ood_digits", "ood_task"]
SPLIT_NAMES: tuple[SplitName, ...] = ("id", "ood_length", "ood_digits", "ood_task")


@dataclass(frozen=True)
class SplitSpec:
    """Inclusive ranges of list length and of digits per number."""

    lengths: tuple[int, int]
    digits: tuple[int, int]


DEFAULT_SPLITS: dict[str, SplitSpec] = {
    "id": SplitSpec(lengths=(2, 5), digits=(1, 2)),
    "ood_length": SplitSpec(lengths=(6, 8), digits=(1, 2)),
    "ood_digits": SplitSpec(lengths=(2, 5), digits=(3, 3)),
    # Held-out tasks are drawn like the ID split: only the task is new.
    "ood_task": SplitSpec(lengths=(2, 5), digits=(1, 2)),
}


def splits_for(task: Task) -> list[str]:
    """Fixed-arity tasks (add, mul) have no longer-list split."""
    return [s for s in SPLIT_NAMES if not (task.arity is not None and s == "ood_length")]


def sample_numbers(rng: random.Random, n: int, digits: tuple[int, int]) -> list[int]:
    """n numbers; each picks a digit count uniformly in the range, then a value with that many digits."""
    out = []
    lo_d, hi_d = digits
    for _ in range(n):
        d = rng.randint(lo_d, hi_d)
        lo = 0 if d == 1 else 10 ** (d - 1)
        out.append(rng.randint(lo, 10**d - 1))
    return out


def sample_input(task: Task, spec: SplitSpec, rng: random.Random) -> list[int]:
    length = task.arity if task.arity is not None else rng.randint(*spec.lengths)
    if task.sampler is not None:
        return task.sampler(rng, length, spec.digits)
    return sample_numbers(rng, length, spec.digits)
