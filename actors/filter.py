"""FilterActor: the task family's verdicts and the QDC filter (scorers, embedder, strategy) in its own process."""

from __future__ import annotations

from typing import Any

import ray

from actors.common import set_threads
from system.config import validate_recipe
from system.logs import redirect_process
from system.loop.selection import LoopSelection, filter_stage
from system.tasks import family_for


@ray.remote
class FilterActor:
    def __init__(self, recipe: dict[str, Any], threads: int | None = None, log_dir: str | None = None):
        redirect_process(log_dir, "filter")
        set_threads(threads)
        r = validate_recipe(recipe)
        self.config = r.filter
        self.family = family_for(r)

    def ready(self) -> bool:
        return True

    def select(self, candidates: list[dict[str, Any]], seed: int, min_quality: float) -> LoopSelection:
        return filter_stage(self.family, self.config, candidates, seed, min_quality)
