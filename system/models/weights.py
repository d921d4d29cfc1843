"""Moving weights around: a checkpoint folder's tensors, named-tensor iterables, and bytes for RPC."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

from system.errors import QdcError

if TYPE_CHECKING:
    import torch


def as_state_dict(
    weights: "Mapping[str, torch.Tensor] | Iterable[tuple[str, torch.Tensor]]",
) -> "dict[str, torch.Tensor]":
    """A plain dict of detached, contiguous CPU tensors from a state dict or (name, tensor) pairs."""
    items = weights.items() if isinstance(weights, Mapping) else weights
    return {name: t.detach().to("cpu").contiguous() for name, t in items}


def to_bytes(weights: "Mapping[str, torch.Tensor] | Iterable[tuple[str, torch.Tensor]]") -> bytes:
    """Safetensors bytes. vLLM's RPC serializes arguments with msgspec, where a tensor would become a
    nested list; bytes go through as they are. Tied tensors (same storage) are sent once each name."""
    from safetensors.torch import save

    return save({k: v.clone() for k, v in as_state_dict(weights).items()})


def from_bytes(blob: bytes) -> "dict[str, torch.Tensor]":
    from safetensors.torch import load

    return load(blob)


def read_checkpoint_weights(model_dir: str | Path) -> "dict[str, torch.Tensor]":
    """All tensors of a save_pretrained folder (one safetensors file or an indexed set of shards)."""
    from safetensors.torch import load_file

    p = Path(model_dir)
    single = p / "model.safetensors"
    if single.is_file():
        return load_file(str(single))
    index = p / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        out: dict[str, torch.Tensor] = {}
        for shard in shards:
            out.update(load_file(str(p / shard)))
        return out
    raise QdcError(f"{p}: no model.safetensors (or index) in the checkpoint folder")
