"""Entry point of `qdc ablate`: the closed loop once per (seed, strategy), then the comparison table.

Variants run one after another on one Ray session (each loop reserves and releases its own placement
group), so every strategy gets the same machine. A finished variant is skipped, an unfinished one
resumed; with `ablate.share_seed_stage` the seed model of each seed is trained once and its
iteration 0 copied into the other strategies' runs.
"""

from __future__ import annotations

from pathlib import Path

import ray

from actors.driver import run_loop
from actors.placement import start_ray, stop_ray
from system.ablation.compare import write_comparison
from system.ablation.plan import (
    Variant, ablation_dir_for, copy_seed_stage, run_state, seed_stage_source, start_manifest, variants, write_manifest,
)
from system.config import Recipe
from system.integrity import RunLock
from system.logs import capture, terminal_err
from system.store import utc_stamp


def _say(message: str) -> None:
    print(f"[ablate {utc_stamp()}] {message}", file=terminal_err(), flush=True)


def run_ablation(recipe: Recipe, recipe_yaml: str, *, address: str | None = None, verbose: bool = False) -> Path:
    """Run every unfinished variant into the ablation directory, write comparison.{json,md,csv}. Library
    output goes to ``<root>/logs/driver.log`` and each run's ``logs/`` unless ``verbose``."""
    root = ablation_dir_for(recipe)
    planned = variants(recipe, root)  # every variant recipe is validated before Ray starts
    with RunLock(root, "ablation directory"), capture(root, verbose):  # a second `qdc ablate` here is refused
        states = {v.label: run_state(v) for v in planned}
        start_manifest(root, recipe_yaml, planned)
        todo = [v for v in planned if states[v.label] != "done"]
        _say(f"{root}: {len(planned)} runs ({len(recipe.ablate.strategies)} strategies x "
             f"{len(planned) // len(recipe.ablate.strategies)} seeds), {len(planned) - len(todo)} finished, "
             f"{len(todo)} to run")
        started_here = not ray.is_initialized()
        try:
            for n, variant in enumerate(todo, 1):
                _run_variant(recipe, variant, planned, states[variant.label], n, len(todo), address, verbose)
                write_manifest(root, planned)
        finally:
            if started_here:
                stop_ray()
        write_comparison(root, [(v.strategy, v.seed, v.run_dir) for v in planned])
    return root


def _run_variant(recipe: Recipe, variant: Variant, planned: list[Variant], state: str, n: int, total: int,
                 address: str | None, verbose: bool) -> None:
    resume = state == "partial"
    if state == "new" and recipe.ablate.share_seed_stage:
        source = seed_stage_source(variant, planned)
        if source is not None:
            copy_seed_stage(source, variant)
            resume = True
            _say(f"{variant.label}: iteration 0 copied from {source.label}")
    _say(f"[{n}/{total}] {variant.label}: {'resuming' if resume else 'starting'} {variant.run_dir}")
    start_ray(variant.recipe.resources, address, verbose=verbose)
    run_loop(variant.recipe, variant.recipe_yaml, resume=resume, address=address, verbose=verbose)
