"""Task family names -> classes, resolved lazily (recipes are validated without importing a family)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from system.errors import QdcError

if TYPE_CHECKING:
    from system.config import Recipe
    from system.tasks.base import TaskFamily

_FAMILIES: dict[str, str] = {
    "tint": "system.tasks.tint_family:TintFamily",
    "dataset": "system.tasks.dataset_family:DatasetFamily",
}


def family_names() -> tuple[str, ...]:
    return tuple(_FAMILIES)


def register_family(name: str, target: str) -> None:
    """Register ``"package.module:Class"`` under ``name`` (before recipes naming it are loaded)."""
    if name in _FAMILIES:
        raise ValueError(f"task family {name!r} is registered twice")
    _FAMILIES[name] = target


def family_class(name: str) -> "type[TaskFamily]":
    if name not in _FAMILIES:
        raise QdcError(f"unknown task family {name!r}; known: {', '.join(_FAMILIES)}")
    module_name, _, class_name = _FAMILIES[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def family_for(recipe: "Recipe") -> "TaskFamily":
    """The recipe's task family, built from the recipe (cheap to call again in each process)."""
    return family_class(recipe.task.family).from_recipe(recipe)
