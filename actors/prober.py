"""ProberActor: scores the model's greedy answers and the diversity of its samples."""

from __future__ import annotations

from typing import Any

import ray

from system.loop.evaluation import probe_outputs
from system.qdc.config import FilterConfig


@ray.remote
class ProberActor:
    def __init__(self, filter_config: dict[str, Any]):
        self.config = FilterConfig.model_validate(filter_config)

    def ready(self) -> bool:
        return True

    def evaluate(self, sets: dict[str, list[dict[str, Any]]], greedy: list[str], samples: list[str]) -> dict[str, Any]:
        return probe_outputs(sets, greedy, samples, self.config)
