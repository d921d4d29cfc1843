"""Entry point of `qdc probe`: fan the probe cells out as Ray tasks and keep each finished one on disk.

What a cell does lives in system/probe; this module plans nothing and computes nothing. It submits
every unfinished cell (a cell that needs another cell's result gets that result, or its pending
ObjectRef, as an argument, so Ray starts it when the dependency is done), writes each result as it
arrives, and bounds every wait by `probe.cell_timeout_s`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayError, RayTaskError

from actors.calls import LoopError, StageTimeout, _cancel
from actors.common import set_threads
from actors.placement import start_ray, stop_ray
from system.config import Recipe, validate_recipe
from system.logs import capture, logs_dir, redirect_process, terminal_err
from system.probe.cells import Cell, dependencies, plan_cells, run_cell
from system.probe.convergence import warn_if_under_trained
from system.probe.results import ProbeDir, probe_dir_for
from system.store import utc_stamp


@ray.remote(max_retries=0)
def _cell_task(recipe: dict[str, Any], cell: dict[str, Any], probe_dir: str, threads: int, log_dir: str | None,
               dep_ids: list[str], *dep_results: dict[str, Any]) -> dict[str, Any]:
    redirect_process(log_dir, f"cell-{cell['probe']}-{cell['task']}-s{cell['seed']}")
    set_threads(threads)
    return run_cell(validate_recipe(recipe), Cell.from_dict(cell), Path(probe_dir), dict(zip(dep_ids, dep_results)))


def _say(message: str) -> None:
    print(f"[probe {utc_stamp()}] {message}", file=terminal_err(), flush=True)


def _error_text(err: Exception) -> str:
    if isinstance(err, RayTaskError) and getattr(err, "cause", None) is not None:
        return f"{type(err.cause).__name__}: {err.cause}"
    return f"{type(err).__name__}: {err}"


def run_probe(recipe: Recipe, recipe_yaml: str, *, address: str | None = None, verbose: bool = False) -> Path:
    """Run every unfinished cell of the recipe's probes into the probe directory; returns its path.
    Library output goes to ``<probe dir>/logs/`` (the driver's and each cell's) unless ``verbose``."""
    out = ProbeDir(probe_dir_for(recipe), recipe.probe.finetune.converged_accuracy)
    out.start(recipe_yaml)
    with capture(out.path, verbose):
        return _run_probe(recipe, out, address, verbose)


def _run_probe(recipe: Recipe, out: ProbeDir, address: str | None, verbose: bool) -> Path:
    cells = plan_cells(recipe)  # validates the plan (e.g. prompt base tasks) before Ray starts
    needed = {d.id for c in cells for d in dependencies(recipe, c)}
    # cells others wait for (base models, the longest cells) go first; otherwise plan order
    todo = sorted((c for c in cells if not out.is_done(c)), key=lambda c: c.id not in needed)
    _say(f"{out.path}: {len(cells)} cells, {len(cells) - len(todo)} already finished, {len(todo)} to run")
    if not todo:
        warn_if_under_trained(out.write_state(cells))
        return out.path
    started_here = not ray.is_initialized()
    start_ray(recipe.resources, address, verbose=verbose)
    try:
        failures = _run_cells(recipe, out, cells, todo, None if verbose else logs_dir(out.path))
    finally:
        if started_here:
            stop_ray()
    warn_if_under_trained(out.write_state(cells))
    if failures:
        listed = "; ".join(f"{cid}: {msg}" for cid, msg in failures.items())
        raise LoopError(f"{len(failures)} probe cell(s) failed (finished cells are kept; rerun to retry): {listed}")
    return out.path


def _run_cells(recipe: Recipe, out: ProbeDir, cells: list[Cell], todo: list[Cell], log_dir: Path | None
               ) -> dict[str, str]:
    p = recipe.probe
    data = recipe.model_dump(mode="json")
    task = _cell_task.options(num_cpus=p.cpus_per_cell, num_gpus=p.gpus_per_cell)
    probe_dir = str(out.path.resolve())
    refs: dict[str, ray.ObjectRef] = {}
    pending: dict[ray.ObjectRef, Cell] = {}
    for cell in todo:  # dependencies come first
        deps = dependencies(recipe, cell)
        dep_values = [refs[d.id] if d.id in refs else out.result(d) for d in deps]
        ref = task.remote(data, cell.to_dict(), probe_dir, p.threads(), str(log_dir) if log_dir else None,
                          [d.id for d in deps], *dep_values)
        refs[cell.id] = ref
        pending[ref] = cell
    failures: dict[str, str] = {}
    done = 0
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=p.cell_timeout_s)
        if not ready:
            _cancel(list(pending))
            out.write_state(cells)
            raise StageTimeout(f"no probe cell finished within {p.cell_timeout_s:.0f} s ({len(pending)} still pending, "
                               f"finished cells are kept); raise probe.cell_timeout_s if cells are just slow")
        ref = ready[0]
        cell = pending.pop(ref)
        try:
            result = ray.get(ref, timeout=max(1.0, p.cell_timeout_s))
        except (RayError, GetTimeoutError) as err:
            failures[cell.id] = _error_text(err)
            _say(f"FAILED {cell.id}: {failures[cell.id]}")
            continue
        out.write_result(cell, result)
        out.write_state(cells)
        done += 1
        _say(f"{done}/{len(todo)} {cell.name} ({result.get('seconds', 0.0):.0f} s){_headline(result)}")
    return failures


def _headline(result: dict[str, Any]) -> str:
    evaluation = result.get("eval") or {}
    parts = [f"{split} acc {m['accuracy']:.3f}" for split, m in evaluation.items()]
    keep = result.get("keep")
    if keep:
        parts += [f"kept {kind} {v['kept_rate']:.2f}" for kind, v in keep.items() if v.get("kept_rate") is not None]
    return ": " + ", ".join(parts) if parts else ""
