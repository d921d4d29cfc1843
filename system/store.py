"""Files of the run directory, written atomically: a temp file in the same folder, fsync, rename.

A reader never sees a half-written file and a killed writer leaves nothing but a stray temp file.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import re
import secrets
import shutil
import sys
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


def _write_temp(path: Path, data: bytes) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~_umask())
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def _backup(path: Path) -> Path | None:
    """A second name for the file now at ``path`` (a hard link, else a copy), so a failed group write
    can put it back; None when nothing is there."""
    if not path.is_file():
        return None
    backup = path.with_name(f".{path.name}.{secrets.token_hex(6)}.bak")
    try:
        os.link(path, backup)
    except OSError:
        shutil.copy2(path, backup)
    return backup


def atomic_write_files(files: dict[Path, bytes]) -> None:
    """Write several files as one: each goes to a temp file beside it, and only when every temp file is
    complete are they renamed into place. If a rename fails, the files already renamed are put back as
    they were (an earlier file restored, a new one removed), so a failure leaves the folder as it found
    it and never deletes a file this call did not create."""
    for path in files:
        if path.is_dir():
            raise QdcError(f"{path}: is a folder, not a file")
    temps: dict[Path, Path] = {}
    try:
        for path, data in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            temps[path] = _write_temp(path, data)
    except BaseException:
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
        raise
    done: list[tuple[Path, Path | None]] = []
    try:
        for path, tmp in temps.items():
            backup = _backup(path)
            done.append((path, backup))
            os.replace(tmp, path)
    except BaseException:
        for path, backup in reversed(done):
            if backup is not None:
                os.replace(backup, path)
            elif not temps[path].exists():  # renamed in, and nothing was there before
                path.unlink(missing_ok=True)
        for tmp in temps.values():
            tmp.unlink(missing_ok=True)
        raise
    for _, backup in done:
        if backup is not None:
            backup.unlink(missing_ok=True)


def same_file(a: Path, b: Path) -> bool:
    """True when ``a`` and ``b`` name one file (through links and relative paths), existing or not."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def refuse_clobber(outputs: dict[str, Path], inputs: list[Path]) -> None:
    """An output that is one of the command's inputs would overwrite what it reads: refuse it."""
    for flag, out in outputs.items():
        for src in inputs:
            if same_file(out, src) or src.resolve().is_relative_to(out.resolve()):
                raise QdcError(f"{flag} {out}: is (or holds) the input {src}; write the output elsewhere")


# ------------------------------------------------------------------------------------------------
# the run directory


MANIFEST = "manifest.json"
METRICS = "metrics.jsonl"
RECIPE = "recipe.yaml"


class RunDirError(QdcError):
    pass


def utc_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


_RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where the system or the
    filesystem cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(b))


def swap_backup(target: Path) -> Path:
    """Where a folder being replaced waits while the new one is renamed in (only where an atomic
    exchange is unavailable); `recover_swaps` puts it back if the process died in between."""
    return target.with_name(f".{target.name}.old")


def replace_dir(tmp: Path, target: Path) -> None:
    """Put the complete folder ``tmp`` at ``target``. There is never a moment without a complete
    folder: the two are exchanged atomically, or (without renameat2) the old one is renamed aside
    first and restored by `recover_swaps` if the process dies before the new one is in place."""
    if not target.exists():
        os.rename(tmp, target)
        return
    if _exchange(tmp, target):
        shutil.rmtree(tmp)  # now holds the old folder
        return
    backup = swap_backup(target)
    if backup.exists():
        shutil.rmtree(backup)
    os.rename(target, backup)
    os.rename(tmp, target)
    shutil.rmtree(backup)


def recover_swaps(root: Path) -> None:
    """Finish or undo a folder replacement that a killed process left half done (see `replace_dir`)."""
    for backup in root.rglob(".*.old"):
        if not backup.is_dir():
            continue
        target = backup.with_name(backup.name[1:-len(".old")])
        if target.exists():
            shutil.rmtree(backup)
        else:
            os.rename(backup, target)


def atomic_write_dir(target: str | Path, fill: Callable[[Path], None]) -> None:
    """Build a directory under a temporary name with ``fill(tmp)``, then swap it into place."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    os.chmod(tmp, 0o777 & ~_umask())
    try:
        fill(tmp)
        replace_dir(tmp, target)
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
        self.lock: Any = None  # a system.integrity.RunLock while this process holds the directory

    # -- creation and lookup --------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, recipe_yaml: str, recipe_name: str) -> "RunDir":
        p = Path(path)
        if p.exists() and not p.is_dir():
            raise RunDirError(f"{p}: run.dir is a file, not a folder; choose another run.dir")
        if p.exists() and any(c.name != ".lock" for c in p.iterdir()):
            raise RunDirError(f"{p}: run directory is not empty; use --resume to continue it or choose another run.dir")
        run = cls(p)
        atomic_write_text(p / RECIPE, recipe_yaml)
        atomic_write_json(p / MANIFEST, {"recipe": recipe_name, "created": utc_stamp(), "finished": [], "done": False})
        return run

    @classmethod
    def open(cls, path: str | Path) -> "RunDir":
        run = cls(path)
        if run.path.exists() and not run.path.is_dir():
            raise RunDirError(f"{run.path}: run.dir is a file, not a run directory")
        if not (run.path / MANIFEST).is_file():
            raise RunDirError(f"{run.path}: no {MANIFEST}; not a run directory (or it never started)")
        return run

    def release(self) -> None:
        """Let go of the directory's lock (see system.integrity), if this process holds it."""
        if self.lock is not None:
            self.lock.release()
            self.lock = None

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
        p = self.path / MANIFEST
        try:
            m = json.loads(p.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise RunDirError(f"{p}: not valid JSON ({type(e).__name__}); the manifest is damaged (truncated?), "
                              "so the run's state is unknown") from None
        if not isinstance(m, dict) or not isinstance(m.get("finished"), list):
            raise RunDirError(f"{p}: not a run manifest (no list of finished stages)")
        return m

    def is_done(self, stage: str) -> bool:
        return stage in self.manifest()["finished"]

    def mark_done(self, stage: str) -> None:
        """Record ``stage`` as finished, with the SHA-256 of the files it wrote (system.integrity)."""
        from system.integrity import record_stage

        m = self.manifest()
        record_stage(self.path, m, stage)
        if stage not in m["finished"]:
            m["finished"].append(stage)
        atomic_write_json(self.path / MANIFEST, m)

    def mark_run_done(self) -> None:
        m = self.manifest()
        m["done"] = True
        atomic_write_json(self.path / MANIFEST, m)

    def recipe_text(self) -> str:
        p = self.path / RECIPE
        try:
            return p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise RunDirError(f"{p}: missing; the run's recipe is needed to resume it") from None
        except UnicodeDecodeError:
            raise RunDirError(f"{p}: not UTF-8 text; the run's recipe is damaged") from None

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
