"""The ablation's variants (one loop recipe per strategy and seed), its directory, and the shared
seed stage.

    <ablation dir>/recipe.yaml            the ablation recipe (after overrides)
    <ablation dir>/manifest.json          {"kind": "ablation", "variants": [...], "finished": [...], "done"}
    <ablation dir>/<strategy>/seed_<s>/   a loop run directory (the run-directory contract)
    <ablation dir>/comparison.{json,md,csv}
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from system.errors import QdcError
from system.store import MANIFEST, RECIPE, RunDir, atomic_write_json, atomic_write_text

if TYPE_CHECKING:
    from system.config import Recipe

RUNS_ROOT = Path("runs")
SEED_STAGES = ("000/learn", "000/eval")  # the loop's iteration 0: seed training and its evaluation
SHARED_NOTE = "shared_seed_stage.json"


class AblationError(QdcError):
    pass


@dataclass(frozen=True)
class Variant:
    strategy: str
    seed: int
    recipe: "Recipe"
    recipe_yaml: str

    @property
    def label(self) -> str:
        return f"{self.strategy}/seed_{self.seed}"

    @property
    def run_dir(self) -> Path:
        assert self.recipe.run.dir is not None
        return Path(self.recipe.run.dir)


def ablation_dir_for(recipe: "Recipe") -> Path:
    """run.dir, else runs/<recipe name>: a fixed place, so a rerun skips finished strategies and
    resumes an unfinished one."""
    return Path(recipe.run.dir) if recipe.run.dir else RUNS_ROOT / recipe.name


def seeds_of(recipe: "Recipe") -> list[int]:
    return list(recipe.ablate.seeds or [recipe.seed])


def variants(recipe: "Recipe", root: Path) -> list[Variant]:
    """One loop recipe per (seed, strategy), seeds outermost, validated like any recipe."""
    from system.config import apply_override, dump_recipe, validate_recipe

    out = []
    for seed in seeds_of(recipe):
        for strategy in recipe.ablate.strategies:
            data: dict[str, Any] = recipe.model_dump(mode="json")
            data["name"] = f"{recipe.name}-{strategy}-s{seed}"
            data["seed"] = seed
            data["filter"]["strategy"] = strategy
            data["run"]["dir"] = str(root / strategy / f"seed_{seed}")
            for assignment in recipe.ablate.overrides.get(strategy, []):
                apply_override(data, assignment)
            variant = validate_recipe(data, f"ablation variant {strategy} (seed {seed})")
            out.append(Variant(strategy, seed, variant, dump_recipe(variant)))
    return out


# ------------------------------------------------------------------------------------------------
# state of a variant's run


def run_state(variant: Variant) -> str:
    """'new' (nothing on disk), 'done', or 'partial' (resume it)."""
    path = variant.run_dir
    if not path.exists() or not any(c.name != ".lock" for c in path.iterdir()):  # a killed run may leave its lock file
        return "new"
    if not (path / MANIFEST).is_file():
        raise AblationError(f"{path}: exists but is not a loop run directory (no {MANIFEST}); move it away")
    if (path / RECIPE).read_text() != variant.recipe_yaml:
        raise AblationError(f"{path}: holds a run of a different recipe than this ablation's {variant.label}; "
                            "set run.dir to a new ablation directory (or move the old one away)")
    return "done" if RunDir.open(path).manifest().get("done") else "partial"


def start_manifest(root: Path, recipe_yaml: str, all_variants: list[Variant]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(root / RECIPE, recipe_yaml)
    write_manifest(root, all_variants)


def write_manifest(root: Path, all_variants: list[Variant]) -> None:
    finished = [v.label for v in all_variants if run_state(v) == "done"]
    atomic_write_json(root / MANIFEST, {"kind": "ablation", "variants": [v.label for v in all_variants],
                                        "finished": finished, "done": len(finished) == len(all_variants)})


# ------------------------------------------------------------------------------------------------
# the shared seed stage


def seed_stage_key(recipe: "Recipe") -> str:
    """Everything iteration 0 (seed training, then the evaluation and output-diversity samples)
    depends on. Two variants with the same key get identical iteration-0 results."""
    d = recipe.model_dump(mode="json")
    f = d["filter"]
    key = {k: d[k] for k in ("seed", "task", "tint", "model", "learner", "train", "generator", "resources")}
    key["loop"] = {"seed_training": d["loop"]["seed_training"], "eval": d["loop"]["eval"]}
    key["filter"] = {k: f[k] for k in ("embedder", "embedding_dim", "ngram_range", "vendi_max_n")}
    return json.dumps(key, sort_keys=True)


def seed_stage_done(variant: Variant) -> bool:
    path = variant.run_dir
    if not (path / MANIFEST).is_file():
        return False
    finished = RunDir.open(path).manifest()["finished"]
    return all(s in finished for s in SEED_STAGES)


def copy_seed_stage(source: Variant, target: Variant) -> None:
    """Start ``target``'s run directory with ``source``'s finished iteration 0 (checkpoint, learn.json,
    eval.json) and mark those stages finished, so resuming ``target`` goes straight to iteration 1."""
    from system.loop import artifacts

    if not seed_stage_done(source) or seed_stage_key(source.recipe) != seed_stage_key(target.recipe):
        raise AblationError(f"cannot share iteration 0 of {source.label} with {target.label}")
    run = RunDir.create(target.run_dir, target.recipe_yaml, target.recipe.name)
    shutil.copytree(source.run_dir / "iter_000", target.run_dir / "iter_000")
    for stage in SEED_STAGES:
        run.mark_done(stage)
    artifacts.write_metrics(run)
    atomic_write_json(target.run_dir / SHARED_NOTE, {"iteration_0_from": str(source.run_dir),
                                                     "why": "iteration 0 does not depend on the selection strategy"})


def seed_stage_source(variant: Variant, candidates: list[Variant]) -> Variant | None:
    """A finished run whose iteration 0 ``variant`` can take."""
    key = seed_stage_key(variant.recipe)
    for other in candidates:
        if other is not variant and seed_stage_key(other.recipe) == key and seed_stage_done(other):
            return other
    return None
