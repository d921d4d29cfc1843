"""What an actor that computes does when it starts: the torch thread count the recipe gives it. (Every
actor first sends its output to the run's logs: `system.logs.redirect_process`.)"""

from __future__ import annotations

import os


def set_threads(threads: int | None) -> None:
    import torch

    n = threads or os.cpu_count() or 1
    os.environ["OMP_NUM_THREADS"] = str(n)
    torch.set_num_threads(n)
