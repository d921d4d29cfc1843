"""Running a task on an input: the true trace, or a replay with forced or perturbed results."""

from __future__ import annotations

from dataclasses import dataclass

from system.tint.tasks import Task, get_task
from system.tint.text import Trace
from system.tint.traced import Perturb, Tracer, plain

MAX_STEPS = 4096


@dataclass(frozen=True, slots=True)
class Execution:
    trace: Trace
    leaves: frozenset[int]  # operand values that come from the input or the task's constants


def execute(
    task: Task | str,
    values: list[int],
    overrides: dict[int, int] | None = None,
    perturb: Perturb | None = None,
) -> Execution | None:
    """Run ``task`` on ``values``. Returns None when a forced result makes the computation undefined
    (a division by zero, a runaway trace); the true computation of a registered task always succeeds."""
    task = get_task(task) if isinstance(task, str) else task
    tracer = Tracer(overrides, perturb)
    xs = tracer.leaf_list(values)
    try:
        result = task.fn(xs, tracer)
    except (ZeroDivisionError, IndexError, ValueError, OverflowError):
        return None
    if len(tracer.steps) > MAX_STEPS:
        return None
    answer = plain(result)
    answer_tuple = tuple(answer) if isinstance(answer, list) else (answer,)
    return Execution(Trace(tuple(tracer.steps), answer_tuple), frozenset(tracer.leaves))


def true_execution(task: Task | str, values: list[int]) -> Execution:
    run = execute(task, values)
    if run is None:
        raise ValueError(f"task {task} failed on input {values}")
    return run
