"""Is a JSON record a TInt record the verifier can judge? One answer for every command that reads them.

Messages show at most a short prefix of what the record holds: an input of a million numbers is
named, never echoed.
"""

from __future__ import annotations

from typing import Any

from system.errors import short
from system.tint.execute import MAX_STEPS, execute
from system.tint.tasks import TASKS

TINT_KEYS = ("task", "input")  # a record carrying both is meant as a TInt record


def has_tint_keys(record: dict[str, Any]) -> bool:
    return all(record.get(k) is not None for k in TINT_KEYS)


def tint_problem(record: dict[str, Any], text_field: str | None = "completion") -> str | None:
    """Why ``record`` is not a TInt record the verifier can judge (None when it is): a registered
    task, a list of integers it can run on, and (when ``text_field`` is given) text to judge."""
    missing = [k for k in TINT_KEYS if record.get(k) is None]
    if missing:
        return f"not a TInt record: no {' and no '.join(repr(k) for k in missing)}"
    task, values = record["task"], record["input"]
    if not isinstance(task, str) or task not in TASKS:
        return f"unknown TInt task {short(task)}; known: {', '.join(sorted(TASKS))}"
    if not isinstance(values, list) or not values or not all(type(v) is int for v in values):
        return f"'input' must be a non-empty list of integers, got {short(values)}"
    if text_field is not None and not isinstance(record.get(text_field), str):
        return f"no text to verify in field {text_field!r} (got {short(record.get(text_field))})"
    return runnable_problem(task, values)


def runnable_problem(task: str, values: list[int]) -> str | None:
    """Why the registered ``task`` cannot run on the integer list ``values`` (None when it can): the
    wrong number of inputs, more numbers than the step limit allows, or values its steps cannot take
    (the verifier needs the true trace)."""
    arity = TASKS[task].arity
    if (arity is not None and len(values) != arity) or (arity is None and len(values) < 2):
        return f"task {task!r} needs {arity or 'at least 2'} input numbers, got {len(values)}"
    if len(values) > MAX_STEPS:  # every list task takes at least one step per number
        return f"input has {len(values):,} numbers; no task runs on more than {MAX_STEPS:,} within the step limit"
    if execute(task, values) is None:
        return (f"task {task!r} cannot run on input {short(values)} (a value its steps cannot take, "
                f"or more than {MAX_STEPS} steps)")
    return None
