"""Where output goes: the terminal shows qdc-loop's own progress; everything the libraries print
(Ray, vLLM, transformers, accelerate, DeepSpeed, their warnings and progress bars) goes to log files
under ``<run.dir>/logs/``.

`capture` moves this process's file descriptors 1 and 2 onto ``logs/driver.log`` (so C-level writes,
child processes and every Python stream follow) and keeps a private copy of the terminal's stderr and
stdout for `terminal_err` / `terminal_out`: the progress display, the one-line error and the command's
result are written there. `redirect_process` does the same for an actor process (its log is
``logs/<actor>.log``, and the engines and ranks it starts inherit it). With ``--verbose`` nothing is
captured and every library streams to the terminal as before.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Iterator, TextIO

LOGS = "logs"
DRIVER_LOG = "driver.log"
# Library chatter that reads these at start-up (progress bars, transformers' info lines)
QUIET_ENV = {"TRANSFORMERS_VERBOSITY": "error", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TQDM_DISABLE": "1",
             "HF_DATASETS_DISABLE_PROGRESS_BARS": "1", "VLLM_LOGGING_LEVEL": "WARNING",
             "PYTHONWARNINGS": "default"}

_terminal_err: TextIO | None = None
_terminal_out: TextIO | None = None
_log_path: Path | None = None
_last_log: Path | None = None  # the driver log of the last capture, named by the error message after it


def terminal_err() -> TextIO:
    """The terminal's stderr (while output is captured, a private copy of it)."""
    return _terminal_err or sys.stderr


def terminal_out() -> TextIO:
    return _terminal_out or sys.stdout


def current_log() -> Path | None:
    """The driver log output is captured into now, if any."""
    return _log_path


def last_log() -> Path | None:
    """The driver log of the latest capture in this process (a failure's message names it)."""
    return _last_log


def logs_dir(root: str | Path) -> Path:
    path = Path(root) / LOGS
    path.mkdir(parents=True, exist_ok=True)
    return path


def _point_fds_at(path: Path) -> None:
    """Send this process's fds 1 and 2 (and so its children's) to ``path``, appended, line-buffered Python streams."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False), line_buffering=True)
    sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False), line_buffering=True)


def _warnings_to_log() -> None:
    """Warnings are shown once per place, in the log (never on the terminal)."""
    logging.captureWarnings(True)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    warnings.simplefilter("default")


@contextlib.contextmanager
def capture(run_dir: str | Path, verbose: bool = False) -> Iterator[Path | None]:
    """Library output of this process into ``<run_dir>/logs/driver.log`` for the duration; yields the log
    path (None when ``verbose``: then nothing changes)."""
    global _terminal_err, _terminal_out, _log_path, _last_log
    if verbose or _log_path is not None:
        yield _log_path
        return
    path = logs_dir(run_dir) / DRIVER_LOG
    saved_err, saved_out = os.dup(2), os.dup(1)
    old_streams = sys.stdout, sys.stderr
    old_env = {k: os.environ.get(k) for k in QUIET_ENV}
    os.environ.update(QUIET_ENV)
    _terminal_err = io.TextIOWrapper(os.fdopen(saved_err, "wb"), line_buffering=True)
    _terminal_out = io.TextIOWrapper(os.fdopen(saved_out, "wb"), line_buffering=True)
    _point_fds_at(path)
    _warnings_to_log()
    _log_path = _last_log = path
    try:
        yield path
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(_terminal_out.fileno(), 1)
        os.dup2(_terminal_err.fileno(), 2)
        sys.stdout, sys.stderr = old_streams
        _terminal_err.close()
        _terminal_out.close()
        _terminal_err = _terminal_out = None
        _log_path = None
        for key, value in old_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def write_step_file(path: str | Path, step: int, max_steps: int) -> None:
    """The step a training has reached, for a process that shows its progress (`read_step_file`)."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp")
    tmp.write_text(json.dumps({"step": step, "max_steps": max_steps}))
    os.replace(tmp, p)


def read_step_file(path: str | Path) -> tuple[int, int] | None:
    """(step, max_steps) from `write_step_file`, or None before the first write."""
    try:
        data = json.loads(Path(path).read_text())
        return int(data["step"]), int(data["max_steps"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def redirect_process(log_dir: str | Path | None, name: str) -> None:
    """An actor's output (and that of the engines and ranks it starts) into ``<log_dir>/<name>.log``."""
    if log_dir is None:
        return
    os.environ.update(QUIET_ENV)
    _point_fds_at(Path(log_dir) / f"{name}.log")
    _warnings_to_log()
