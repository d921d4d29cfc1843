"""`qdc train` (seed training + ID/OOD evaluation) and `qdc eval` (greedy accuracy of a checkpoint)."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from system.errors import QdcError

if TYPE_CHECKING:
    from rich.console import Console

    from system.config import Recipe
    from system.models.generation.base import GenerationBackend
    from system.tasks.base import TaskFamily, TaskPrompt


def _console() -> "Console":
    from rich.console import Console

    from system.logs import terminal_err

    return Console(file=terminal_err(), highlight=False)


def open_backend(name: str, model_dir: str | Path, seed: int = 0, **overrides: Any) -> "GenerationBackend":
    """A generation backend by registry name on a checkpoint folder."""
    from system.models.config import GeneratorConfig
    from system.models.generation.registry import backend_class

    cls = backend_class(name)  # unknown names raise QdcError
    return cls(model_dir, GeneratorConfig(backend=name, **overrides), seed=seed)


def _train_eval_sets(recipe: "Recipe", family: "TaskFamily") -> dict[str, list["TaskPrompt"]]:
    """What `qdc train` evaluates: for TInt, train.eval_splits with tint.eval_size prompts per task
    (held-out tasks on ood_task); for other families, every evaluation split of the task."""
    if recipe.task.family == "tint":
        return family.eval_sets(recipe.seed, n=recipe.tint.eval_size, splits=recipe.train.eval_splits)
    return family.eval_sets(recipe.seed)


def evaluate_recipe(recipe: "Recipe", model_dir: Path, console: "Console | None" = None) -> dict[str, dict[str, float]]:
    """{split: {task: accuracy}} of greedy answers on the family's evaluation sets."""
    from system.models.chat import PromptFormat
    from system.tasks import family_for
    from system.tasks.evaluation import evaluate

    family = family_for(recipe)
    fmt = PromptFormat.for_model(model_dir, recipe.task.chat_template)
    results: dict[str, dict[str, float]] = {}
    with open_backend(recipe.train.eval_backend, model_dir, seed=recipe.seed) as backend:
        for split, prompts in _train_eval_sets(recipe, family).items():
            res = evaluate(backend, family, prompts, max_new_tokens=recipe.train.eval_max_new_tokens,
                           prompt_text=fmt.text)
            results[split] = {t: round(a, 4) for t, a in res.table["by_task"].items()}
            if console is not None:
                for t, a in res.table["by_task"].items():
                    n = sum(p.task == t for p in prompts)
                    console.print(f"  eval {split:<11} {t:<15} accuracy {a:6.1%}  (n={n})")
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


def train_command(recipe: "Recipe", out: Path, *, force: bool = False, recipe_path: Path | None = None,
                  verbose: bool = False) -> dict[str, Any]:
    """Train the recipe's model on its clean seed set, save DIR/model, evaluate into DIR/eval.json.

    Everything is written into a temp folder beside DIR, which replaces DIR only once training and
    evaluation finished: a failed or killed run leaves DIR as it was. A non-empty DIR is replaced
    only with ``force``. What the libraries print goes to DIR/logs/driver.log unless ``verbose``."""
    from system.store import atomic_write_dir
    from system.tasks import family_for

    out = Path(out)
    _check_train_out(recipe, out, force, recipe_path)
    family = family_for(recipe)
    family.check()
    unknown = sorted(set(recipe.train.task_weights) - set(family.tasks()))
    if unknown:
        raise QdcError(f"train.task_weights: {unknown} are not tasks of the seed set ({', '.join(family.tasks())})")
    result: dict[str, Any] = {}
    atomic_write_dir(out, lambda work: result.update(_train_quietly(recipe, family, work, out, verbose)))
    return result


def _train_quietly(recipe: "Recipe", family: Any, work: Path, out: Path, verbose: bool) -> dict[str, Any]:
    from system.logs import capture

    with capture(work, verbose):
        return _train_into(recipe, family, work, out, verbose)


