"""The model/generator/learner/train sections reject bad values naming the field, before any model is built."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from system.config import RecipeError, load_recipe

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "recipes" / "quickstart.yaml"


def test_quickstart_recipe_is_valid() -> None:
    r = load_recipe(QUICKSTART)
    assert r.model.init == "scratch" and r.model.hidden % r.model.heads == 0
    assert r.generator.backend in ("vllm", "hf") and r.learner.world_size >= 1
    assert set(r.tint.tasks) >= {"sum", "max"}


@pytest.mark.parametrize(
    "override,field,words",
    [
        ("generator.backend=tgi", "generator.backend", "unknown generation backend 'tgi'"),
        ("train.eval_backend=onnx", "train.eval_backend", "unknown generation backend 'onnx'"),
        ("learner.zero_stage=4", "learner.zero_stage", "less than or equal to 3"),
        ("learner.zero_stage=-1", "learner.zero_stage", "greater than or equal to 0"),
        ("model.heads=5", "model.heads", "must divide model.hidden (128)"),
        ("model.kv_heads=3", "model.kv_heads", "must divide model.heads"),
        ("learner.world_size=0", "learner.world_size", "greater than or equal to 1"),
        ("generator.top_p=0", "generator.top_p", "greater than 0"),
        ("learner.scheduler=wavy", "learner.scheduler", "cosine"),
        ("model.init=pretrained", "model", "model.path is not set"),
    ],
)
def test_bad_model_sections_name_the_field(override: str, field: str, words: str) -> None:
    with pytest.raises(RecipeError) as err:
        load_recipe(QUICKSTART, [override])
    message = str(err.value)
    assert f"{field}:" in message and words in message, message


@pytest.mark.parametrize(
    "overrides,words",
    [
        (["generator.tensor_parallel_size=2"], "resources.generator_gpus is 0"),
        (["generator.tensor_parallel_size=4", "resources.generator_gpus=2"], "at least 4 GPUs"),
        (["generator.tensor_parallel_size=2", "resources.generator_gpus=2", "generator.backend=hf"],
         "needs generator.backend: vllm"),
        (["generator.tensor_parallel_size=0"], "greater than or equal to 1"),
    ],
)
def test_tensor_parallel_needs_vllm_and_enough_gpus(overrides: list[str], words: str) -> None:
    with pytest.raises(RecipeError) as err:
        load_recipe(QUICKSTART, overrides)
    message = str(err.value)
    assert "generator.tensor_parallel_size" in message and words in message, message


def test_gpu_recipe_tensor_parallel_fits_its_gpus() -> None:
    r = load_recipe(ROOT / "recipes" / "gpu_cluster.yaml",
                    ["generator.tensor_parallel_size=2", "resources.generator_gpus=2"])
    assert r.generator.tensor_parallel_size == 2 and r.resources.generator_gpus == 2


def test_batch_must_split_over_ranks(tmp_path: Path) -> None:
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump({"name": "t", "learner": {"world_size": 2, "batch_size": 33}}))
    with pytest.raises(RecipeError, match="learner.batch_size"):
        load_recipe(p)


def test_bad_recipe_fails_before_building_anything(tmp_path: Path) -> None:
    """`qdc train` with a bad field exits 2 with one line and creates no output folder."""
    import subprocess
    import sys

    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "system.cli", "train", str(QUICKSTART), "--out", str(out), "--set", "model.heads=3"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert proc.returncode == 2 and "model.heads" in proc.stderr and not out.exists()
