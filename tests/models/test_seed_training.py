"""Seed training end to end: `qdc train recipes/quickstart.yaml` on CPU, then the checkpoint through
both backends and `qdc eval`. The model is trained once per session (conftest `seed_run`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from system.config import load_recipe
from system.tasks.evaluation import greedy_completions
from system.tasks.tint_family import eval_records
from system.tint import verify

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "recipes" / "quickstart.yaml"
TARGET = 0.90

pytestmark = pytest.mark.slow


def _recipe(seed_run: dict[str, Any]) -> Any:
    """The recipe as the seed run resolved it (qdc train writes it next to the model)."""
    return load_recipe(seed_run["out"] / "recipe.yaml")


def test_seed_model_solves_two_tasks_in_distribution(seed_run: dict[str, Any]) -> None:
    acc = seed_run["eval"]
    recipe = _recipe(seed_run)
    assert set(acc) == set(recipe.train.eval_splits)
    assert set(acc["id"]) == set(recipe.tint.tasks) and set(acc["ood_task"]) == set(recipe.tint.ood_tasks)
    solved = [task for task, a in acc["id"].items() if a >= TARGET]
    assert len(solved) >= 2 and {"sum", "max"} <= set(solved), acc
    metrics = seed_run["metrics"]
    assert metrics["steps"] == recipe.train.max_steps and metrics["parameters"] > 100_000
    assert (seed_run["model_dir"] / "model.safetensors").is_file()
    assert (seed_run["model_dir"] / "tokenizer.json").is_file()
    assert "accuracy" in seed_run["stderr"]  # progress and results went to the terminal


def test_vllm_and_hf_give_the_same_greedy_answers(seed_run: dict[str, Any], vllm_engine: Any,
                                                  hf_seed_backend: Any) -> None:
    recipe = _recipe(seed_run)
    records = [r for task in recipe.tint.tasks for r in eval_records(recipe.tint, task, "id", recipe.seed)]
    prompts = [r["prompt"] for r in records]
    from_vllm = greedy_completions(vllm_engine, prompts, 160)
    from_hf = greedy_completions(hf_seed_backend, prompts, 160)
    same = sum(a == b for a, b in zip(from_vllm, from_hf)) / len(prompts)
    assert same >= 0.98, [(p, a, b) for p, a, b in zip(prompts, from_vllm, from_hf) if a != b][:5]
    # and the hf answers are the ones eval.json was computed from
    hf_acc = {task: 0.0 for task in recipe.tint.tasks}
    for r, text in zip(records, from_hf):
        hf_acc[r["task"]] += verify(r["task"], r["input"], text).answer_correct / recipe.tint.eval_size
    assert all(abs(hf_acc[t] - seed_run["eval"]["id"][t]) < 1e-9 for t in hf_acc)


def test_qdc_eval_prints_accuracy_and_writes_verdicts(seed_run: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "sum.jsonl"
    n = _recipe(seed_run).tint.eval_size
    proc = subprocess.run(
        [sys.executable, "-m", "system.cli", "eval", str(seed_run["model_dir"]), "--backend", "hf",
         "--task", "sum", "--split", "id", "--n", str(n), "--seed", "0", "--out", str(out)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["n"] == n and result["accuracy"] == seed_run["eval"]["id"]["sum"]
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(lines) == n and {"prompt", "completion", "verdict"} <= set(lines[0])
    assert sum(x["verdict"]["answer_correct"] for x in lines) == result["correct"]


def test_qdc_eval_with_the_vllm_backend(seed_run: dict[str, Any]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "system.cli", "eval", str(seed_run["model_dir"]), "--backend", "vllm",
         "--task", "max", "--split", "id", "--n", "40"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["n"] == 40 and result["backend"] == "vllm" and result["accuracy"] >= TARGET - 0.1


@pytest.mark.parametrize(
    "args,words",
    [
        (["--backend", "tgi", "--task", "sum"], "unknown generation backend"),
        (["--backend", "hf", "--task", "fly"], "unknown TInt task"),
        (["--backend", "hf", "--task", "add", "--split", "ood_length"], "has the splits"),
    ],
)
def test_qdc_eval_user_errors(seed_run: dict[str, Any], args: list[str], words: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "system.cli", "eval", str(seed_run["model_dir"]), *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert proc.returncode == 2 and words in proc.stderr
