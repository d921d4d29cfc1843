"""What the `qdc tint ...` verbs do, as plain functions (the CLI only parses flags)."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

from system.errors import InputFileError, QdcError
from system.jsonio import read_jsonl_numbered, write_jsonl
from system.store import refuse_clobber
from system.tint.dataset import NoiseSpec, Record, sample_records
from system.tint.sampling import DEFAULT_SPLITS, splits_for
from system.tint.tasks import TASKS, UnknownTaskError, get_task
from system.tint.records import tint_problem
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


def verify_file(path: Path, field: str = "completion", *, skip_bad: bool = False) -> tuple[list[Record], list[int]]:
    """Verify every record. A record the verifier cannot judge (not a TInt record, an input its task
    cannot run on) raises naming its line, before anything is written; with ``skip_bad`` it is
    dropped instead. Returns the verified records and the line numbers dropped."""
    out: list[Record] = []
    skipped: list[int] = []
    for lineno, record in read_jsonl_numbered(path):
        problem = tint_problem(record, text_field=None)  # any text at all gets a verdict
        if problem is not None:
            if not skip_bad:
                raise InputFileError(f"{path}:{lineno}: {problem} (--skip-bad drops such records)")
            skipped.append(lineno)
            continue
        out.append({**record, "verdict": verify(record["task"], record["input"], record.get(field)).to_dict()})
    return out, skipped


def verify_command(path: Path, field: str, out: Path | None, *, skip_bad: bool = False) -> None:
    """`qdc tint verify`: verdicts to ``out`` (atomically) or stdout; what --skip-bad dropped to stderr."""
    if out is not None:
        refuse_clobber({"--out": out}, [path])
    records, skipped = verify_file(path, field, skip_bad=skip_bad)
    if not records:
        raise InputFileError(f"{path}: no record could be verified" if skipped else f"{path}: no records")
    write_jsonl(records, out)
    if skipped:  # one JSON line: how many were dropped, and the first thousand line numbers
        sys.stderr.write(json.dumps({"verified": len(records), "skipped": len(skipped),
                                     "skipped_lines": skipped[:1000]}) + "\n")


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
