"""Choosing the run directory: a fresh one for a new run, the recorded one for --resume."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from system.store import RunDir, RunDirError

if TYPE_CHECKING:
    from system.config import Recipe

RUNS_ROOT = Path("runs")


def open_run(recipe: "Recipe", recipe_yaml: str, resume: bool) -> RunDir:
    """A new run never writes into a non-empty directory; --resume continues ``run.dir`` (or, when the
    recipe names none, the newest ``runs/<name>-<stamp>``)."""
    if resume:
        path = Path(recipe.run.dir) if recipe.run.dir else RunDir.newest(RUNS_ROOT, recipe.name)
        if path is None:
            raise RunDirError(f"--resume: no earlier run of recipe {recipe.name!r} under {RUNS_ROOT}/; start one without --resume")
        run = RunDir.open(path)
        if run.recipe_text() != recipe_yaml:
            raise RunDirError(
                f"--resume: {path}/recipe.yaml differs from the recipe given now; a resumed run must use the same "
                "recipe and overrides (compare with `qdc config`)"
            )
        return run
    path = Path(recipe.run.dir) if recipe.run.dir else RunDir.default_path(RUNS_ROOT, recipe.name)
    return RunDir.create(path, recipe_yaml, recipe.name)
