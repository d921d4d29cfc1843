"""What trained cells share: train a fresh model under test on some records, and judge greedy
answers to clean prompts with the TInt verifier (exact answer, step validity, chain consistency).

Cells train on one rank without DeepSpeed (a cell is one small job; the grid is the parallelism) and
evaluate with the `hf` backend (no engine start per cell).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:
    from system.config import Recipe
    from system.models.generation.base import GenerationBackend

Record = dict[str, Any]


def cell_learner_config(recipe: "Recipe", threads: int) -> Any:
    from system.models.config import LearnerConfig

    data = recipe.learner.model_dump()
    data.update(world_size=1, zero_stage=None, threads_per_rank=threads, grad_accum=1)
    return LearnerConfig.model_validate(data)


def clean_eval_sets(recipe: "Recipe", task: str, splits: Sequence[str]) -> dict[str, list[Record]]:
    """The fixed clean evaluation prompts of ``task``: recipe.probe.eval_n per split the task has,
    drawn from the recipe seed (not the cell's), so every cell and repeat is judged on the same prompts."""
    from system.tasks.tint_family import eval_records
    from system.tint import get_task, splits_for

    available = splits_for(get_task(task))
    return {s: eval_records(recipe.tint, task, s, recipe.seed, recipe.probe.eval_n) for s in splits if s in available}


def judge(records: Sequence[Mapping[str, Any]], completions: Sequence[str]) -> dict[str, Any]:
    """Exact-answer accuracy, mean step validity and the share of fully valid traces, and the same three
    per prompt (`per_prompt`, in the records order: what confidence intervals resample)."""
    from system.tasks.evaluation import accuracy_table
    from system.tasks.tint_family import TintFamily, tint_prompt

    prompts = [tint_prompt(r, str(i)) for i, r in enumerate(records)]
    verdicts = TintFamily.default().verify(prompts, completions)
    table = accuracy_table(prompts, verdicts)
    n = table["n"]
    valid = [int(v.signals["steps_valid"] == 1.0 and bool(v.signals["chain_consistent"])) for v in verdicts]
    return {"n": n, "accuracy": table["accuracy"], "steps_valid": table.get("steps_valid", 0.0),
            "valid_trace": sum(valid) / n if n else 0.0, "by_length": table["by_level"],
            "per_prompt": {"accuracy": [int(v.correct) for v in verdicts],
                           "steps_valid": [round(float(v.signals["steps_valid"]), 4) for v in verdicts],
                           "valid_trace": valid}}


def greedy(backend: "GenerationBackend", prompts: Sequence[str], max_new_tokens: int) -> list[str]:
    from system.tasks.evaluation import greedy_completions

    return greedy_completions(backend, list(prompts), max_new_tokens)


def evaluate_model(recipe: "Recipe", model_dir: Path, task: str, seed: int) -> dict[str, Any]:
    """{split: judge(...)} on the clean evaluation sets of ``task``."""
    from system.models.commands import open_backend

    sets = clean_eval_sets(recipe, task, recipe.probe.eval_splits)
    out: dict[str, Any] = {}
    with open_backend("hf", model_dir, seed=seed) as backend:
        for split, records in sets.items():
            texts = greedy(backend, [r["prompt"] for r in records], recipe.probe.max_new_tokens)
            out[split] = judge(records, texts)
    return out


def train_model(recipe: "Recipe", records: Sequence[Mapping[str, Any]], *, steps: int, lr: float | None, seed: int,
                out: Path) -> dict[str, Any]:
    """Train the recipe's model (fresh from its init) on ``records``; save it to ``out``; return metrics."""
    from system.models.learner import Learner

    learner = Learner(cell_learner_config(recipe, recipe.probe.threads()), recipe.model, seed=seed)
    try:
        metrics = learner.train(records, max_steps=steps, lr=lr)
        learner.save(out)
    finally:
        learner.close()
    return {k: metrics[k] for k in ("steps", "train_loss", "final_loss", "records", "runtime_s", "steps_per_s")}


def train_and_evaluate(recipe: "Recipe", records: Sequence[Mapping[str, Any]], *, task: str, steps: int,
                       lr: float | None, seed: int) -> dict[str, Any]:
    """A fresh model trained on ``records`` and judged on clean prompts; the checkpoint is discarded."""
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="qdc-probe-cell-") as tmp:
        train = train_model(recipe, records, steps=steps, lr=lr, seed=seed, out=Path(tmp) / "model")
        evaluation = evaluate_model(recipe, Path(tmp) / "model", task, seed)
    return {"train": train, "eval": evaluation, "seconds": round(time.perf_counter() - start, 2)}
