"""A tiny `dataset` task (two-number arithmetic in words, difficulty = number of operations) written as
JSONL, and tiny loop recipes over it."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
WORDS = ["apples", "pens", "cards", "coins", "shells"]


def problem(rng: random.Random, uid: int, level: int) -> dict[str, Any]:
    """``level`` additions on small numbers, with a worked solution ending in #### answer."""
    thing = rng.choice(WORDS)
    start = rng.randint(1, 9)
    adds = [rng.randint(1, 9) for _ in range(level)]
    text = f"Ann has {start} {thing}." + "".join(f" She gets {a} more." for a in adds) + f" How many {thing}?"
    lines, total = [], start
    for a in adds:
        lines.append(f"{total} + {a} = {total + a}")
        total += a
    return {"uid": uid, "question": text, "answer": str(total), "solution": "\n".join(lines) + f"\n#### {total}",
            "difficulty": level}


def write_task(root: Path, n_train: int = 160, n_eval: int = 24, seed: int = 0) -> dict[str, Path]:
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    files = {"train": root / "train.jsonl", "id": root / "id.jsonl", "ood": root / "ood.jsonl"}
    rows = {"train": [problem(rng, i, 1 + i % 3) for i in range(n_train)],
            "id": [problem(rng, 1000 + i, 1 + i % 2) for i in range(n_eval)],
            "ood": [problem(rng, 2000 + i, 3) for i in range(n_eval)]}
    for name, path in files.items():
        path.write_text("".join(json.dumps(r) + "\n" for r in rows[name]))
    return files


def dataset_recipe(files: dict[str, Path], **sections: Any) -> dict[str, Any]:
    """A loop recipe on the tiny task: scratch 2-layer model, BPE tokenizer, hf backend, 1 iteration."""
    recipe: dict[str, Any] = {
        "name": "tiny_dataset",
        "seed": 0,
        "task": {"family": "dataset", "train": str(files["train"]),
                 "eval": {"id": str(files["id"]), "ood": str(files["ood"])},
                 "columns": {"prompt": "question", "answer": "answer", "solution": "solution",
                             "difficulty": "difficulty"},
                 "curriculum": {"start": 3, "advance_when_kept": 0.1},
                 "verifier": {"name": "gsm8k"}, "vocab_size": 300},
        "model": {"hidden": 64, "layers": 2, "heads": 4, "max_positions": 160},
        "generator": {"backend": "hf", "samples_per_prompt": 2, "max_new_tokens": 48},
        "learner": {"batch_size": 16, "lr": 1.0e-3},
        "train": {"max_steps": 30},
        "filter": {"strategy": "deita", "budget": 0.5},
        "loop": {"iterations": 1, "prompts_per_iteration": 12, "learn_steps": 10, "min_train_records": 1,
                 "min_quality": 0.0, "eval": {"n": 12, "diversity_samples": 8, "max_new_tokens": 48}},
        "resources": {"num_cpus": 2},
    }
    for key, value in sections.items():
        recipe[key] = {**recipe.get(key, {}), **value} if isinstance(value, dict) else value
    return recipe


@pytest.fixture(scope="session")
def task_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_task(tmp_path_factory.mktemp("task"))


@pytest.fixture(scope="session")
def user_verifiers() -> Path:
    return HERE / "user_verifiers.py"
