"""The filter probe: which selection strategies keep noised samples out of the training set?

A candidate pool mixes clean, static-noised and dynamic-noised records of a task (each record knows
whether and how it was noised). Each strategy selects under the same budget with the recipe's
filter section (scorers, embedder, knobs); the cell reports the share of each noise kind it kept and,
with `probe.filter.train`, the clean accuracy of a fresh model trained on its selection.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from system.probe.cells import Cell, CellResult, common_config, probe_tasks, register_probe

if TYPE_CHECKING:
    from system.config import Recipe

Record = dict[str, Any]
NOISE_KINDS = ("none", "static", "dynamic")


def candidate_pool(recipe: "Recipe", task: str, seed: int) -> list[Record]:
    """pool_size ID records: static_share with static noise, dynamic_share with dynamic noise, the rest
    clean; the three parts are drawn with separate seeds (independent inputs), then shuffled."""
    from system.tint import NoiseSpec, sample_records

    f = recipe.probe.filter
    n = f.pool_size
    n_static, n_dynamic = round(f.static_share * n), round(f.dynamic_share * n)
    grid = recipe.probe.grid
    parts = [
        ("none", n - n_static - n_dynamic, NoiseSpec()),
        ("static", n_static, grid.noise_spec("static", 1.0, f.static_intensity)),
        ("dynamic", n_dynamic, grid.noise_spec("dynamic", 1.0, f.dynamic_intensity)),
    ]
    splits = recipe.tint.split_specs()
    pool: list[Record] = []
    for offset, (kind, count, noise) in enumerate(parts):
        if count > 0:
            pool.extend(sample_records(task, "id", count, seed=seed * 1000 + 101 + offset, noise=noise, splits=splits))
    random.Random(f"pool:{task}:{seed}").shuffle(pool)
    return pool


def noise_kind(record: Record) -> str:
    return record["noise"]["kind"] if record["noise"]["noised"] else "none"


def keep_stats(pool: Sequence[Record], chosen: Sequence[int]) -> dict[str, Any]:
    """Per noise kind: how many were in the pool, how many were kept, the kept rate, and the kind's
    share of the selection."""
    kept = set(int(i) for i in chosen)
    out: dict[str, Any] = {}
    for kind in NOISE_KINDS:
        idx = [i for i, r in enumerate(pool) if noise_kind(r) == kind]
        k = sum(i in kept for i in idx)
        out[kind] = {"in_pool": len(idx), "kept": k, "kept_rate": k / len(idx) if idx else None,
                     "share_of_selection": k / len(kept) if kept else 0.0}
    return out


class FilterProbe:
    name = "filter"

    def config(self, recipe: "Recipe") -> dict[str, Any]:
        f = recipe.probe.filter
        return {**common_config(recipe), "filter_probe": f.model_dump(mode="json", exclude={"strategies"}),
                "filter": recipe.filter.model_dump(mode="json", exclude={"strategy"}),
                "noise": recipe.probe.grid.definition()}

    def plan(self, recipe: "Recipe") -> list[Cell]:
        cfg = self.config(recipe)
        return [Cell(self.name, task, seed, strategy=s).fingerprinted(cfg)
                for task in probe_tasks(recipe) for seed in recipe.probe.seeds for s in recipe.probe.filter.strategies]

    def depends_on(self, recipe: "Recipe", cell: Cell) -> list[Cell]:
        return []

    def run(self, recipe: "Recipe", cell: Cell, probe_dir: Path, deps: dict[str, CellResult]) -> CellResult:
        from system.probe.training import train_and_evaluate
        from system.qdc.config import FilterConfig
        from system.qdc.filter import QDCFilter
        from system.tasks.tint_family import TintFamily
        from system.tasks.verdicts import judge_candidates

        f = recipe.probe.filter
        pool = candidate_pool(recipe, cell.task, cell.seed)
        config = FilterConfig.model_validate({**recipe.filter.model_dump(), "strategy": cell.strategy})
        # the TInt family judges the pool once, as the loop's filter stage does; the scorers read its verdicts
        judged = judge_candidates(TintFamily.default(), pool)
        selection = QDCFilter(config).select(judged, budget=f.budget, seed=cell.seed)
        chosen = [int(i) for i in selection.chosen]
        result: CellResult = {
            "n_pool": len(pool),
            "budget": selection.budget,
            "n_selected": len(chosen),
            "keep": keep_stats(pool, chosen),
            "selection_metrics": selection.metrics_after,
            "pool_metrics": selection.metrics_before,
        }
        if f.train and chosen:
            records = [pool[i] for i in sorted(chosen)]
            result.update(train_and_evaluate(recipe, records, task=cell.task, steps=f.steps, lr=f.lr, seed=cell.seed))
        return result


register_probe("filter")(FilterProbe)
