"""Tiny probe recipes: a 2-layer hidden-64 model trained for tens of steps (seconds per cell)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]

TINY_PROBE: dict[str, Any] = {
    "name": "tiny-probe",
    "seed": 0,
    "tint": {"tasks": ["max"]},
    "model": {"hidden": 64, "layers": 2, "heads": 4, "max_positions": 256},
    "generator": {"backend": "hf"},
    "learner": {"batch_size": 32, "lr": 2.0e-3},
    "resources": {"num_cpus": 2},
    "probe": {
        "probes": ["finetune"],
        "seeds": [0],
        "eval_n": 12,
        "max_new_tokens": 64,
        "grid": {"kinds": ["static"], "contaminations": [0.0, 1.0], "static_intensities": [0.6]},
        "finetune": {"train_size": 640, "steps": 20, "curve_points": []},
        "prompt": {"base_train_size": 200, "base_steps": 10, "shots": 2},
        "filter": {"strategies": ["random", "top_quality"], "pool_size": 120, "steps": 10},
        "cell_timeout_s": 600,
    },
}


def tiny_probe(**probe: Any) -> dict[str, Any]:
    """The tiny recipe with probe sections changed: a section given as a dict changes only its keys."""
    data = copy.deepcopy(TINY_PROBE)
    for key, value in probe.items():
        old = data["probe"].get(key)
        data["probe"][key] = {**old, **value} if isinstance(old, dict) and isinstance(value, dict) else value
    return data


def write_recipe(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def qdc(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.pop("RAY_ADDRESS", None)
    return subprocess.run([sys.executable, "-m", "system.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
