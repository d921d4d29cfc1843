"""The fine-tune probe: train the model under test on noised data of each grid cell, then measure
clean exact-answer accuracy and step validity on ID and OOD prompts.

Inputs of a cell's training set depend only on (task, size, seed), never on the noise, so cells that
differ only in noise train on the same questions with more or less corrupted traces. Every cell of
the grid trains for the same `probe.finetune.steps` as the clean cell (the same compute), and a noise
effect only means something if the clean cell itself has converged: `probe.finetune.converged_accuracy`
is checked on every task and seed (system/probe/convergence.py), and the clean cell's learning curve is
measured by `finetune_curve` cells: the clean cell again at the smaller budgets
`probe.finetune.curve_points` (fractions of `steps`; each a full run with the same schedule shape).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from system.probe.cells import Cell, CellResult, common_config, probe_tasks, register_probe

if TYPE_CHECKING:
    from system.config import Recipe

CURVE = "finetune_curve"


def grid_points(recipe: "Recipe") -> list[tuple[str, float, float]]:
    """(noise kind, contamination, intensity) for every cell of the grid; contamination 0 is the
    single clean point ("none", 0, 0) shared by every kind and intensity."""
    g = recipe.probe.grid
    points: list[tuple[str, float, float]] = []
    if 0.0 in g.contaminations:
        points.append(("none", 0.0, 0.0))
    for kind in g.kinds:
        for c in g.contaminations:
            if c == 0.0:
                continue
            points.extend((kind, c, i) for i in g.intensities(kind))
    return points


def curve_steps(recipe: "Recipe") -> list[int]:
    """The step budgets of the clean cell's learning curve below the full budget (distinct, ascending)."""
    f = recipe.probe.finetune
    budgets = {max(1, round(frac * f.steps)) for frac in f.curve_points}
    return sorted(b for b in budgets if b < f.steps)


def finetune_config(recipe: "Recipe") -> dict[str, Any]:
    """What a fine-tune (or learning-curve) cell's result depends on. The convergence threshold and
    the curve's points are left out: changing them adds or judges cells, it changes no result."""
    p = recipe.probe
    return {**common_config(recipe),
            "finetune": p.finetune.model_dump(mode="json", exclude={"converged_accuracy", "curve_points",
                                                                        "curve_seeds"}),
            "noise": p.grid.definition()}


def train_clean_or_noised(recipe: "Recipe", cell: Cell, steps: int) -> CellResult:
    from system.probe.training import train_and_evaluate
    from system.tint import sample_records

    p = recipe.probe
    noise = p.grid.noise_spec(cell.noise, cell.contamination, cell.intensity)
    records = list(sample_records(cell.task, "id", p.finetune.train_size, seed=cell.seed, noise=noise,
                                  splits=recipe.tint.split_specs()))
    noised = sum(r["noise"]["noised"] for r in records)
    out = train_and_evaluate(recipe, records, task=cell.task, steps=steps, lr=p.finetune.lr, seed=cell.seed)
    return {**out, "n_train": len(records), "n_noised": noised}


class FinetuneProbe:
    name = "finetune"

    def config(self, recipe: "Recipe") -> dict[str, Any]:
        return finetune_config(recipe)

    def plan(self, recipe: "Recipe") -> list[Cell]:
        cfg = self.config(recipe)
        points = grid_points(recipe)
        curve = curve_steps(recipe) if ("none", 0.0, 0.0) in points else []
        curve_seeds = recipe.probe.finetune.curve_seeds
        cells = []
        for task in probe_tasks(recipe):
            for seed in recipe.probe.seeds:
                for kind, c, i in points:
                    cells.append(Cell(self.name, task, seed, kind, c, i).fingerprinted(cfg))
                if curve_seeds is None or seed in curve_seeds:
                    cells += [Cell(CURVE, task, seed, steps=steps).fingerprinted(cfg) for steps in curve]
        return cells

    def depends_on(self, recipe: "Recipe", cell: Cell) -> list[Cell]:
        return []

    def run(self, recipe: "Recipe", cell: Cell, probe_dir: Path, deps: dict[str, CellResult]) -> CellResult:
        return train_clean_or_noised(recipe, cell, recipe.probe.finetune.steps)


class FinetuneCurve:
    """The clean cell at a smaller step budget: one point of its learning curve (planned by the
    fine-tune probe)."""

    name = CURVE

    def plan(self, recipe: "Recipe") -> list[Cell]:
        return [c for c in FinetuneProbe().plan(recipe) if c.probe == CURVE]

    def depends_on(self, recipe: "Recipe", cell: Cell) -> list[Cell]:
        return []

    def run(self, recipe: "Recipe", cell: Cell, probe_dir: Path, deps: dict[str, CellResult]) -> CellResult:
        if cell.steps is None:
            raise ValueError(f"learning-curve cell {cell.name} has no step budget")
        return train_clean_or_noised(recipe, cell, cell.steps)


register_probe("finetune")(FinetuneProbe)
register_probe(CURVE)(FinetuneCurve)
