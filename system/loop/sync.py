"""Weights from the learner to the generators: one safetensors blob with a SHA-256 checksum.

On CPU the blob travels through Ray's object store. The receiver checks the checksum before it
touches its model, so a corrupted or mismatched transfer is an error, never silently wrong weights.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping

from system.errors import QdcError

if TYPE_CHECKING:
    import torch


class WeightSyncError(QdcError):
    pass


@dataclass(frozen=True)
class WeightBlob:
    data: bytes
    checksum: str
    n_tensors: int


def checksum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pack_state(state: "Mapping[str, torch.Tensor]") -> WeightBlob:
    from safetensors.torch import save

    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    data = save(tensors)
    return WeightBlob(data, checksum(data), len(tensors))


def unpack_state(blob: WeightBlob) -> "dict[str, torch.Tensor]":
    from safetensors.torch import load

    got = checksum(blob.data)
    if got != blob.checksum:
        raise WeightSyncError(f"weight blob checksum mismatch: expected {blob.checksum[:12]}..., got {got[:12]}...")
    state = load(blob.data)
    if len(state) != blob.n_tensors:
        raise WeightSyncError(f"weight blob holds {len(state)} tensors, expected {blob.n_tensors}")
    return state
