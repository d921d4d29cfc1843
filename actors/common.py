"""What every actor does when it starts: its output into the run's logs, the torch thread count the
recipe gives it."""

from __future__ import annotations

import os
from pathlib import Path

from system.logs import redirect_process


def start_actor(name: str, log_dir: str | Path | None, threads: int | None = None) -> None:
    """Output of this actor (and of the engines and ranks it starts) into ``<log_dir>/<name>.log``
    unless the run streams it (``--verbose``: log_dir is None); then the thread count."""
    redirect_process(log_dir, name)
    if threads is not None:
        set_threads(threads)


def set_threads(threads: int | None) -> None:
    import torch

    n = threads or os.cpu_count() or 1
    os.environ["OMP_NUM_THREADS"] = str(n)
    torch.set_num_threads(n)
