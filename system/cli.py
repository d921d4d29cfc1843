"""The `qdc` command. Thin: parses flags, calls into system/, reports QdcError as one line and exit 2."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Any, Callable, Optional, TypeVar

import typer

from system.errors import QdcError

app = typer.Typer(no_args_is_help=True, add_completion=False, help="qdc-loop: self-improvement with QDC filtering on TInt.")
tint_app = typer.Typer(no_args_is_help=True, help="TInt data and verdicts as JSONL.")
app.add_typer(tint_app, name="tint")

F = TypeVar("F", bound=Callable[..., Any])

SetOption = typer.Option([], "--set", help="override a recipe key: a.b.c=value (repeatable)")


def _error(message: str) -> None:
    """One line on the terminal; where a run's output went to its log, the line says where."""
    from system.logs import last_log

    log = last_log()
    typer.echo(f"error: {message}" + (f" (full log: {log})" if log is not None else ""), err=True)


def reported(fn: F) -> F:
    """Turn user errors into one message on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except QdcError as e:
            _error(str(e))
            raise typer.Exit(2) from None
        except OSError as e:
            if e.filename is None:  # not about a file the user named: a bug or the system, keep the traceback
                raise
            _error(f"{e.filename}: {e.strerror or e}")
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")


# ------------------------------------------------------------------------------------------------
# recipes


@app.command("config")
@reported
def config_cmd(recipe: Path, set_: list[str] = SetOption) -> None:
    """Print the resolved, validated recipe."""
    from system.config import dump_recipe, load_recipe

    sys.stdout.write(dump_recipe(load_recipe(recipe, set_)))


# ------------------------------------------------------------------------------------------------
# tint


@tint_app.command("tasks")
@reported
def tint_tasks() -> None:
    """List the registered tasks with their splits, one JSON object a line."""
    from system.tint.commands import task_listing

    for row in task_listing():
        _print_json(row)


@tint_app.command("sample")
@reported
def tint_sample(
    task: str = typer.Option(..., "--task", help="a registered task name"),
    split: str = typer.Option("id", "--split", help="id | ood_length | ood_digits | ood_task"),
    n: int = typer.Option(10, "--n", min=1),
    seed: int = typer.Option(0, "--seed"),
    noise: str = typer.Option("none", "--noise", help="none | static | dynamic"),
    contamination: float = typer.Option(1.0, "--contamination", help="fraction of records noised"),
    intensity: float = typer.Option(0.3, "--intensity", help="per-digit (static; dynamic --dynamic-unit digit) or "
                                    "per-step (dynamic --dynamic-unit step) probability; per line (--static-variant line)"),
    static_variant: str = typer.Option("digit", "--static-variant", help="digit | line"),
    static_draw: str = typer.Option("uniform", "--static-draw", help="uniform (a digit from 0-9, may be the true one; "
                                    "the study's) | different (always another digit)"),
    dynamic_unit: str = typer.Option("digit", "--dynamic-unit", help="digit (each digit of each intermediate value; "
                                     "the study's) | step (each intermediate value)"),
    out: Optional[Path] = typer.Option(None, "--out", help="write JSONL here (atomically) instead of stdout"),
) -> None:
    """Sample TInt records (prompt, completion, answer, noise ground truth)."""
    from system.jsonio import write_jsonl
    from system.tint.commands import sample_command

    write_jsonl(sample_command(task, split, n, seed, noise, contamination, intensity, static_variant, static_draw,
                               dynamic_unit), out)


@tint_app.command("verify")
@reported
def tint_verify(
    path: Path = typer.Argument(..., help="JSONL with task, input and a completion field"),
    field: str = typer.Option("completion", "--field", help="the field holding the text to verify"),
    out: Optional[Path] = typer.Option(None, "--out"),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="drop records that cannot be verified (counted on "
                                  "stderr with their line numbers) instead of stopping at the first"),
) -> None:
    """Add a `verdict` to every record. A bad line stops the command before anything is written
    (unless --skip-bad)."""
    from system.tint.commands import verify_command

    verify_command(path, field, out, skip_bad=skip_bad)


@tint_app.command("demo")
@reported
def tint_demo(n: int = typer.Option(200, "--n", min=1), seed: int = typer.Option(0, "--seed")) -> None:
    """Sample, noise and verify a data set for every task; print what the verifier finds."""
    from system.tint.commands import demo

    demo(n, seed)


# ------------------------------------------------------------------------------------------------
# data

data_app = typer.Typer(no_args_is_help=True, help="Generate task data sets (JSONL).")
app.add_typer(data_app, name="data")


@data_app.command("word-problems")
@reported
def data_word_problems(
    out: Path = typer.Option(..., "--out", help="folder for train.jsonl, id.jsonl, ood_steps.jsonl, ood_templates.jsonl"),
    n: int = typer.Option(5000, "--n", min=1, help="training problems (levels 1-6, 24 templates)"),
    seed: int = typer.Option(0, "--seed"),
    n_eval: Optional[int] = typer.Option(None, "--n-eval", min=1, help="problems per evaluation split (default: n // 10)"),
) -> None:
    """Seeded English arithmetic word problems with worked solutions ending in `#### <answer>`."""
    from system.tasks.word_problems import write_word_problems

    _print_json({"out": str(out), "files": write_word_problems(out, n=n, seed=seed, n_eval=n_eval)})


# ------------------------------------------------------------------------------------------------
# filter, train, eval


@app.command("filter")
@reported
def filter_cmd(
    path: Path = typer.Argument(..., help="input JSONL"),
    strategy: str = typer.Option(..., "--strategy", help="selection strategy name"),
    budget: int = typer.Option(..., "--budget", help="number of records to keep"),
    text_field: str = typer.Option("completion", "--text-field", help="field embedded for diversity"),
    quality_field: Optional[str] = typer.Option(None, "--quality-field", help="numeric field used as quality"),
    seed: int = typer.Option(0, "--seed"),
    out: Optional[Path] = typer.Option(None, "--out", help="chosen records (JSONL); summary goes to OUT.summary.json"),
    alpha: Optional[float] = typer.Option(None, "--alpha", help="qdit: weight of quality against coverage, "
                                          "0..1 (filter.qdit_alpha; default 0.5)"),
    threshold: Optional[float] = typer.Option(None, "--threshold", help="deita: cosine distance a record must "
                                              "keep from every kept one, 0..2 (filter.deita_threshold; default 0.1)"),
    skip_bad: bool = typer.Option(False, "--skip-bad", help="drop records that cannot be scored (counted in the "
                                  "summary with their line numbers) instead of stopping at the first"),
) -> None:
    """The QDC filter on any JSONL file."""
    from system.qdc.command import filter_command

    filter_command(path, strategy=strategy, budget=budget, text_field=text_field,
                   quality_field=quality_field, seed=seed, out=out, alpha=alpha, threshold=threshold,
                   skip_bad=skip_bad)


@app.command("measure")
@reported
def measure_cmd(
    inputs: list[Path] = typer.Argument(..., help="JSONL or parquet files, or run directories"),
    name: list[str] = typer.Option([], "--name", help="INPUT=label: the label of an input (repeatable)"),
    text_field: str = typer.Option("completion", "--text-field", help="field measured for diversity and length"),
    quality_field: Optional[str] = typer.Option(None, "--quality-field", help="numeric field used as quality "
                                                "(default: the TInt verifier for TInt records, else none)"),
    embedder: str = typer.Option("hashed", "--embedder", help="hashed | minilm"),
    sample: Optional[int] = typer.Option(None, "--sample", help="measure a seeded sample of N records of each dataset"),
    seed: int = typer.Option(0, "--seed"),
    iterations: Optional[str] = typer.Option(None, "--iterations", help="run directories: these iterations' "
                                             "candidates and selections, e.g. 1,5 (default: all)"),
    clusters: int = typer.Option(50, "--clusters", help="k-means cells of the union, for coverage"),
    out: Optional[Path] = typer.Option(None, "--out", help="folder for measure.json, measure.html and PNGs"),
) -> None:
    """The QDC makeup (quality, diversity, complexity) of datasets, side by side."""
    from system.measure.command import measure_command

    measure_command(inputs, names=name, text_field=text_field, quality_field=quality_field, embedder=embedder,
                    sample=sample, seed=seed, iterations=iterations, clusters=clusters, out=out)


@app.command("train")
@reported
def train_cmd(recipe: Path, out: Path = typer.Option(..., "--out"), set_: list[str] = SetOption,
              force: bool = typer.Option(False, "--force", help="replace a non-empty --out folder (only once the "
                                         "new training has finished)"),
              verbose: bool = typer.Option(False, "--verbose", help="stream what the trainer and the libraries "
                                           "print (by default it goes to OUT/logs/driver.log)")) -> None:
    """Seed training of the recipe's model on its task's seed set, then evaluation."""
    from system.config import load_recipe
    from system.models.commands import train_command

    train_command(load_recipe(recipe, set_), out, force=force, recipe_path=recipe, verbose=verbose)


@app.command("eval")
@reported
def eval_cmd(
    model_dir: Path,
    backend: str = typer.Option("hf", "--backend", help="vllm | hf"),
    task: Optional[str] = typer.Option(None, "--task", help="a TInt task (needed without --recipe)"),
    split: str = typer.Option("id", "--split"),
    n: int = typer.Option(200, "--n", min=1),
    seed: int = typer.Option(0, "--seed"),
    out: Optional[Path] = typer.Option(None, "--out", help="one JSONL line a prompt with its verdict"),
    recipe: Optional[Path] = typer.Option(None, "--recipe", help="evaluate the recipe's task (any family) on --split"),
    set_: list[str] = SetOption,
) -> None:
    """Greedy exact-answer accuracy of a checkpoint (TInt --task, or a recipe's task family)."""
    from system.config import load_recipe
    from system.models.commands import eval_command

    resolved = load_recipe(recipe, set_) if recipe is not None else None
    _print_json(eval_command(model_dir, backend=backend, task=task, split=split, n=n, seed=seed, out=out,
                             recipe=resolved))


# ------------------------------------------------------------------------------------------------
# the closed loop and its report


VerboseOption = typer.Option(False, "--verbose", help="stream what Ray, vLLM and the libraries print to this "
                             "terminal (by default it goes to the run's logs/ folder)")
AddressOption = typer.Option(None, "--address", help="attach to a Ray cluster (default: RAY_ADDRESS or a local Ray)")


def _launch(recipe: Path, set_: list[str], runner: str, **kwargs: Any) -> None:
    """Validate the whole recipe first (before Ray or any actor starts), then hand it to an actors/ runner."""
    import importlib

    from system.config import dump_recipe, load_recipe

    resolved = load_recipe(recipe, set_)
    # A local Ray listens on loopback only and uses a per-run token: set up before ray is imported.
    importlib.import_module("actors.ray_env").prepare_local_ray(kwargs.get("address"))
    module, _, name = runner.partition(":")
    run = getattr(importlib.import_module(module), name)
    typer.echo(str(run(resolved, dump_recipe(resolved), **kwargs)))


@app.command("run")
@reported
def run_cmd(
    recipe: Path,
    set_: list[str] = SetOption,
    resume: bool = typer.Option(False, "--resume", help="continue run.dir (or the newest run of this recipe)"),
    repair: bool = typer.Option(False, "--repair", help="with --resume: if a finished stage's files are damaged, "
                                "roll the run back to the last intact stage and continue from there"),
    address: Optional[str] = AddressOption,
    verbose: bool = VerboseOption,
) -> None:
    """The closed loop: generate -> filter -> learn -> sync -> probe, for loop.iterations iterations."""
    _launch(recipe, set_, "actors.driver:run_loop", resume=resume, repair=repair, address=address, verbose=verbose)


@app.command("probe")
@reported
def probe_cmd(recipe: Path, set_: list[str] = SetOption, address: Optional[str] = AddressOption,
              verbose: bool = VerboseOption) -> None:
    """Noise-robustness grid on TInt (fine-tune, prompt and filter probes); finished cells are skipped on rerun."""
    _launch(recipe, set_, "actors.probe:run_probe", address=address, verbose=verbose)


@app.command("ablate")
@reported
def ablate_cmd(recipe: Path, set_: list[str] = SetOption, address: Optional[str] = AddressOption,
               verbose: bool = VerboseOption) -> None:
    """The closed loop once per filtering strategy (same seeds, same compute), then a comparison table."""
    _launch(recipe, set_, "actors.ablate:run_ablation", address=address, verbose=verbose)


@app.command("report")
@reported
def report_cmd(run_dir: Path) -> None:
    """report.html and PNG plots from a run directory."""
    from system.report import build_report

    typer.echo(str(build_report(run_dir)))


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
