"""Weights from the learner to the generators, without one blob of the whole model.

Two ways, chosen once per run (`sync_mode`):

* ``object_store`` (CPU, and any generator that is not a GPU vLLM engine): learner rank 0 streams the
  weights one decoder layer at a time (gathered one layer at a time under ZeRO-3, every rank taking
  part) into chunks of at most ``generator.sync_chunk_mib``, each with its SHA-256, and puts each
  chunk into Ray's object store itself. The driver only passes the chunks' references on; every
  generator fetches them one at a time, and the last receiver (the HF backend in the generator's
  process, the vLLM workers for vllm) verifies each checksum before it uses a tensor. No bytes object
  grows with the model, so a model of any size syncs.
* ``nccl`` (GPU learners and GPU vLLM generators): vLLM's weight-transfer engine with its ``nccl``
  backend; learner rank 0 broadcasts layer by layer straight into every generator's vLLM workers
  (`system.models.nccl_sync`). Nothing passes through the object store or the driver.

Both are bounded by ``resources.timeouts.sync`` (one deadline for the whole sync). This module holds
what the two ends share and stays free of Ray: the callables that put and fetch chunks are given.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Literal

from system.models.weights import ChunkWriter, StreamSummary, WeightChunk, WeightTransferError

if TYPE_CHECKING:
    from system.models.config import GeneratorConfig

SyncMode = Literal["nccl", "object_store"]
WeightSyncError = WeightTransferError


def sync_mode(generator: "GeneratorConfig", learner_gpus: float, generator_gpus: float) -> SyncMode:
    """``generator.weight_sync`` with ``auto`` resolved: nccl when both sides are GPU vLLM / GPU learners."""
    if generator.weight_sync != "auto":
        return generator.weight_sync
    if generator.backend == "vllm" and learner_gpus > 0 and generator_gpus > 0:
        return "nccl"
    return "object_store"


@dataclass(frozen=True)
class ChunkRefs:
    """What learner rank 0 hands back: a reference per chunk (opaque here) and what it sent."""

    refs: list[Any]
    summary: StreamSummary


def put_chunks(learner: Any, max_bytes: int, dtype: Any, put: Callable[[WeightChunk], Any]) -> ChunkRefs | None:
    """Stream ``learner``'s weights into chunks and ``put`` each one; returns the references on rank 0,
    None on the other ranks. Collective under ZeRO-3: every rank must call it."""
    writer = ChunkWriter(max_bytes, dtype)
    refs: list[Any] = []
    for name, tensor in learner.named_weights(device="cpu"):
        if learner.rank == 0:
            refs.extend(put(chunk) for chunk in writer.add(name, tensor))
    if learner.rank != 0:
        return None
    refs.extend(put(chunk) for chunk in writer.close())
    return ChunkRefs(refs, writer.summary())


def fetch_chunks(refs: list[Any], get: Callable[[Any, float], WeightChunk], deadline: float) -> Iterator[WeightChunk]:
    """The chunks behind ``refs``, fetched one at a time, each wait bounded by the sync's deadline
    (``time.monotonic()`` seconds)."""
    for i, ref in enumerate(refs):
        left = deadline - time.monotonic()
        if left <= 0:
            raise WeightSyncError(f"weight sync ran out of time at chunk {i} of {len(refs)} "
                                  "(raise resources.timeouts.sync)")
        yield get(ref, left)
