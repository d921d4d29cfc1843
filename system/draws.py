"""Seeded draws that cycle through a pool: whole passes in fresh random orders, then part of one."""

from __future__ import annotations

import random
from typing import Sequence, TypeVar

T = TypeVar("T")


def passes(pool: Sequence[T], n: int, rng: random.Random) -> list[T]:
    """``n`` items of ``pool``: whole passes in fresh random orders, then a random part of one
    (every item is used equally often, up to one)."""
    out: list[T] = []
    while pool and len(out) < n:
        order = list(pool)
        rng.shuffle(order)
        out.extend(order[: n - len(out)])
    return out
