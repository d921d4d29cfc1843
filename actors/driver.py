"""Entry point of `qdc run`: open (lock, check) the run directory, run the controller, shut Ray down."""

from __future__ import annotations

from pathlib import Path

import ray

from actors.controller import LoopController
from actors.placement import stop_ray
from system.config import Recipe
from system.loop.rundir import open_run
from system.tasks import family_for


def run_loop(recipe: Recipe, recipe_yaml: str, *, resume: bool = False, repair: bool = False,
             address: str | None = None) -> Path:
    family_for(recipe).check()  # the task's data is read and checked before Ray or any actor starts
    run = open_run(recipe, recipe_yaml, resume, repair)  # before Ray starts: a refused run costs nothing
    try:
        started_here = not ray.is_initialized()
        try:
            LoopController(recipe, run, address=address).execute()
        finally:
            if started_here:
                stop_ray()
    finally:
        run.release()
    return run.path