def _train_into(recipe: "Recipe", family: Any, work: Path, out: Path, verbose: bool = True) -> dict[str, Any]:
    """The training run itself, writing into ``work`` (which becomes ``out``)."""
    from system.config import dump_recipe
    from system.models.chat import PromptFormat
    from system.store import atomic_write_dir, atomic_write_json, atomic_write_text

    console = _console()
    model_dir = work / "model"
    atomic_write_text(work / "recipe.yaml", dump_recipe(recipe))  # the resolved recipe, overrides applied
    tokenizer_dir = None
    if recipe.model.init == "scratch":
        tokenizer_dir = work / "tokenizer"
        tokenizer = family.scratch_tokenizer(recipe.seed, recipe.model.max_positions)
        atomic_write_dir(tokenizer_dir, lambda tmp: tokenizer.save_pretrained(str(tmp)))
    fmt = PromptFormat(None) if recipe.model.init == "scratch" else PromptFormat.for_model(recipe.model.path,
                                                                                             recipe.task.chat_template)
    records = fmt.sft_rows([r.as_sft() for r in family.seed_records(recipe.seed, weights=recipe.train.task_weights)])
    console.print(f"[bold]qdc train[/] {recipe.name}: {len(records)} seed records of {', '.join(family.tasks())}; "
                  f"learner world_size={recipe.learner.world_size} zero_stage={recipe.learner.zero_stage}")
    t = recipe.train
    from system.logs import logs_dir
    from system.loop.progress import StepBar

    steps_file = logs_dir(work) / "train_progress.json"
    train_kwargs = {"epochs": t.epochs, "max_steps": t.max_steps, "lr": t.lr, "progress": verbose,
                    "progress_file": str(steps_file)}
    bar = StepBar("seed training", steps_file, console) if not verbose else contextlib.nullcontext()
    from system.models.factory import count_parameters, load_pretrained

    start = time.perf_counter()
    if recipe.learner.world_size == 1:
        from system.models.learner import Learner

        learner = Learner(recipe.learner, recipe.model, seed=recipe.seed, tokenizer_dir=tokenizer_dir)
        params = count_parameters(learner.model)
        console.print(f"model: {type(learner.model).__name__}, {params:,} parameters")
        with bar:
            metrics = learner.train(records, **train_kwargs)
        learner.save(model_dir)
        learner.close()
    else:
        from system.models.launch import run_ranks

        with bar:
            metrics = run_ranks(recipe.learner, recipe.model, seed=recipe.seed, records=records,
                                train_kwargs=train_kwargs, save_dir=model_dir, show_rank0=verbose,
                                tokenizer_dir=tokenizer_dir)
        params = count_parameters(load_pretrained(model_dir)[0])
        console.print(f"model: {params:,} parameters, trained as {recipe.learner.world_size} ranks")
    train_s = time.perf_counter() - start
    console.print(f"trained {metrics['steps']} steps in {metrics['runtime_s']:.0f} s "
                  f"({metrics['steps_per_s']:.2f} steps/s), final loss {metrics['final_loss']:.4f}; "
                  f"saved {out / 'model'} (in place once evaluation finishes)")
    console.print(f"evaluating with the {t.eval_backend} backend, greedy")
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
    task: str | None,
    split: str,
    n: int,
    seed: int,
    out: Path | None,
    recipe: "Recipe | None" = None,
) -> dict[str, Any]:
    """Greedy exact-answer accuracy on ``n`` prompts of one split.

    Without a recipe: TInt prompts of ``task`` (default split ranges), drawn as `qdc train` draws its
    evaluation sets, so ``--seed`` equal to the recipe's seed reproduces a line of eval.json. With a
    recipe: its task family's evaluation split ``split`` (the first ``n`` prompts; ``task`` keeps one
    task's prompts).
    """
    from system.jsonio import write_jsonl
    from system.models.chat import PromptFormat
    from system.models.factory import check_model_dir
    from system.models.generation.registry import backend_names
    from system.tasks.evaluation import DEFAULT_MAX_NEW_TOKENS, evaluate

    if backend not in backend_names():
        raise QdcError(f"--backend {backend!r}: unknown generation backend; known: {', '.join(backend_names())}")
    if recipe is None:
        if task is None:
            raise QdcError("--task: a TInt task is needed without --recipe")
        from system.tasks.tint_family import TintFamily, tint_eval_prompts

        family = TintFamily.default()
        prompts = tint_eval_prompts(task, split, n, seed)
        chat_mode = "auto"
    else:
        from system.tasks import family_for

        family = family_for(recipe)
        family.check()
        sets = family.eval_sets(seed)
        if split not in sets:
            raise QdcError(f"--split {split!r}: the recipe's task has the evaluation splits {', '.join(sets)}")
        prompts = [p for p in sets[split] if task is None or p.task == task][:n]
        if not prompts:
            raise QdcError(f"--task {task!r}: no prompts of that task in split {split!r}")
        chat_mode = recipe.task.chat_template
    check_model_dir(model_dir)
    if out is not None:
        from system.store import refuse_clobber

        refuse_clobber({"--out": out}, [Path(model_dir)])
        if Path(out).resolve().is_relative_to(Path(model_dir).resolve()):
            raise QdcError(f"--out {out}: lies inside the model folder {model_dir}; write it elsewhere")
    start = time.perf_counter()
    fmt = PromptFormat.for_model(model_dir, chat_mode)
    with open_backend(backend, model_dir, seed=seed) as engine:
        result = evaluate(engine, family, prompts, max_new_tokens=DEFAULT_MAX_NEW_TOKENS, prompt_text=fmt.text)
    if out is not None:
        write_jsonl(result.rows, out)
    return {"model": str(model_dir), "backend": backend, "task": task, "split": split, "n": result.n,
            "seed": seed, "correct": result.correct, "accuracy": round(result.accuracy, 4),
            "seconds": round(time.perf_counter() - start, 2)}
