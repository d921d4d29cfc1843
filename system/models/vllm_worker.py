"""Code that runs inside vLLM's worker process, plugged in with ``worker_extension_cls``.

vLLM imports this module in every worker before the worker is built, which registers the
``qdc_chunks`` weight-transfer backend there: the CPU (and any object-store) path of the loop's
weight sync. It follows vLLM's documented weight-transfer protocol (docs/training/weight_transfer),
the same one the ``nccl`` backend uses on GPUs: ``start_weight_update`` opens a layerwise reload of the
model, each ``update_weights`` call carries one `WeightChunk` (safetensors bytes, at most
``generator.sync_chunk_mib``, so msgspec's 4 GiB limit on a bytes object is never reached) whose
SHA-256 is verified before its tensors go into ``model.load_weights``, one whole decoder layer at a
time, a final call carries what the sender sent so that a missing chunk is an error, and
``finish_weight_update`` finalizes the reload. vLLM's worker abandons an update whose
``update_weights`` raises without finalizing the reload (the model is left on meta tensors and the
engine dies on its next step), so the engine never raises there: a bad chunk is recorded, the rest of
the stream is ignored, the reload is finalized with every layer either fully new or fully old, and
the sender asks for the outcome (``qdc_weight_update_error``) and then reloads its last checkpoint, so
a generator is never left on a mixture.

`WeightSyncExtension` adds one method to the worker: reloading from a checkpoint folder (after a
resume, or for a restarted generator).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from vllm.distributed.weight_transfer import WeightTransferEngine, WeightTransferEngineFactory
from vllm.distributed.weight_transfer.base import WeightTransferInitInfo, WeightTransferUpdateInfo

from system.models.weights import ChunkAssembler, LayerBatcher, StreamSummary, WeightChunk

CHUNK_BACKEND = "qdc_chunks"


@dataclass
class ChunkInitInfo(WeightTransferInitInfo):
    """Nothing to set up: chunks arrive through the engine's own RPC channel."""


@dataclass
class ChunkUpdateInfo(WeightTransferUpdateInfo):
    """One chunk (`WeightChunk.to_wire`), or, last, the sender's summary (`StreamSummary` fields)."""

    chunk: dict[str, Any] | None = None
    summary: dict[str, int] | None = field(default=None)


class ChunkTransferEngine(WeightTransferEngine[ChunkInitInfo, ChunkUpdateInfo]):
    init_info_cls = ChunkInitInfo
    update_info_cls = ChunkUpdateInfo
    supports_draft_weight_update = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._assembler: ChunkAssembler | None = None
        self._layers = LayerBatcher()
        self.error: str | None = None  # what went wrong in the last update, None if nothing

    def init_transfer_engine(self, init_info: ChunkInitInfo) -> None:
        pass

    def start_weight_update(self) -> None:
        from vllm.model_executor.model_loader.reload import initialize_layerwise_reload

        self._assembler = ChunkAssembler()
        self._layers = LayerBatcher()
        self.error = None
        initialize_layerwise_reload(self.model)

    def update_weights(self, update_info: dict[str, Any]) -> None:
        self.receive_weights(self.parse_update_info(update_info))
        if torch.accelerator.is_available():  # the base class synchronizes unconditionally (fails on CPU)
            torch.accelerator.synchronize()

    def receive_weights(self, update_info: ChunkUpdateInfo) -> None:
        if self._assembler is None:
            raise RuntimeError("update_weights before start_weight_update")
        if self.error is not None:
            return  # the stream is already broken: nothing more is loaded
        try:
            if update_info.summary is not None:
                self._assembler.finish(StreamSummary(**update_info.summary))
                self._load(self._layers.flush())
            elif update_info.chunk is None:
                raise ValueError("a qdc_chunks update carries a chunk or the sender's summary")
            else:
                for name, tensor in self._assembler.add(WeightChunk.from_wire(update_info.chunk)):
                    self._load(self._layers.add(name, tensor))
        except Exception as e:  # noqa: BLE001 - recorded for the sender; raising here would kill the engine
            self.error = f"{type(e).__name__}: {e}"

    def _load(self, tensors: list[tuple[str, torch.Tensor]]) -> None:
        if tensors:
            self.model.load_weights(tensors)

    def finish_weight_update(self) -> None:
        from vllm.model_executor.model_loader.reload import finalize_layerwise_reload

        self._assembler = None
        self._layers = LayerBatcher()  # a partial layer of a broken stream is dropped, never loaded
        finalize_layerwise_reload(self.model, self.model_config)

    def shutdown(self) -> None:
        self._assembler = None


try:
    WeightTransferEngineFactory.register_engine(CHUNK_BACKEND, ChunkTransferEngine)
except ValueError:  # imported twice in one process: registered already
    pass


class WeightSyncExtension:
    """Methods added to the vLLM worker (``self`` is the worker)."""

    def qdc_weight_update_error(self) -> str | None:
        """What went wrong in the last qdc_chunks update (None: every chunk arrived intact and loaded)."""
        engine = self.weight_transfer_engine  # type: ignore[attr-defined]
        return engine.error if isinstance(engine, ChunkTransferEngine) else None

    def qdc_load_checkpoint(self, model_dir: str) -> None:
        """Load the weights of a newer checkpoint folder (or hub id) of the same architecture."""
        self.reload_weights(weights_path=model_dir)  # type: ignore[attr-defined]
