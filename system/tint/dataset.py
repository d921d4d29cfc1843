"""TInt records: sampled inputs, rendered traces, and noise with its ground truth.

A record is a plain JSON-able dict::

    {"task": "sum", "split": "id", "input": [12, 7, 33], "prompt": "sum 12 7 33 =",
     "completion": " 12+7=19 19+33=52 #52", "answer": 52,
     "noise": {"kind": "none", "noised": false, "steps": []}}

``answer`` is always the true answer of the input; a noised completion may end with another one.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Iterator

from system.tint.execute import Execution, true_execution
from system.tint.noise import (
    DynamicUnit, NoiseKind, StaticDraw, StaticVariant, dynamic_noise, static_digit_noise, static_line_noise,
)
from system.tint.sampling import DEFAULT_SPLITS, SplitSpec, sample_input, splits_for
from system.tint.tasks import Task, get_task
from system.tint.text import render, render_prompt

Record = dict[str, Any]


@dataclass(frozen=True)
class NoiseSpec:
    """What noise a data set carries (see system/tint/noise.py for the definitions). The defaults
    are the study's: static digits redrawn uniformly from 0-9, dynamic noise per digit."""

    kind: NoiseKind = "none"
    contamination: float = 0.0
    intensity: float = 0.0
    static_variant: StaticVariant = "digit"
    static_draw: StaticDraw = "uniform"
    dynamic_unit: DynamicUnit = "digit"

    def __post_init__(self) -> None:
        if not 0.0 <= self.contamination <= 1.0:
            raise ValueError(f"noise contamination must be in [0, 1], got {self.contamination}")
        if not 0.0 <= self.intensity <= 1.0:
            raise ValueError(f"noise intensity must be in [0, 1], got {self.intensity}")


def answer_json(answer: tuple[int, ...], task: Task) -> int | list[int]:
    return list(answer) if task.returns_list else answer[0]


def clean_record(task: Task, values: list[int], split: str, run: Execution | None = None) -> Record:
    run = run or true_execution(task, values)
    return {
        "task": task.name,
        "split": split,
        "input": list(values),
        "prompt": render_prompt(task.name, values),
        "completion": render(run.trace),
        "answer": answer_json(run.trace.answer, task),
        "noise": {"kind": "none", "noised": False, "steps": []},
    }


def noised_record(task: Task, values: list[int], split: str, noise: NoiseSpec, rng: random.Random) -> Record:
    """A record whose completion carries noise of ``noise.kind`` (at least one perturbed step)."""
    clean = true_execution(task, values)
    record = clean_record(task, values, split, clean)
    if noise.kind == "static":
        if noise.static_variant == "line":
            out = static_line_noise(clean, rng, noise.intensity)
        else:
            out = static_digit_noise(clean, rng, noise.intensity, noise.static_draw)
        record["completion"], steps = out.completion, out.steps
    elif noise.kind == "dynamic":
        run, steps = dynamic_noise(task, values, clean, rng, noise.intensity, noise.dynamic_unit)
        record["completion"] = render(run.trace)
    else:
        raise ValueError(f"cannot noise a record with noise kind {noise.kind!r}")
    record["noise"] = {"kind": noise.kind, "noised": True, "steps": steps}
    if noise.kind == "static":
        record["noise"]["variant"] = noise.static_variant
        if noise.static_variant == "digit":
            record["noise"]["draw"] = noise.static_draw
    else:
        record["noise"]["unit"] = noise.dynamic_unit
    return record


def resolve_split(task: Task, split: str, splits: dict[str, SplitSpec] | None = None) -> SplitSpec:
    if split not in splits_for(task):
        raise ValueError(f"task {task.name!r} has no split {split!r}; it has {', '.join(splits_for(task))}")
    return (splits or DEFAULT_SPLITS)[split]


def sample_records(
    task: str,
    split: str = "id",
    n: int = 100,
    seed: int = 0,
    noise: NoiseSpec | None = None,
    splits: dict[str, SplitSpec] | None = None,
) -> Iterator[Record]:
    """n records of one task and split. Exactly round(contamination * n) of them are noised.

    Inputs depend only on (task, split, n, seed), not on the noise, so a clean and a noised set
    drawn with the same seed share their inputs.
    """
    spec_task = get_task(task)
    spec = resolve_split(spec_task, split, splits)
    noise = noise or NoiseSpec()
    input_rng = random.Random(f"inputs:{task}:{split}:{seed}")
    noise_rng = random.Random(f"noise:{task}:{split}:{seed}")
    n_noised = round(noise.contamination * n) if noise.kind != "none" else 0
    noised_at = set(noise_rng.sample(range(n), n_noised))
    for i in range(n):
        values = sample_input(spec_task, spec, input_rng)
        if i in noised_at:
            yield noised_record(spec_task, values, split, noise, noise_rng)
        else:
            record = clean_record(spec_task, values, split)
            if noise.kind != "none":
                record["noise"]["kind"] = noise.kind
            yield record
