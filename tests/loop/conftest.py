"""A tiny loop recipe (HF backend, 2-layer model) that runs end to end in well under a minute."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

TINY = {
    "name": "tiny",
    "seed": 0,
    "tint": {"tasks": ["sum"], "seed_size": 2000},
    "model": {"hidden": 64, "layers": 2, "heads": 4, "max_positions": 128},
    "generator": {"backend": "hf", "samples_per_prompt": 4, "max_new_tokens": 64},
    "learner": {"batch_size": 32, "lr": 1.0e-3},
    "train": {"max_steps": 60},
    "filter": {"strategy": "deita", "budget": 0.25},
    "loop": {"iterations": 2, "prompts_per_iteration": 24, "learn_steps": 40, "min_train_records": 1,
             "min_quality": 0.0, "eval": {"n": 16, "diversity_samples": 16, "max_new_tokens": 64}},
    "resources": {"num_cpus": 2},
}

TIMING_KEYS = {"generate_s", "filter_s", "learn_s", "sync_s", "eval_s", "wall_s"}


def loop_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    env.pop("RAY_ADDRESS", None)
    return env


@pytest.fixture(scope="session")
def tiny_recipe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("recipes") / "tiny.yaml"
    p.write_text(yaml.safe_dump(TINY))
    return p


@pytest.fixture(scope="module")
def local_ray():
    """A Ray of the test module's own, started as `qdc run` starts it (never one left on the machine)."""
    from actors.placement import start_ray, stop_ray
    from system.loop.config import ResourcesConfig

    start_ray(ResourcesConfig(num_cpus=2), None, verbose=False)
    yield
    stop_ray()


def qdc_run(recipe: Path, *args: str, env: dict[str, str | None] | None = None, **kw) -> subprocess.CompletedProcess:
    """`qdc run` in a subprocess; ``env`` adds variables to loop_env() (None removes one)."""
    full = loop_env()
    for key, value in (env or {}).items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    return subprocess.run([sys.executable, "-m", "system.cli", "run", str(recipe), *args], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=900, **kw)


TRACKER_ENV = ("WANDB_API_KEY", "WANDB_MODE", "WANDB_BASE_URL", "MLFLOW_TRACKING_URI", "MLFLOW_ALLOW_FILE_STORE")


def offline_tracker_env(root: Path) -> dict[str, str | None]:
    """No W&B credentials and no MLflow server: W&B runs offline, MLflow writes into the run directory;
    the libraries' own state stays under ``root``."""
    return {**dict.fromkeys(TRACKER_ENV), "NETRC": str(root / "no_netrc"),
            "WANDB_CONFIG_DIR": str(root / "wandb_config"), "WANDB_CACHE_DIR": str(root / "wandb_cache"),
            "WANDB_DATA_DIR": str(root / "wandb_data")}


@pytest.fixture(scope="session")
def uninterrupted_run(tiny_recipe: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny recipe run once, with every tracker (W&B offline, MLflow in the run directory)."""
    out = tmp_path_factory.mktemp("runs") / "uninterrupted"
    proc = qdc_run(tiny_recipe, "--set", f"run.dir={out}", "--set", "run.trackers=[tensorboard, wandb, mlflow]",
                   env=offline_tracker_env(out.parent))
    assert proc.returncode == 0, proc.stderr[-4000:]
    # what the terminal showed, beside the run directory (for the quiet-terminal test)
    (out.parent / "terminal.stdout").write_text(proc.stdout)
    (out.parent / "terminal.stderr").write_text(proc.stderr)
    return out


def comparable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rows]
