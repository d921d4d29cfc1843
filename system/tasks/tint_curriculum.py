"""TInt's curriculum: which prompts each iteration samples (each task's frontier length) and when
the frontier moves up.

Every task has its own frontier: tasks differ in how soon the model solves longer lists (``max``
long before ``sum``), and a shared frontier would move on as soon as the easiest task is solved,
leaving the harder ones without prompts they can learn from.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Mapping

from system.loop.config import CurriculumConfig
from system.tint.dataset import clean_record
from system.tint.sampling import SplitSpec, sample_input
from system.tint.tasks import get_task


@dataclass(frozen=True)
class Frontier:
    length: int
    reason: str


def first_frontier(cfg: CurriculumConfig, id_split: SplitSpec) -> int:
    return cfg.start_length if cfg.start_length is not None else id_split.lengths[1] + 1


def first_frontiers(cfg: CurriculumConfig, id_split: SplitSpec, tasks: list[str]) -> dict[str, int]:
    return {t: first_frontier(cfg, id_split) for t in tasks}


def next_frontier(cfg: CurriculumConfig, current: int, kept_fraction: float) -> Frontier:
    """Advance one length once enough prompts at the current frontier had a sample kept."""
    if kept_fraction >= cfg.advance_when_kept and current < cfg.max_length:
        return Frontier(current + 1, f"kept {kept_fraction:.0%} >= {cfg.advance_when_kept:.0%} at length {current}")
    if current >= cfg.max_length:
        return Frontier(current, f"at max_length {cfg.max_length}")
    return Frontier(current, f"kept {kept_fraction:.0%} < {cfg.advance_when_kept:.0%} at length {current}")


def next_frontiers(cfg: CurriculumConfig, current: Mapping[str, int], kept_by_task: Mapping[str, float]) -> dict[str, int]:
    """Each task's next frontier from the fraction of its own prompts that had a sample kept."""
    return {t: next_frontier(cfg, length, kept_by_task.get(t, 0.0)).length for t, length in current.items()}


def iteration_prompts(
    tasks: list[str],
    n: int,
    frontiers: Mapping[str, int],
    id_split: SplitSpec,
    below_frontier: float,
    seed: int,
    iteration: int,
) -> list[dict[str, Any]]:
    """n prompts spread evenly over the tasks, each at its task's frontier (a share below it if asked).

    Each record is a clean TInt record (its completion is the true trace, never shown to the model)
    plus a ``prompt_id`` that the k samples of the prompt will share.
    """
    rng = random.Random(seed)
    low = id_split.lengths[1] + 1
    out = []
    for i in range(n):
        task = get_task(tasks[i % len(tasks)])
        frontier = frontiers[task.name]
        length = frontier
        if below_frontier > 0 and frontier > low and rng.random() < below_frontier:
            length = rng.randint(low, frontier - 1)
        spec = SplitSpec(lengths=(length, length), digits=id_split.digits)
        values = sample_input(task, spec, rng)
        record = clean_record(task, values, split=f"len{len(values)}")
        record["prompt_id"] = f"{iteration}:{i}"
        out.append(record)
    return out
