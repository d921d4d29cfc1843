"""ProberActor: judges the model's greedy answers (through the task family) and the diversity of its samples."""

from __future__ import annotations

from typing import Any

import ray

from system.config import validate_recipe
from system.logs import redirect_process
from system.loop.evaluation import probe_outputs
from system.tasks import TaskPrompt, family_for


@ray.remote
class ProberActor:
    def __init__(self, recipe: dict[str, Any], log_dir: str | None = None):
        redirect_process(log_dir, "prober")
        r = validate_recipe(recipe)
        self.config = r.filter
        self.family = family_for(r)

    def ready(self) -> bool:
        return True

    def evaluate(self, sets: dict[str, list[TaskPrompt]], greedy: list[str], diversity_prompts: list[TaskPrompt],
                 samples: list[list[str]]) -> dict[str, Any]:
        return probe_outputs(self.family, sets, greedy, diversity_prompts, samples, self.config)
