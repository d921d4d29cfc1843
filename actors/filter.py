"""FilterActor: the QDC filter (scorers, embedder, strategy) in its own process."""

from __future__ import annotations

from typing import Any

import ray

from actors.common import set_threads
from system.loop.selection import LoopSelection, select_candidates
from system.qdc.config import FilterConfig


@ray.remote
class FilterActor:
    def __init__(self, config: dict[str, Any], threads: int | None = None):
        set_threads(threads)
        self.config = FilterConfig.model_validate(config)

    def ready(self) -> bool:
        return True

    def select(self, candidates: list[dict[str, Any]], seed: int, min_quality: float) -> LoopSelection:
        return select_candidates(self.config, candidates, seed, min_quality)
