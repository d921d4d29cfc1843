"""The fine-tune probe: train the model under test on noised data of each grid cell, then measure
clean exact-answer accuracy and step validity on ID and OOD prompts.

Inputs of a cell's training set depend only on (task, size, seed), never on the noise, so cells that
differ only in noise train on the same questions with more or less corrupted traces.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from system.probe.cells import Cell, CellResult, common_config, probe_tasks, register_probe

if TYPE_CHECKING:
    from system.config import Recipe


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


class FinetuneProbe:
    name = "finetune"

    def config(self, recipe: "Recipe") -> dict[str, Any]:
        p = recipe.probe
        return {**common_config(recipe), "finetune": p.finetune.model_dump(mode="json"),
                "static_variant": p.grid.static_variant}

    def plan(self, recipe: "Recipe") -> list[Cell]:
        cfg = self.config(recipe)
        cells = []
        for task in probe_tasks(recipe):
            for seed in recipe.probe.seeds:
                for kind, c, i in grid_points(recipe):
                    cells.append(Cell(self.name, task, seed, kind, c, i).fingerprinted(cfg))
        return cells

    def depends_on(self, recipe: "Recipe", cell: Cell) -> list[Cell]:
        return []

    def run(self, recipe: "Recipe", cell: Cell, probe_dir: Path, deps: dict[str, CellResult]) -> CellResult:
        from system.probe.training import train_and_evaluate
        from system.tint import NoiseSpec, sample_records

        p = recipe.probe
        noise = NoiseSpec(cell.noise, cell.contamination, cell.intensity, p.grid.static_variant)  # type: ignore[arg-type]
        records = list(sample_records(cell.task, "id", p.finetune.train_size, seed=cell.seed, noise=noise,
                                      splits=recipe.tint.split_specs()))
        noised = sum(r["noise"]["noised"] for r in records)
        out = train_and_evaluate(recipe, records, task=cell.task, steps=p.finetune.steps, lr=p.finetune.lr, seed=cell.seed)
        return {**out, "n_train": len(records), "n_noised": noised}


register_probe("finetune")(FinetuneProbe)
