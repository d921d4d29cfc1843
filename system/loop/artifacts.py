"""The loop's files inside the run directory, written atomically and read back on resume.

    iter_000/model/            seed-trained checkpoint (save_pretrained folder)
    iter_XXX/candidates.parquet every sample of the iteration (before filtering)
    iter_XXX/samples.parquet    every sample with its verdict (the task family's columns), filter scores,
                                selected or not, and why
    iter_XXX/selection.json     chosen indices, counts, QDC metrics, frontiers and kept fractions per task
    iter_XXX/model/             the checkpoint after this iteration's learning
    iter_XXX/learn.json, eval.json
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from system.store import RunDir, RunDirError, atomic_write_bytes

if TYPE_CHECKING:
    from system.config import Recipe
    from system.tasks.base import TaskFamily

Record = dict[str, Any]
INITIAL_MODEL = "init_model"
TOKENIZER = "tokenizer"


# -- checkpoints -----------------------------------------------------------------------------------
def model_dir(run: RunDir, iteration: int) -> Path:
    return run.path / f"iter_{iteration:03d}" / "model"


def initial_model_dir(run: RunDir) -> Path:
    return run.path / INITIAL_MODEL


def _is_checkpoint(p: Path) -> bool:
    return (p / "config.json").is_file() and any(p.glob("*.safetensors"))


def _learning_skipped(run: RunDir, iteration: int) -> bool:
    """A finished learn stage that trained nothing (too few records selected) saves no checkpoint."""
    p = run.path / f"iter_{iteration:03d}" / "learn.json"
    try:
        return "skipped" in json.loads(p.read_text())
    except (OSError, ValueError):
        return False


def scratch_tokenizer(run: RunDir, family: "TaskFamily", recipe: "Recipe") -> Path:
    """The task family's tokenizer for a scratch model, saved once under ``<run>/tokenizer`` so that every
    learner rank builds its model with the same one (a dataset's BPE is trained on its seed text)."""
    from system.store import atomic_write_dir

    out = run.path / TOKENIZER
    if not (out / "tokenizer_config.json").is_file():
        tokenizer = family.scratch_tokenizer(recipe.seed, recipe.model.max_positions)
        atomic_write_dir(out, lambda tmp: tokenizer.save_pretrained(str(tmp)))
    return out


def latest_model(run: RunDir, recipe: "Recipe") -> Path | None:
    """The checkpoint of the newest finished learn stage that trained; else the run's initial model;
    else the recipe's pretrained path; else None (scratch). A finished stage's checkpoint that is
    missing or incomplete is an error, never a reason to take an older one."""
    finished = [int(s.split("/")[0]) for s in run.manifest()["finished"] if s.endswith("/learn")]
    for i in sorted(finished, reverse=True):
        d = model_dir(run, i)
        if _is_checkpoint(d):
            return d
        if not d.exists() and _learning_skipped(run, i):
            continue
        raise RunDirError(f"{d}: the checkpoint of finished stage {i:03d}/learn is missing or incomplete; "
                          f"redo that stage with `--resume --repair`")
    if _is_checkpoint(initial_model_dir(run)):
        return initial_model_dir(run)
    if recipe.model.path:
        return Path(recipe.model.path)
    return None


# -- data for learning -----------------------------------------------------------------------------
def seed_training_records(family: "TaskFamily", recipe: "Recipe") -> list[Record]:
    """The clean seed set of the recipe's task family, shared over its tasks by train.task_weights:
    the same set `qdc train` trains on."""
    return [r.as_sft() for r in family.seed_records(recipe.seed, weights=recipe.train.task_weights)]


def replay_seed_records(family: "TaskFamily", recipe: "Recipe", iteration: int, n: int) -> list[Record]:
    """``n`` fresh clean records for replay, spread like the seed set over its tasks (a different
    draw every iteration, seeded)."""
    return [r.as_sft() for r in family.replay_records(recipe.seed * 1000 + iteration, n, weights=recipe.train.task_weights)]


# -- candidates and selections ---------------------------------------------------------------------
def _write_parquet(path: Path, records: Sequence[Record]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(list(records)), buf)
    atomic_write_bytes(path, buf.getvalue())


def _read_parquet(path: Path) -> list[Record]:
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()


def write_candidates(run: RunDir, iteration: int, candidates: Sequence[Record], frontiers: dict[str, int]) -> None:
    _write_parquet(run.iter_dir(iteration) / "candidates.parquet", candidates)
    run.write_json(iteration, "curriculum.json", {"frontier": min(frontiers.values()), "frontiers": frontiers,
                                                  "n_candidates": len(candidates)})


def read_candidates(run: RunDir, iteration: int) -> list[Record]:
    return _read_parquet(run.iter_dir(iteration) / "candidates.parquet")


def write_selection(run: RunDir, iteration: int, candidates: Sequence[Record], selection: Any,
                    pass_k: float, kept: float, kept_by_task: dict[str, float]) -> None:
    """samples.parquet (every candidate with its verdict columns, filter scores, selected flag and
    reason) and selection.json. A filter score that merely repeats a verdict column is not stored twice."""
    chosen = set(int(i) for i in selection.indices)
    rows = []
    for idx, c in enumerate(candidates):
        row = {**c, **selection.verdicts[idx]}
        for name, column in selection.scores.items():
            if name not in row:
                row[name] = float(column[idx])
        row["selected"] = idx in chosen
        row["reason"] = selection.reasons[idx]
        rows.append(row)
    _write_parquet(run.iter_dir(iteration) / "samples.parquet", rows)
    curriculum = run.read_json(iteration, "curriculum.json")
    run.write_json(iteration, "selection.json", {
        "indices": sorted(chosen),
        "n_generated": len(candidates),
        "n_selected": len(chosen),
        "pass_at_k": pass_k,
        "kept_fraction": kept,
        "kept_by_task": kept_by_task,
        "verify_errors": sum(1 for v in selection.verdicts if v.get("verify_error")),
        "frontier": curriculum["frontier"],
        "frontiers": curriculum["frontiers"],
        "metrics": selection.metrics,
    })


def selected_records(run: RunDir, iteration: int) -> list[Record]:
    return [r for r in _read_parquet(run.iter_dir(iteration) / "samples.parquet") if r["selected"]]


def earlier_selections(run: RunDir, iteration: int) -> list[Record]:
    out: list[Record] = []
    for j in range(1, iteration):
        if (run.iter_dir(j) / "samples.parquet").is_file():
            out += selected_records(run, j)
    return out


# -- metrics ---------------------------------------------------------------------------------------
def write_metrics(run: RunDir) -> None:
    """metrics.jsonl is rebuilt from every finished iteration's eval.json (so it is never half-written)."""
    rows = []
    for d in sorted(run.path.glob("iter_*")):
        p = d / "eval.json"
        if p.is_file():
            rows.append(json.loads(p.read_text())["row"])
    run.write_metrics(rows)
