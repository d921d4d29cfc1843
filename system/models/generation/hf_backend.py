"""The `hf` backend: transformers ``generate``, batched, in this process.

No engine to start, so it is the quick choice for evaluation and small runs; the `vllm` backend is
the one for throughput. Sampling matches vLLM's defaults (no top-k), and log-probs come from the
raw logits (``output_logits``), like vLLM's ``raw_logprobs``. With a GPU visible the model runs on
``cuda`` (the first of the GPUs this process was given).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

from system.errors import QdcError
from system.models.generation.base import (
    FinishReason,
    Generation,
    GenerationBackend,
    Sample,
    SamplingSpec,
    Weights,
    truncate_at_stop,
)

if TYPE_CHECKING:
    import torch

    from system.models.config import GeneratorConfig


class HFBackend(GenerationBackend):
    name = "hf"

    def __init__(self, model_dir: str | Path, config: "GeneratorConfig | None" = None, *, seed: int = 0):
        super().__init__(model_dir, config, seed=seed)
        from system.models.factory import load_pretrained

        import torch

        self.device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
        self.model, self.tokenizer = load_pretrained(self.source, self.config.dtype)
        self.model.to(self.device)
        self.model.eval()

    # ------------------------------------------------------------------------------------------
    # sampling

    def generate(self, prompts: Sequence[str], spec: SamplingSpec) -> list[Generation]:
        per_chunk = max(1, self.config.batch_size // spec.n)
        out: list[Generation] = []
        for chunk_index, start in enumerate(range(0, len(prompts), per_chunk)):
            chunk = list(prompts[start : start + per_chunk])
            seed = None if spec.seed is None else spec.seed * 1_000_003 + chunk_index
            out.extend(self._generate_chunk(chunk, spec, seed))
        return out

    def _generate_chunk(self, prompts: list[str], spec: SamplingSpec, seed: int | None) -> list[Generation]:
        import torch

        enc = self.tokenizer(prompts, return_tensors="pt", padding=True).to(self.device)
        kwargs: dict = dict(
            max_new_tokens=spec.max_new_tokens,
            num_return_sequences=spec.n,
            return_dict_in_generate=True,
            output_logits=True,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=self.tokenizer.eos_token_id,
        )
        if spec.greedy:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        else:
            kwargs.update(do_sample=True, temperature=spec.temperature, top_p=spec.top_p, top_k=0)
        if spec.stop:
            kwargs.update(stop_strings=list(spec.stop), tokenizer=self.tokenizer)
        rng_devices = [self.device.index] if self.device.type == "cuda" else []
        with torch.inference_mode(), torch.random.fork_rng(devices=rng_devices):
            if seed is not None:
                torch.manual_seed(seed)
            result = self.model.generate(**enc, **kwargs)
        new_tokens = result.sequences[:, enc["input_ids"].shape[1] :]
        logprobs = self._token_logprobs(result.logits, new_tokens)
        gens = [Generation(p) for p in prompts]
        for row in range(new_tokens.shape[0]):
            gens[row // spec.n].samples.append(self._sample(new_tokens[row].tolist(), logprobs[row].tolist(), spec))
        return gens

    @staticmethod
    def _token_logprobs(step_logits: "tuple[torch.Tensor, ...]", tokens: "torch.Tensor") -> "torch.Tensor":
        import torch

        logits = torch.stack(step_logits, dim=1).float()  # [rows, steps, vocab]
        logp = torch.log_softmax(logits, dim=-1)
        return logp.gather(-1, tokens[:, : logp.shape[1], None]).squeeze(-1)

    def _sample(self, ids: list[int], logprobs: list[float], spec: SamplingSpec) -> Sample:
        eos, pad = self.tokenizer.eos_token_id, self.tokenizer.pad_token_id
        finish: FinishReason = "length"
        end = len(ids)
        for i, tok in enumerate(ids):
            if tok == eos or (tok == pad and pad != eos):
                end, finish = (i + 1 if tok == eos else i), "stop"
                break
        ids, logprobs = ids[:end], logprobs[:end]
        text = self.tokenizer.decode(ids, skip_special_tokens=True)
        if spec.stop:
            text, hit = truncate_at_stop(text, spec.stop)
            if hit:
                finish = "stop"
                keep = self._tokens_covering(ids, len(text))
                ids, logprobs = ids[:keep], logprobs[:keep]
        return Sample(text=text, token_ids=ids, logprobs=logprobs, finish_reason=finish)

    def _tokens_covering(self, ids: list[int], n_chars: int) -> int:
        """The shortest token prefix whose text is longer than ``n_chars`` (it holds the stop string)."""
        for k in range(1, len(ids) + 1):
            if len(self.tokenizer.decode(ids[:k], skip_special_tokens=True)) > n_chars:
                return k
        return len(ids)

    # ------------------------------------------------------------------------------------------
    # weights

    def update_weights(self, weights: Weights) -> None:
        """Copy each tensor into the model as it comes (a stream needs no second full copy here)."""
        import torch

        targets = self.model.state_dict(keep_vars=True)
        items = weights.items() if isinstance(weights, Mapping) else weights
        loaded: set[str] = set()
        with torch.no_grad():
            for name, tensor in items:
                target = targets.get(name)
                if target is None:
                    raise QdcError(f"update_weights: a name the model does not have: {name!r}")
                if tuple(target.shape) != tuple(tensor.shape):
                    raise QdcError(f"update_weights: {name} has shape {tuple(tensor.shape)}, the model's is "
                                   f"{tuple(target.shape)}")
                target.copy_(tensor)
                loaded.add(name)
        # Tied parameters (lm_head <- embed_tokens) may be absent: a saved folder stores them once.
        loaded_ptrs = {targets[k].data_ptr() for k in loaded}
        missing = [k for k, t in targets.items() if k not in loaded and t.data_ptr() not in loaded_ptrs]
        if missing:
            raise QdcError(f"update_weights: weights missing for {sorted(missing)[:5]}")

    def state_dict(self) -> "dict[str, torch.Tensor]":
        return self.model.state_dict()
