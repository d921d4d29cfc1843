"""`qdc train` (seed training + ID/OOD evaluation) and `qdc eval` (greedy accuracy of a checkpoint)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from system.errors import QdcError
from system.models.evaluation import DEFAULT_MAX_NEW_TOKENS, EvalResult, evaluate_records

if TYPE_CHECKING:
    from rich.console import Console

    from system.config import Recipe
    from system.models.generation.base import GenerationBackend


def _console() -> "Console":
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def open_backend(name: str, model_dir: str | Path, seed: int = 0, **overrides: Any) -> "GenerationBackend":
    """A generation backend by registry name on a checkpoint folder."""
    from system.models.config import GeneratorConfig
    from system.models.generation.registry import backend_class

    cls = backend_class(name)  # unknown names raise QdcError
    return cls(model_dir, GeneratorConfig(backend=name, **overrides), seed=seed)


def eval_plan(recipe: "Recipe") -> list[tuple[str, str]]:
    """(split, task) pairs evaluated after seed training: ID tasks on id/ood_length/ood_digits,
    held-out tasks on ood_task; a task without a split (fixed arity, no longer lists) is skipped."""
    from system.tint import get_task, splits_for

    plan = []
    for split in recipe.train.eval_splits:
        tasks = recipe.tint.ood_tasks if split == "ood_task" else recipe.tint.tasks
        plan.extend((split, t) for t in tasks if split in splits_for(get_task(t)))
    return plan


def evaluate_recipe(recipe: "Recipe", model_dir: Path, console: "Console | None" = None) -> dict[str, dict[str, float]]:
    """{split: {task: accuracy}} over `eval_plan`, on tint.eval_size prompts each, greedy."""
    from system.models.sft_data import eval_records

    results: dict[str, dict[str, float]] = {}
    with open_backend(recipe.train.eval_backend, model_dir, seed=recipe.seed) as backend:
        for split, task in eval_plan(recipe):
            records = eval_records(recipe.tint, task, split, recipe.seed)
            res = evaluate_records(backend, records, max_new_tokens=recipe.train.eval_max_new_tokens)
            results.setdefault(split, {})[task] = round(res.accuracy, 4)
            if console is not None:
                console.print(f"  eval {split:<11} {task:<15} accuracy {res.accuracy:6.1%}  (n={res.n})")
    return results


def _check_train_out(recipe: "Recipe", out: Path, force: bool, recipe_path: Path | None) -> None:
    if out.exists() and not out.is_dir():
        raise QdcError(f"--out {out}: exists and is not a folder")
    inputs = [recipe_path] if recipe_path is not None else []
    if recipe.model.path and Path(recipe.model.path).expanduser().exists():
        inputs.append(Path(recipe.model.path).expanduser())
    for src in inputs:
        if src.resolve().is_relative_to(out.resolve()):
            raise QdcError(f"--out {out}: holds the input {src}, which the new folder would replace; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise QdcError(f"--out {out}: is not empty (an earlier run?); choose another folder, or add --force to replace "
                       "it once the new training has finished")


def train_command(recipe: "Recipe", out: Path, *, force: bool = False, recipe_path: Path | None = None) -> dict[str, Any]:
    """Train the recipe's model on its clean seed set, save DIR/model, evaluate into DIR/eval.json.

    Everything is written into a temp folder beside DIR, which replaces DIR only once training and
    evaluation finished: a failed or killed run leaves DIR as it was. A non-empty DIR is replaced
    only with ``force``."""
    from system.store import atomic_write_dir

    out = Path(out)
    _check_train_out(recipe, out, force, recipe_path)
    unknown = sorted(set(recipe.train.task_weights) - set(recipe.tint.tasks))
    if unknown:
        raise QdcError(f"train.task_weights: {unknown} are not in tint.tasks {recipe.tint.tasks}")
    result: dict[str, Any] = {}
    atomic_write_dir(out, lambda work: result.update(_train_into(recipe, work, out)))
    return result


def _train_into(recipe: "Recipe", work: Path, out: Path) -> dict[str, Any]:
    """The training run itself, writing into ``work`` (which becomes ``out``)."""
    from system.config import dump_recipe
    from system.models.sft_data import seed_records
    from system.store import atomic_write_json, atomic_write_text

    console = _console()
    model_dir = work / "model"
    atomic_write_text(work / "recipe.yaml", dump_recipe(recipe))  # the resolved recipe, overrides applied
    records = seed_records(recipe.tint, recipe.seed, weights=recipe.train.task_weights)
    console.print(f"[bold]qdc train[/] {recipe.name}: {len(records)} seed records of {', '.join(recipe.tint.tasks)}; "
                  f"learner world_size={recipe.learner.world_size} zero_stage={recipe.learner.zero_stage}")
    t = recipe.train
    train_kwargs = {"epochs": t.epochs, "max_steps": t.max_steps, "lr": t.lr, "progress": True}
    from system.models.factory import count_parameters, load_pretrained

    start = time.perf_counter()
    if recipe.learner.world_size == 1:
        from system.models.learner import Learner

        learner = Learner(recipe.learner, recipe.model, seed=recipe.seed)
        params = count_parameters(learner.model)
        console.print(f"model: {type(learner.model).__name__}, {params:,} parameters")
        metrics = learner.train(records, **train_kwargs)
        learner.save(model_dir)
        learner.close()
    else:
        from system.models.launch import run_ranks

        metrics = run_ranks(recipe.learner, recipe.model, seed=recipe.seed, records=records,
                            train_kwargs=train_kwargs, save_dir=model_dir, show_rank0=True)
        params = count_parameters(load_pretrained(model_dir)[0])
        console.print(f"model: {params:,} parameters, trained as {recipe.learner.world_size} ranks")
    train_s = time.perf_counter() - start
    console.print(f"trained {metrics['steps']} steps in {metrics['runtime_s']:.0f} s "
                  f"({metrics['steps_per_s']:.2f} steps/s), final loss {metrics['final_loss']:.4f}; "
                  f"saved {out / 'model'} (in place once evaluation finishes)")
    console.print(f"evaluating with the {t.eval_backend} backend, greedy, {recipe.tint.eval_size} prompts per task and split")
    accuracy = evaluate_recipe(recipe, model_dir, console)
    atomic_write_json(work / "eval.json", accuracy)
    summary = {k: v for k, v in metrics.items() if k != "loss_history"}
    summary.update(parameters=params, wall_s=round(train_s, 1), recipe=recipe.name)
    atomic_write_json(work / "train_metrics.json", {**summary, "loss_history": metrics.get("loss_history", [])})
    return {"model": str(out / "model"), "eval": accuracy, "train": summary}


def eval_command(
    model_dir: Path,
    *,
    backend: str,
    task: str,
    split: str,
    n: int,
    seed: int,
    out: Path | None,
) -> dict[str, Any]:
    """Greedy exact-answer accuracy on ``n`` prompts of one task and split (default split ranges).

    Prompts are drawn as `qdc train` draws its evaluation sets, so ``--seed`` equal to the recipe's
    seed reproduces a line of eval.json (for recipes with the default split ranges).
    """
    from system.jsonio import write_jsonl
    from system.models.factory import check_model_dir
    from system.models.generation.registry import backend_names
    from system.models.sft_data import EVAL_SEED_OFFSET
    from system.tint import UnknownTaskError, get_task, sample_records, splits_for

    if backend not in backend_names():
        raise QdcError(f"--backend {backend!r}: unknown generation backend; known: {', '.join(backend_names())}")
    try:
        spec = get_task(task)
    except UnknownTaskError as e:
        raise QdcError(f"--task: {e}") from None
    if split not in splits_for(spec):
        raise QdcError(f"--split {split!r}: task {task!r} has the splits {', '.join(splits_for(spec))}")
    check_model_dir(model_dir)
    if out is not None:
        from system.store import refuse_clobber

        refuse_clobber({"--out": out}, [Path(model_dir)])
        if Path(out).resolve().is_relative_to(Path(model_dir).resolve()):
            raise QdcError(f"--out {out}: lies inside the model folder {model_dir}; write it elsewhere")
    records = list(sample_records(task, split, n, seed=seed + EVAL_SEED_OFFSET))
    start = time.perf_counter()
    with open_backend(backend, model_dir, seed=seed) as engine:
        result: EvalResult = evaluate_records(engine, records, max_new_tokens=DEFAULT_MAX_NEW_TOKENS)
    if out is not None:
        write_jsonl(result.rows, out)
    return {"model": str(model_dir), "backend": backend, "task": task, "split": split, "n": result.n,
            "seed": seed, "correct": result.correct, "accuracy": round(result.accuracy, 4),
            "seconds": round(time.perf_counter() - start, 2)}
