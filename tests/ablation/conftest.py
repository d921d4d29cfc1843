"""A tiny ablation recipe: the tiny loop (tests/loop/conftest.py) with two strategies, one iteration."""

from __future__ import annotations

import copy
from typing import Any

TINY_ABLATION: dict[str, Any] = {
    "name": "tiny-ablation",
    "seed": 0,
    "tint": {"tasks": ["sum"], "seed_size": 1000},
    "model": {"hidden": 64, "layers": 2, "heads": 4, "max_positions": 128},
    "generator": {"backend": "hf", "samples_per_prompt": 4, "max_new_tokens": 64},
    "learner": {"batch_size": 32, "lr": 1.0e-3},
    "train": {"max_steps": 30},
    "filter": {"budget": 0.25},
    "loop": {"iterations": 1, "prompts_per_iteration": 16, "learn_steps": 20, "min_train_records": 1,
             "min_quality": 0.0, "eval": {"n": 8, "diversity_samples": 8, "max_new_tokens": 64}},
    "resources": {"num_cpus": 2},
    "ablate": {"strategies": ["top_quality", "kcenter"]},
}


def tiny_ablation(**ablate: Any) -> dict[str, Any]:
    data = copy.deepcopy(TINY_ABLATION)
    data["ablate"].update(ablate)
    return data
