"""Files of the run directory, written atomically: a temp file in the same folder, fsync, rename.

A reader never sees a half-written file and a killed writer leaves nothing but a stray temp file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from system.errors import QdcError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


# ------------------------------------------------------------------------------------------------
# the run directory


MANIFEST = "manifest.json"
METRICS = "metrics.jsonl"
RECIPE = "recipe.yaml"


class RunDirError(QdcError):
    pass


def utc_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def atomic_write_dir(target: str | Path, fill: Callable[[Path], None]) -> None:
    """Build a directory under a temporary name with ``fill(tmp)``, then move it into place."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        fill(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class RunDir:
    """``runs/<name>/``: the resolved recipe, a manifest of finished stages, metrics, iteration folders.

    The manifest is the only state: a stage is finished once its name is in it, and it is written
    only after the stage's files are in place, so a run killed at any point resumes from the first
    stage that is not listed and loses nothing that was finished.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    # -- creation and lookup --------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, recipe_yaml: str, recipe_name: str) -> "RunDir":
        p = Path(path)
        if p.exists() and any(p.iterdir()):
            raise RunDirError(f"{p}: run directory is not empty; use --resume to continue it or choose another run.dir")
        p.mkdir(parents=True, exist_ok=True)
        run = cls(p)
        atomic_write_text(p / RECIPE, recipe_yaml)
        atomic_write_json(p / MANIFEST, {"recipe": recipe_name, "created": utc_stamp(), "finished": [], "done": False})
        return run

    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        run = cls(path)
        if not (run.path / MANIFEST).is_file():
            raise RunDirError(f"{run.path}: no {MANIFEST}; not a run directory (or it never started)")
        return run

    @staticmethod
    def default_path(root: str | Path, recipe_name: str) -> Path:
        return Path(root) / f"{recipe_name}-{utc_stamp()}"

    @staticmethod
    def newest(root: str | Path, recipe_name: str) -> Path | None:
        pattern = re.compile(rf"^{re.escape(recipe_name)}-\d{{8}}T\d{{6}}Z$")
        found = sorted(p for p in Path(root).glob(f"{recipe_name}-*") if pattern.match(p.name) and (p / MANIFEST).is_file())
        return found[-1] if found else None

    # -- manifest -------------------------------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        return json.loads((self.path / MANIFEST).read_text())

    def is_done(self, stage: str) -> bool:
        return stage in self.manifest()["finished"]

    def mark_done(self, stage: str) -> None:
        m = self.manifest()
        if stage not in m["finished"]:
            m["finished"].append(stage)
        atomic_write_json(self.path / MANIFEST, m)

    def mark_run_done(self) -> None:
        m = self.manifest()
        m["done"] = True
        atomic_write_json(self.path / MANIFEST, m)

    def recipe_text(self) -> str:
        return (self.path / RECIPE).read_text()

    # -- files ----------------------------------------------------------------------------------
    def iter_dir(self, iteration: int) -> Path:
        d = self.path / f"iter_{iteration:03d}"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def write_json(self, iteration: int, name: str, obj: Any) -> Path:
        p = self.iter_dir(iteration) / name
        atomic_write_json(p, obj)
        return p

    def read_json(self, iteration: int, name: str) -> Any:
        return json.loads((self.iter_dir(iteration) / name).read_text())

    def write_metrics(self, rows: list[dict[str, Any]]) -> None:
        atomic_write_text(self.path / METRICS, "".join(json.dumps(r) + "\n" for r in rows))

    def metrics(self) -> list[dict[str, Any]]:
        p = self.path / METRICS
        if not p.is_file():
            return []
        return [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
