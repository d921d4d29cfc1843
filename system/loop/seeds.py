"""Seeds derived from the recipe seed, one per (iteration, stage), so that a resumed run repeats
exactly what an uninterrupted run would have done."""

from __future__ import annotations

import hashlib


def stage_seed(base: int, iteration: int, stage: str) -> int:
    digest = hashlib.sha256(f"{base}:{iteration}:{stage}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF
