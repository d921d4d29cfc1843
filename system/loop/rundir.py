"""Choosing the run directory: a fresh one for a new run, the recorded one for --resume.

Either way the directory is locked for this process (system.integrity) before anything is written,
and a resumed run is checked (its manifest, its recipe, the SHA-256 of every finished stage's files)
before Ray starts: a damaged run is refused, naming the file and the stage to redo, or with
``--repair`` rolled back to the last intact stage.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from system.integrity import RunLock, find_damage, remove_strays, roll_back
from system.store import MANIFEST, RunDir, RunDirError, atomic_write_json

if TYPE_CHECKING:
    from system.config import Recipe

RUNS_ROOT = Path("runs")


def open_run(recipe: "Recipe", recipe_yaml: str, resume: bool, repair: bool = False) -> RunDir:
    """A new run never writes into a non-empty directory; --resume continues ``run.dir`` (or, when the
    recipe names none, the newest ``runs/<name>-<stamp>``). The returned RunDir holds the lock:
    call ``run.release()`` when done (the lock also ends with the process)."""
    if repair and not resume:
        raise RunDirError("--repair goes with --resume (it rolls a damaged run back, then resumes it)")
    if resume:
        path = Path(recipe.run.dir) if recipe.run.dir else RunDir.newest(RUNS_ROOT, recipe.name)
        if path is None:
            raise RunDirError(f"--resume: no earlier run of recipe {recipe.name!r} under {RUNS_ROOT}/; start one without --resume")
        run = RunDir.open(path)
        run.lock = RunLock(run.path).acquire()
        try:
            _check_resumable(run, recipe_yaml, repair)
        except BaseException:
            run.release()
            raise
        return run
    path = Path(recipe.run.dir) if recipe.run.dir else RunDir.default_path(RUNS_ROOT, recipe.name)
    return _create(path, recipe, recipe_yaml)


def _create(path: Path, recipe: "Recipe", recipe_yaml: str) -> RunDir:
    if path.exists() and not path.is_dir():
        raise RunDirError(f"run.dir {path}: is a file, not a folder; choose another run.dir")
    missing = [p for p in [path, *path.parents] if not p.exists()]
    try:
        lock = RunLock(path).acquire()
    except RunDirError:
        raise
    except OSError as e:
        _remove_created(missing)
        raise RunDirError(f"run.dir {path}: cannot be written ({e.strerror or e}); choose another run.dir") from None
    try:
        run = RunDir.create(path, recipe_yaml, recipe.name)
    except BaseException as e:
        lock.release()
        _remove_created(missing)
        if isinstance(e, OSError):
            raise RunDirError(f"run.dir {path}: cannot be written ({e.strerror or e}); choose another run.dir") from None
        raise
    run.lock = lock
    return run


def _remove_created(folders: list[Path]) -> None:
    """Undo the folders this call made (deepest first), so a refused run leaves nothing behind."""
    for p in folders:
        try:
            for leftover in p.glob(".*"):
                leftover.unlink()
            p.rmdir()
        except OSError:
            return


def _check_resumable(run: RunDir, recipe_yaml: str, repair: bool) -> None:
    if run.recipe_text() != recipe_yaml:
        raise RunDirError(
            f"--resume: {run.path}/recipe.yaml differs from the recipe given now; a resumed run must use the same "
            "recipe and overrides (compare with `qdc config`)"
        )
    manifest = run.manifest()
    remove_strays(run.path)
    damage = find_damage(run.path, manifest)
    if damage is None:
        return
    if not repair:
        raise RunDirError(damage.message(run.path))
    removed = roll_back(run.path, manifest, damage.stage)
    atomic_write_json(run.path / MANIFEST, manifest)
    from system.loop.artifacts import write_metrics

    write_metrics(run)
    print(f"--repair: {damage.file} was {damage.problem}; rolled {run.path} back by {len(removed)} stage(s) "
          f"({', '.join(removed)}); resuming from {removed[0]}", file=sys.stderr, flush=True)
