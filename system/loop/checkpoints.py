"""Saving a learner rank's checkpoint so that a killed run never leaves a half-written model folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from system.store import atomic_write_dir


def save_rank(learner: Any, out: Path) -> str | None:
    """Every rank takes part (the save gathers weights); rank 0 writes into a temp folder that is
    renamed into place once complete. Returns the folder on rank 0, None elsewhere."""
    if learner.rank != 0:
        learner.save(out)
        return None
    atomic_write_dir(out, lambda tmp: learner.save(tmp))
    return str(out)
