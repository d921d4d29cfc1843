"""Probe cells: one unit of work (train + evaluate, or select + train + evaluate), named by content.

A cell's id is readable (``finetune-max-static-c0.50-i0.30-s0``) plus a fingerprint of the cell and of
every recipe value its result depends on. A finished cell is a file named by its id, so a rerun skips
it, and a changed recipe (more steps, another model) gets new ids instead of stale results.

Each probe kind is a registry entry (`PROBES`): it plans its cells from the recipe and runs one cell.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

if TYPE_CHECKING:
    from system.config import Recipe

CellResult = dict[str, Any]


@dataclass(frozen=True)
class Cell:
    """What one cell does. ``probe`` is a registry name; the prompt probe also has `prompt_base` cells
    (its base model), on which its prompt cells depend, and the fine-tune probe `finetune_curve` cells
    (the clean cell at smaller step budgets: its learning curve)."""

    probe: str
    task: str
    seed: int
    noise: str = "none"  # none | static | dynamic
    contamination: float = 0.0
    intensity: float = 0.0
    strategy: str | None = None
    steps: int | None = None  # a training budget of its own (learning-curve cells); None = the probe's
    fingerprint: str = field(default="", compare=False)

    @property
    def name(self) -> str:
        parts = [self.probe, self.task]
        if self.strategy is not None:
            parts.append(self.strategy)
        if self.probe in ("finetune", "prompt"):
            parts += [self.noise, f"c{self.contamination:.2f}", f"i{self.intensity:.2f}"]
        if self.steps is not None:
            parts.append(f"t{self.steps}")
        parts.append(f"s{self.seed}")
        return "-".join(parts)

    @property
    def id(self) -> str:
        return f"{self.name}-{self.fingerprint}" if self.fingerprint else self.name

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def fingerprinted(self, config: Any) -> "Cell":
        """This cell with a fingerprint of its fields and of ``config`` (what its result depends on)."""
        fields = {k: v for k, v in self.to_dict().items() if k != "fingerprint"}
        return replace(self, fingerprint=fingerprint(fields, config))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Cell":
        return cls(**data)


def fingerprint(*parts: Any) -> str:
    """A short stable hash of JSON-able values."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


def common_config(recipe: "Recipe") -> dict[str, Any]:
    """Recipe values every trained cell depends on: the model, the learner, the data splits, the
    evaluation set (its seed, size, splits, decoding budget)."""
    p = recipe.probe
    return {
        "model": recipe.model.model_dump(mode="json"),
        "learner": recipe.learner.model_dump(mode="json", exclude={"threads_per_rank", "logging_steps"}),
        "splits": {k: v.model_dump(mode="json") for k, v in recipe.tint.splits.items()},
        "eval": {"seed": recipe.seed, "n": p.eval_n, "splits": p.eval_splits, "max_new_tokens": p.max_new_tokens},
    }


# ------------------------------------------------------------------------------------------------
# the registry of probe kinds


class Probe(Protocol):
    """A probe kind: plans its cells and runs one."""

    name: str

    def plan(self, recipe: "Recipe") -> list[Cell]:
        """Every cell of this probe for the recipe, fingerprinted; dependencies come first."""

    def run(self, recipe: "Recipe", cell: Cell, probe_dir: Path, deps: dict[str, CellResult]) -> CellResult:
        """Do the cell's work; ``deps`` holds the results of the cells it depends on (by cell id)."""

    def depends_on(self, recipe: "Recipe", cell: Cell) -> list[Cell]:
        """Cells whose results this cell needs."""


PROBES: dict[str, Callable[[], Probe]] = {}


def register_probe(name: str) -> Callable[[Callable[[], Probe]], Callable[[], Probe]]:
    def wrap(factory: Callable[[], Probe]) -> Callable[[], Probe]:
        if name in PROBES:
            raise ValueError(f"probe {name!r} is registered twice")
        PROBES[name] = factory
        return factory

    return wrap


def get_probe(name: str) -> Probe:
    _load_builtin()
    if name not in PROBES:
        from system.errors import QdcError

        raise QdcError(f"unknown probe {name!r}; known: {', '.join(sorted(PROBES))}")
    return PROBES[name]()


def _load_builtin() -> None:
    # The modules register themselves on import; imported here so that `get_probe` alone is enough.
    from system.probe import filtering, finetune, prompting  # noqa: F401


def probe_tasks(recipe: "Recipe") -> list[str]:
    return list(recipe.probe.tasks or recipe.tint.tasks)


def plan_cells(recipe: "Recipe") -> list[Cell]:
    """All cells of the recipe's probes, dependencies before the cells that need them, no duplicates."""
    seen: dict[str, Cell] = {}
    for kind in recipe.probe.probes:
        for cell in get_probe(kind).plan(recipe):
            seen.setdefault(cell.id, cell)
    return list(seen.values())


def run_cell(recipe: "Recipe", cell: Cell, probe_dir: Path, deps: dict[str, CellResult]) -> CellResult:
    """Run one cell in this process (a Ray task calls this) and return its JSON-able result."""
    return get_probe(cell.probe).run(recipe, cell, probe_dir, deps)


def dependencies(recipe: "Recipe", cell: Cell) -> list[Cell]:
    return get_probe(cell.probe).depends_on(recipe, cell)
