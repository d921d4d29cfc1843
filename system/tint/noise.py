"""Noise in chains of thought, as the noise study defines it.

* static, ``digit`` variant: after the trace is computed and rendered, every digit of every segment
  (steps and the answer line) is redrawn with probability ``intensity``. The draw is ``uniform``
  (the study's: a digit from 0-9, which may be the true one, so at intensity 0.9 the true digit still
  shows with probability 0.1 + 0.9 / 10 = 0.19 and each other digit with 0.09) or ``different`` (any
  other digit: every redrawn digit is wrong). Later steps still show the true values: the error does
  not propagate.
* static, ``line`` variant: each step line is dropped with probability ``intensity``.
* dynamic: while computing, the intermediate results are perturbed and the computation continues with
  the wrong value, so the error propagates into later steps and the answer. The unit is the ``digit``
  (the study's: each digit of each intermediate value is replaced by a different digit with
  probability ``intensity``; a comparison outcome, one binary digit, is flipped with that probability)
  or the ``step`` (each intermediate result, with probability ``intensity``, gets one digit replaced or
  its comparison flipped).

A record chosen for noise always ends up changed (at least one digit differs, or a line is gone): if
chance left it clean, one digit of one segment (static) or one step (dynamic) is perturbed by force.
So contamination is exactly the fraction of records whose completion differs from the clean one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal

from system.tint.execute import Execution, execute
from system.tint.tasks import Task
from system.tint.text import render_answer, render_step
from system.tint.traced import Step

NoiseKind = Literal["none", "static", "dynamic"]
StaticVariant = Literal["digit", "line"]
StaticDraw = Literal["uniform", "different"]
DynamicUnit = Literal["digit", "step"]
DIGITS = "0123456789"


@dataclass(frozen=True)
class NoisedText:
    completion: str
    steps: list[int] = field(default_factory=list)  # perturbed segment indices; the answer line is len(steps)


def _other_digit(rng: random.Random, digit: str, allow_zero: bool = True) -> str:
    choices = [d for d in DIGITS if d != digit and (allow_zero or d != "0")]
    return rng.choice(choices)


def _redraw(rng: random.Random, digit: str, draw: StaticDraw) -> str:
    return rng.choice(DIGITS) if draw == "uniform" else _other_digit(rng, digit)


def _noise_segment(segment: str, rng: random.Random, intensity: float, draw: StaticDraw) -> str:
    chars = list(segment)
    for k, c in enumerate(chars):
        if c.isdigit() and rng.random() < intensity:
            chars[k] = _redraw(rng, c, draw)
    return "".join(chars)


def _force_digit(segment: str, rng: random.Random) -> str:
    positions = [k for k, c in enumerate(segment) if c.isdigit()]
    k = rng.choice(positions)
    return segment[:k] + _other_digit(rng, segment[k]) + segment[k + 1 :]


def static_digit_noise(run: Execution, rng: random.Random, intensity: float, draw: StaticDraw = "uniform") -> NoisedText:
    segments = [render_step(s) for s in run.trace.steps] + [render_answer(run.trace.answer)]
    noised = [_noise_segment(seg, rng, intensity, draw) for seg in segments]
    changed = [i for i, (a, b) in enumerate(zip(segments, noised)) if a != b]
    if not changed:
        i = rng.randrange(len(segments))
        noised[i] = _force_digit(segments[i], rng)
        changed = [i]
    return NoisedText(" " + " ".join(noised), changed)


def static_line_noise(run: Execution, rng: random.Random, intensity: float) -> NoisedText:
    steps = [render_step(s) for s in run.trace.steps]
    if not steps:
        raise ValueError("the line variant of static noise needs a trace with at least one step")
    dropped = [i for i in range(len(steps)) if rng.random() < intensity]
    if not dropped:
        dropped = [rng.randrange(len(steps))]
    kept = [s for i, s in enumerate(steps) if i not in set(dropped)]
    return NoisedText(" " + " ".join(kept + [render_answer(run.trace.answer)]), dropped)


def perturb_value(step: Step, rng: random.Random) -> int:
    """A wrong result for a step: a flipped comparison, or one digit of the value changed."""
    if step.is_comparison:
        return 1 - int(bool(step.result))
    sign = "-" if step.result < 0 else ""
    digits = str(abs(step.result))
    k = rng.randrange(len(digits))
    new = _other_digit(rng, digits[k], allow_zero=not (k == 0 and len(digits) > 1))
    return int(sign + digits[:k] + new + digits[k + 1 :])


def perturb_digits(step: Step, rng: random.Random, intensity: float) -> int:
    """The step's result with each digit replaced by a different one with probability ``intensity``
    (a leading digit never by 0, so the value keeps its length); a comparison flipped with that
    probability. Equals the true result when nothing was drawn."""
    if step.is_comparison:
        return 1 - int(bool(step.result)) if rng.random() < intensity else step.result
    sign = "-" if step.result < 0 else ""
    digits = list(str(abs(step.result)))
    for k, c in enumerate(digits):
        if rng.random() < intensity:
            digits[k] = _other_digit(rng, c, allow_zero=not (k == 0 and len(digits) > 1))
    return int(sign + "".join(digits))


def dynamic_noise(
    task: Task, values: list[int], clean: Execution, rng: random.Random, intensity: float, unit: DynamicUnit = "digit"
) -> tuple[Execution, list[int]]:
    """Recompute with perturbed intermediate results; returns the noised execution and the perturbed steps."""
    perturbed: list[int] = []

    def perturb(index: int, step: Step) -> int:
        if unit == "digit":
            value = perturb_digits(step, rng, intensity)
            if value != step.result:
                perturbed.append(index)
            return value
        if rng.random() < intensity:
            perturbed.append(index)
            return perturb_value(step, rng)
        return step.result

    run = execute(task, values, perturb=perturb) if intensity > 0 else None
    if run is not None and perturbed:
        return run, perturbed
    # Nothing (valid) was perturbed by chance: force one step, chosen on the clean trace.
    order = list(range(len(clean.trace.steps)))
    rng.shuffle(order)
    for k in order:
        forced = execute(task, values, overrides={k: perturb_value(clean.trace.steps[k], rng)})
        if forced is not None:
            return forced, [k]
    raise ValueError(f"dynamic noise found no step of task {task.name!r} to perturb on input {values}")
