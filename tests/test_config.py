"""Recipes are validated before anything runs; errors name the file and the dotted field."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from system.config import Recipe, RecipeError, apply_override, load_recipe

ROOT = Path(__file__).resolve().parents[1]
QDC = [sys.executable, "-m", "system.cli"]


def write(tmp_path: Path, data: dict) -> Path:
    p = tmp_path / "r.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def test_defaults_and_overrides_with_type_coercion(tmp_path: Path) -> None:
    p = write(tmp_path, {"name": "t", "tint": {"tasks": ["sum"]}})
    r = load_recipe(p, ["seed=7", "tint.noise.intensity=0.4", "tint.tasks=[sum, max]", "tint.noise.kind=dynamic",
                        "tint.splits.id.lengths=[2, 3]"])
    assert r.seed == 7 and r.tint.noise.intensity == 0.4 and r.tint.tasks == ["sum", "max"]
    assert r.tint.splits["id"].lengths == (2, 3)
    assert r.tint.splits["ood_length"].lengths == (6, 8)  # untouched splits keep their defaults
    spec = r.tint.noise.spec()  # the study's noise definitions unless the recipe says otherwise
    assert (spec.kind, spec.intensity, spec.static_draw, spec.dynamic_unit) == ("dynamic", 0.4, "uniform", "digit")


def test_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    p = tmp_path / "my_recipe.yaml"
    p.write_text("seed: 1\n")
    assert load_recipe(p).name == "my_recipe"


@pytest.mark.parametrize(
    "override,field,words",
    [
        ("tint.nosie.kind=static", "tint.nosie", "unknown key"),
        ("tint.seed_size=lots", "tint.seed_size", "integer"),
        ("tint.noise.intensity=1.5", "tint.noise.intensity", "less than or equal to 1"),
        ("tint.noise.contamination=-0.1", "tint.noise.contamination", "greater than or equal to 0"),
        ("tint.noise.kind=loud", "tint.noise.kind", "'none', 'static' or 'dynamic'"),
        ("tint.noise.static_draw=gaussian", "tint.noise.static_draw", "'uniform' or 'different'"),
        ("tint.noise.dynamic_unit=bit", "tint.noise.dynamic_unit", "'digit' or 'step'"),
        ("tint.tasks=[sum, fly]", "tint.tasks", "unknown TInt task"),
        ("tint.splits.id.lengths=[5, 2]", "tint.splits.id.lengths", "low <= high"),
    ],
)
def test_bad_values_name_the_dotted_field(tmp_path: Path, override: str, field: str, words: str) -> None:
    p = write(tmp_path, {"name": "t"})
    with pytest.raises(RecipeError) as err:
        load_recipe(p, [override])
    message = str(err.value)
    assert str(p) in message and f"{field}:" in message and words in message


def test_unreadable_recipes(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match="not found"):
        load_recipe(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tint: [1, 2\n")
    with pytest.raises(RecipeError, match="not valid YAML"):
        load_recipe(bad)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("3\n")
    with pytest.raises(RecipeError, match="mapping"):
        load_recipe(scalar)


def test_set_needs_key_and_value() -> None:
    with pytest.raises(RecipeError, match="key.path=value"):
        apply_override({}, "novalue")
    with pytest.raises(RecipeError, match="not a section"):
        apply_override({"seed": 1}, "seed.x=2")


@pytest.mark.parametrize(
    "args,field",
    [
        (["--set", "tint.bogus=1"], "tint.bogus: unknown key"),
        (["--set", "seed=abc"], "seed: Input should be a valid integer"),
        (["--set", "tint.noise.intensity=2"], "tint.noise.intensity:"),
    ],
)
def test_cli_reports_recipe_errors_and_exits_nonzero(tmp_path: Path, args: list[str], field: str) -> None:
    p = write(tmp_path, {"name": "t"})
    proc = subprocess.run(QDC + ["config", str(p), *args], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert field in proc.stderr
    assert proc.stdout == ""


def test_cli_prints_the_resolved_recipe(tmp_path: Path) -> None:
    p = write(tmp_path, {"name": "t"})
    proc = subprocess.run(QDC + ["config", str(p), "--set", "tint.noise.kind=static"], capture_output=True,
                          text=True, cwd=ROOT, check=True)
    resolved = yaml.safe_load(proc.stdout)
    assert resolved["tint"]["noise"]["kind"] == "static"
    assert Recipe.model_validate(resolved).name == "t"


@pytest.mark.parametrize("path", sorted((ROOT / "recipes").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_recipe_validates(path: Path) -> None:
    load_recipe(path)


def test_vllm_head_size_is_checked_before_any_engine_starts(tmp_path: Path) -> None:
    p = write(tmp_path, {"name": "t", "model": {"hidden": 64, "heads": 4}, "generator": {"backend": "vllm"}})
    with pytest.raises(RecipeError, match="head size vLLM's CPU attention does not support"):
        load_recipe(p)
    assert load_recipe(p, ["generator.backend=hf", "train.eval_backend=hf"]).model.heads == 4
    assert load_recipe(p, ["model.heads=2"]).model.heads == 2


def test_a_key_given_twice_is_an_error_not_silently_overridden(tmp_path: Path) -> None:
    p = tmp_path / "dup.yaml"
    p.write_text("name: t\ngenerator:\n  backend: hf\nseed: 1\ngenerator:\n  temperature: 0.5\n")
    with pytest.raises(RecipeError, match="'generator' appears twice"):
        load_recipe(p)
