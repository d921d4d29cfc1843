"""What the `qdc tint ...` verbs do, as plain functions (the CLI only parses flags)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from system.errors import InputFileError, QdcError
from system.jsonio import read_jsonl_numbered
from system.tint.dataset import NoiseSpec, Record, sample_records
from system.tint.sampling import DEFAULT_SPLITS, splits_for
from system.tint.tasks import TASKS, UnknownTaskError, get_task
from system.tint.verifier import verify

NOISE_KINDS = ("none", "static", "dynamic")
STATIC_VARIANTS = ("digit", "line")
STATIC_DRAWS = ("uniform", "different")
DYNAMIC_UNITS = ("digit", "step")


def task_listing() -> list[dict[str, Any]]:
    rows = []
    for name, task in TASKS.items():
        splits = {
            s: {"lengths": list(DEFAULT_SPLITS[s].lengths) if task.arity is None else [task.arity, task.arity],
                "digits": list(DEFAULT_SPLITS[s].digits)}
            for s in splits_for(task)
        }
        rows.append({"task": name, "description": task.description, "returns_list": task.returns_list, "splits": splits})
    return rows


def _choice(value: str, allowed: tuple[str, ...], flag: str) -> str:
    if value not in allowed:
        raise QdcError(f"{flag} {value!r} is not one of {', '.join(allowed)}")
    return value


def sample_command(
    task: str, split: str, n: int, seed: int, noise: str, contamination: float, intensity: float, static_variant: str,
    static_draw: str = "uniform", dynamic_unit: str = "digit",
) -> list[Record]:
    try:
        spec = get_task(task)
    except UnknownTaskError as e:
        raise QdcError(f"--task: {e}") from None
    if split not in splits_for(spec):
        raise QdcError(f"--split {split!r}: task {task!r} has {', '.join(splits_for(spec))}")
    _choice(noise, NOISE_KINDS, "--noise")
    _choice(static_variant, STATIC_VARIANTS, "--static-variant")
    _choice(static_draw, STATIC_DRAWS, "--static-draw")
    _choice(dynamic_unit, DYNAMIC_UNITS, "--dynamic-unit")
    for flag, value in (("--contamination", contamination), ("--intensity", intensity)):
        if not 0.0 <= value <= 1.0:
            raise QdcError(f"{flag} must be in [0, 1], got {value}")
    spec_noise = NoiseSpec(noise, contamination, intensity, static_variant, static_draw, dynamic_unit)  # type: ignore[arg-type]
    return list(sample_records(task, split, n, seed, spec_noise))


def _checked_truth(record: dict[str, Any], where: str) -> tuple[str, list[int]]:
    task, values = record.get("task"), record.get("input")
    if task is None or values is None:
        missing = [k for k in ("task", "input") if record.get(k) is None]
        raise InputFileError(f"{where}: record lacks {' and '.join(missing)}")
    if not isinstance(task, str) or task not in TASKS:
        raise InputFileError(f"{where}: unknown task {task!r}; known: {', '.join(sorted(TASKS))}")
    if not isinstance(values, list) or not values or not all(type(v) is int for v in values):
        raise InputFileError(f"{where}: input must be a non-empty list of integers")
    arity = TASKS[task].arity
    if (arity is not None and len(values) != arity) or (arity is None and len(values) < 2):
        raise InputFileError(f"{where}: task {task!r} needs {arity or 'at least 2'} input numbers, got {len(values)}")
    return task, values


def verify_file(path: Path, field: str = "completion") -> list[Record]:
    """Verify every record; the first unusable line raises (so nothing partial is written)."""
    out = []
    for lineno, record in read_jsonl_numbered(path):
        task, values = _checked_truth(record, f"{path}:{lineno}")
        out.append({**record, "verdict": verify(task, values, record.get(field)).to_dict()})
    return out


def _demo_rows(n: int, seed: int) -> Iterator[dict[str, Any]]:
    for task in TASKS:
        for kind in ("static", "dynamic"):
            records = list(sample_records(task, "id", n, seed, NoiseSpec(kind, 0.5, 0.3)))  # type: ignore[arg-type]
            said: Counter[str] = Counter()
            right = 0
            for r in records:
                verdict = verify(task, r["input"], r["completion"])
                said[verdict.noise_kind] += 1
                truth = kind if r["noise"]["noised"] else "none"
                right += verdict.noise_kind == truth
            yield {"task": task, "noise": kind, "n": n, "noised": sum(r["noise"]["noised"] for r in records),
                   "said": said, "agree": right / n}


def demo(n: int, seed: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"TInt: {n} records per row, half of them noised (intensity 0.3), verified")
    for col in ("task", "noise", "noised", "verifier: none", "static", "dynamic", "malformed", "agrees with truth"):
        table.add_column(col, justify="right" if col not in ("task", "noise") else "left")
    start = time.perf_counter()
    total_right = total = 0
    for row in _demo_rows(n, seed):
        said = row["said"]
        table.add_row(row["task"], row["noise"], str(row["noised"]), str(said["none"]), str(said["static"]),
                      str(said["dynamic"]), str(said["malformed"]), f"{row['agree']:.1%}")
        total_right += round(row["agree"] * n)
        total += n
    console.print(table)
    console.print(f"{total} records sampled, noised and verified in {time.perf_counter() - start:.1f} s; "
                  f"the verifier's noise kind agrees with the ground truth on {total_right / total:.1%}.")
