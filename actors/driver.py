"""Entry point of `qdc run`: open (lock, check) the run directory, run the controller, shut Ray down."""

from __future__ import annotations

from pathlib import Path

import ray

from actors.controller import LoopController
from actors.placement import stop_ray
from system.config import Recipe
from system.logs import capture, logs_dir
from system.loop.trackers import close_open_runs
from system.loop.rundir import open_run
from system.tasks import family_for


def run_loop(recipe: Recipe, recipe_yaml: str, *, resume: bool = False, repair: bool = False,
             address: str | None = None, verbose: bool = False) -> Path:
    """The closed loop into its run directory. The terminal shows progress; what Ray, vLLM and the
    libraries print goes to ``<run.dir>/logs/`` (the driver's and each actor's), unless ``verbose``."""
    family_for(recipe).check()  # the task's data is read and checked before Ray or any actor starts
    run = open_run(recipe, recipe_yaml, resume, repair)  # before Ray starts: a refused run costs nothing
    try:
        with capture(run.path, verbose):
            started_here = not ray.is_initialized()
            actor_logs = None if verbose else logs_dir(run.path)
            try:
                LoopController(recipe, run, address=address, log_dir=actor_logs).execute()
            finally:
                close_open_runs()  # before Ray's processes (W&B's service among the driver's children) stop
                if started_here:
                    stop_ray()
    finally:
        run.release()
    return run.path
