"""The learner's end of vLLM's weight-transfer engine with the ``nccl`` backend (GPU clusters only).

Written against vLLM's documented API (docs/training/weight_transfer and .../nccl, vLLM 0.32/0.33):
every learner rank builds its trainer engine with ``WeightTransferTrainerFactory.trainer_init`` from an
``NCCLTrainerInitInfo`` and a `LearnerSource`; rank 0 is the sender: it opens the NCCL group with
every generator's vLLM workers (through the client, which the Ray layer supplies and which reaches
each generator's ``init_weight_transfer_engine`` / ``start_weight_update`` / ``update_weights`` /
``finish_weight_update``) and broadcasts the weights, packed into buffers, layer by layer. The other
ranks only iterate the source, because under ZeRO-3 gathering a layer is a collective of all ranks.

Several generators (each a vLLM engine of ``tensor_parallel_size`` workers) share one group: the
learner is rank 0, generator ``i``'s workers take ranks ``1 + i * tp ...``; the client gives each
generator its own ``rank_offset``.

Not exercised on the machines this was written on (no GPU with vLLM there): the CPU tests cover
the source (names, shapes, dtypes, layer order, the ZeRO-3 gathers) and the client's fan-out; the
NCCL rendezvous and broadcast run only on GPUs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    import torch

    from system.models.learner import Learner


def learner_source(learner: "Learner", dtype: "torch.dtype | None") -> Any:
    """A vLLM ``WeightSource`` over the learner's weights: HF names, full shapes, the generators'
    dtype on the wire, on the learner's GPU, one decoder layer at a time (gathered under ZeRO-3)."""
    import torch
    from vllm.distributed.weight_transfer import ParamMeta, WeightSource

    class LearnerSource(WeightSource):
        def metadata(self) -> list[ParamMeta]:
            out = []
            for name, shape, own in learner.weight_names():
                wire = dtype if dtype is not None and own.is_floating_point else own
                out.append(ParamMeta(name, wire, tuple(shape)))
            return out

        def __iter__(self) -> Iterator[tuple[str, "torch.Tensor"]]:
            for name, tensor in learner.named_weights(device=learner.device, dtype=dtype):
                # the packed broadcast reads on its own CUDA streams: the copy made on the current
                # stream (before a ZeRO-3 layer was released) must be complete first
                if torch.cuda.is_available():
                    torch.cuda.current_stream().synchronize()
                yield name, tensor

    return LearnerSource()


class NcclSender:
    """One learner rank's trainer engine; `send` pushes the current weights to every generator."""

    def __init__(self, learner: "Learner", client: Any, *, master_address: str, master_port: int,
                 world_size: int, dtype: "torch.dtype | None"):
        from vllm.distributed.weight_transfer import WeightTransferTrainerFactory
        from vllm.distributed.weight_transfer.nccl_engine import NCCLTrainerInitInfo

        info = NCCLTrainerInitInfo(master_address=master_address, master_port=master_port, world_size=world_size,
                                   rank=learner.rank)
        self.engine = WeightTransferTrainerFactory.trainer_init(info, client=client,
                                                                source=learner_source(learner, dtype))

    def send(self) -> None:
        self.engine.send_weights()

    def close(self) -> None:
        self.engine.shutdown()
