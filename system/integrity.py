"""Run-directory integrity: one process at a time (a lock), and the files of every finished stage
recorded with their SHA-256, so a damaged run is refused or rolled back, never resumed from the wrong
weights.

    <run>/.lock              held (flock) by the process that runs the directory; names its pid and host
    manifest.json "files"    {stage: {relative path: {"sha256", "size", "mtime_ns"}}}

A stage owns the files that appeared (or changed) in its iteration folder ``iter_NNN/`` (and in
``init_model/``) while it ran: `record_stage` claims them when the stage is marked finished, so no
stage has to list its outputs and a new output file is covered without a change here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from system.store import RunDirError

LOCK_NAME = ".lock"
ROOT_FOLDERS = ("init_model", "tokenizer")  # folders outside iter_NNN/ that hold stage outputs
_ITERATION = re.compile(r"^(\d{3,})/")
_CHUNK = 1 << 20


class RunLockedError(RunDirError):
    """Another process holds the run directory."""


# ------------------------------------------------------------------------------------------------
# the lock


class RunLock:
    """An exclusive, non-blocking lock on a directory, held until `release` or the process ends (a
    kill -9 too: the kernel drops a flock with its holder). The lock file names the holder."""

    def __init__(self, directory: str | Path, what: str = "run directory"):
        self.directory = Path(directory)
        self.path = self.directory / LOCK_NAME
        self.what = what
        self._lock: Any = None

    def acquire(self) -> "RunLock":
        from filelock import FileLock, Timeout

        self.directory.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.path, timeout=0, on_acquired=self._write_holder)
        try:
            lock.acquire()
        except Timeout:
            raise RunLockedError(f"{self.directory}: {self.what} in use by {self.holder()}; wait for it to "
                                 "finish or stop it first") from None
        self._lock = lock
        return self

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    @staticmethod
    def _write_holder(fd: int) -> None:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        data = (json.dumps(info) + "\n").encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        os.fsync(fd)

    def holder(self) -> str:
        try:
            info = json.loads(self.path.read_text())
            return f"pid {int(info['pid'])} on host {info['host']} (since {info['since']})"
        except (OSError, ValueError, KeyError, TypeError):
            return "another process (its pid and host could not be read)"


# ------------------------------------------------------------------------------------------------
# stage checksums


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _scope(run: Path, stage: str) -> list[Path]:
    """Folders whose new or changed files a finishing stage claims."""
    folders = [run / name for name in ROOT_FOLDERS]
    m = _ITERATION.match(stage)
    if m:
        folders.append(run / f"iter_{int(m.group(1)):03d}")
    return [f for f in folders if f.is_dir()]


def _files(folder: Path) -> list[Path]:
    """Files below ``folder``, leaving out temp files and folders (names starting with a dot)."""
    out = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        out += [Path(root) / n for n in sorted(names) if not n.startswith(".")]
    return out


def _entry(path: Path, old: dict[str, Any] | None = None) -> dict[str, Any]:
    st = path.stat()
    if old is not None and old.get("size") == st.st_size and old.get("mtime_ns") == st.st_mtime_ns:
        return old  # unchanged since it was hashed
    return {"sha256": sha256_file(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def record_stage(run: Path, manifest: dict[str, Any], stage: str) -> None:
    """Claim for ``stage`` every file in its scope that no stage owns yet or that changed since its
    owner finished (it is then this stage's output). Updates ``manifest["files"]`` in place."""
    files: dict[str, dict[str, Any]] = manifest.setdefault("files", {})
    owner = {rel: s for s, entries in files.items() for rel in entries}
    mine = files.setdefault(stage, {})
    for folder in _scope(run, stage):
        for path in _files(folder):
            rel = path.relative_to(run).as_posix()
            previous = files.get(owner[rel], {}).get(rel) if rel in owner else None
            entry = _entry(path, previous)
            if rel in owner and owner[rel] != stage:
                if entry is previous:
                    continue
                del files[owner[rel]][rel]
            mine[rel] = entry


@dataclass(frozen=True)
class Damage:
    stage: str
    file: Path
    problem: str

    def message(self, run: Path) -> str:
        return (f"{self.file}: {self.problem}; it was written by finished stage {self.stage}, which must be redone "
                f"(`--resume --repair` rolls {run} back to the stage before it and continues from there)")


def find_damage(run: Path, manifest: dict[str, Any]) -> Damage | None:
    """The first finished stage (in order) with a file missing, cut short or changed."""
    files: dict[str, dict[str, Any]] = manifest.get("files", {})
    for stage in manifest.get("finished", []):
        for rel, entry in files.get(stage, {}).items():
            path = run / rel
            if not path.is_file():
                return Damage(stage, path, "missing")
            size = path.stat().st_size
            if size != entry["size"]:
                return Damage(stage, path, f"{size:,} bytes where {entry['size']:,} were written (truncated or replaced)")
            if sha256_file(path) != entry["sha256"]:
                return Damage(stage, path, "content differs from what was written (SHA-256 mismatch)")
    return None


def roll_back(run: Path, manifest: dict[str, Any], stage: str) -> list[str]:
    """Forget ``stage`` and every later finished stage, and delete the files they wrote. Returns the
    stages removed. The caller writes the manifest."""
    finished: list[str] = manifest["finished"]
    removed = finished[finished.index(stage):]
    files: dict[str, dict[str, Any]] = manifest.get("files", {})
    for s in removed:
        for rel in files.pop(s, {}):
            (run / rel).unlink(missing_ok=True)
    manifest["finished"] = finished[: finished.index(stage)]
    manifest["done"] = False
    for folder in sorted({p for p in run.glob("iter_*") if p.is_dir()} | {run / f for f in ROOT_FOLDERS}):
        _prune_empty(folder)
    return removed


def _prune_empty(folder: Path) -> None:
    if not folder.is_dir():
        return
    for root, dirs, names in os.walk(folder, topdown=False):
        if not os.listdir(root):
            os.rmdir(root)


def remove_strays(run: Path) -> list[Path]:
    """Temp files and folders that a killed writer left behind (the store's writers name them with a
    leading dot); only safe while the lock is held."""
    from system.store import recover_swaps

    recover_swaps(run)
    strays = []
    for folder in [run, *(p for p in run.glob("iter_*") if p.is_dir()), *(run / f for f in ROOT_FOLDERS)]:
        if not folder.is_dir():
            continue
        for p in folder.iterdir():
            temp_dir = p.is_dir() and p.name.count(".") >= 2  # mkdtemp(prefix=".<name>.")
            if p.name.startswith(".") and p.name != LOCK_NAME and (p.name.endswith((".tmp", ".bak")) or temp_dir):
                shutil.rmtree(p) if p.is_dir() else p.unlink()
                strays.append(p)
    return strays
