"""Backend names -> classes, resolved lazily.

The recipe schema checks names against this table when a recipe loads, which must not import torch
or vLLM; the class behind a name is imported only when a backend is built. Adding a backend is one
module with a `GenerationBackend` subclass plus one line here (or a `register_backend` call).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from system.models.generation.base import GenerationBackend

_BACKENDS: dict[str, str] = {
    "vllm": "system.models.generation.vllm_backend:VLLMBackend",
    "hf": "system.models.generation.hf_backend:HFBackend",
}


def backend_names() -> tuple[str, ...]:
    return tuple(_BACKENDS)


def register_backend(name: str, target: str) -> None:
    """Register ``"package.module:Class"`` under ``name`` (before recipes naming it are loaded)."""
    if name in _BACKENDS:
        raise ValueError(f"generation backend {name!r} is registered twice")
    _BACKENDS[name] = target


def backend_class(name: str) -> "type[GenerationBackend]":
    from system.errors import QdcError

    if name not in _BACKENDS:
        raise QdcError(f"unknown generation backend {name!r}; known: {', '.join(_BACKENDS)}")
    module_name, _, class_name = _BACKENDS[name].partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls
