"""The learner: SFT on prompt/completion records with TRL's SFTTrainer, DeepSpeed ZeRO from the recipe.

One `Learner` lives in one process and is one rank of a torch.distributed group of
``learner.world_size`` ranks (gloo on CPU, NCCL on GPU). It is a plain object: a script, a
subprocess per rank (`system.models.launch`) or later a Ray actor per rank constructs it with its
rank and the group's master address/port and calls `train` on every rank with the same records.

Loss is on the completion only (TRL masks prompt tokens for prompt/completion data) and TRL appends
the tokenizer's EOS to every completion, so generation learns to stop. ``learner.batch_size`` is
the global batch: each rank takes ``batch_size / (world_size * grad_accum)`` sequences per step, so
1 rank and 2 ranks see the same batches and reach the same loss.

With ``learner.sort_by_length`` (the default) the learner fixes the row order itself: global
batches are random samples, each sorted by length (`sft_data.length_sorted_batches`), and the
trainer reads them sequentially, so each micro-batch (``grad_accum`` steps, ranks) holds rows of
similar length. The loss is normalized by the tokens of the whole global batch, so the gradient is
unchanged; only padding shrinks (~39% of the tokens with random batches of TInt traces, ~12% with
4 micro-batches), which on CPU, where padding costs as much as real tokens, is time saved.

Each `train` call builds a fresh SFTTrainer (a new optimizer and lr schedule) on the same model, as
the loop's fine-tuning rounds want, and takes it apart when the round ends (`teardown.release_trainer`):
the DeepSpeed engine, its gradient and forward hooks and the optimizer state go, so round N trains
exactly like a learner rebuilt from round N-1's weights, and memory stays flat. Under ZeRO-3 the
parameters stay partitioned across ranks between rounds: `state_dict`, `named_weights`, `save` and
`loss` gather them and are collective (every rank must call them).

On a GPU the model lives on ``cuda:<local_rank>`` from the start (`loss` and the weight stream work
before the first round too), gradient checkpointing is on unless ``learner.gradient_checkpointing``
says otherwise, and without ``learner.micro_batch`` / ``learner.grad_accum`` the global batch is
split into as many accumulation steps as `memory.sequences_that_fit` says the GPU needs.
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

from system.errors import QdcError
from system.models.config import LearnerConfig, ModelConfig
from system.models.distributed import RankEnv, build_deepspeed_ops, cpu_threads, free_port
from system.models.teardown import release_trainer
from system.models.weights import layer_groups

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase


class LearnerError(QdcError):
    """Training cannot run with this data or configuration."""


def deepspeed_config(stage: int) -> dict[str, Any]:
    """A ZeRO config whose sizes come from the trainer ("auto"): batch, accumulation, clipping, dtype.

    No optimizer section: the trainer's own AdamW is handed to DeepSpeed, so results match the
    plain trainer and no extra op (fused Adam) has to be compiled.
    """
    zero: dict[str, Any] = {"stage": stage}
    if stage == 3:
        zero.update(stage3_gather_16bit_weights_on_model_save=True)
    return {
        "train_batch_size": "auto",
        "train_micro_batch_size_per_gpu": "auto",
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "zero_optimization": zero,
        "bf16": {"enabled": "auto"},
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }


class Learner:
    """One rank of the learner group. Build it on every rank; call `train` on every rank."""

    def __init__(
        self,
        config: LearnerConfig,
        model: ModelConfig,
        *,
        seed: int = 0,
        rank: int = 0,
        master_addr: str = "127.0.0.1",
        master_port: int | None = None,
        local_rank: int | None = None,
        init_dir: str | Path | None = None,
        tokenizer_dir: str | Path | None = None,
    ):
        import torch

        from system.models.factory import build_model, load_pretrained

        self.config = config
        self.model_config = model
        self.seed = seed
        self.world_size = config.world_size
        if not 0 <= rank < self.world_size:
            raise LearnerError(f"rank {rank} is outside learner.world_size {self.world_size}")
        if self.world_size > 1 and master_port is None:
            raise LearnerError("a learner group of several ranks needs the master_port rank 0 listens on")
        self.rank = rank
        self.env = RankEnv(rank, self.world_size, master_addr, master_port or free_port(),
                           rank if local_rank is None else local_rank)
        self.env.apply()
        self.on_gpu = torch.cuda.is_available()
        if self.on_gpu:
            torch.cuda.set_device(self.env.local_rank)
            self.device = torch.device("cuda", self.env.local_rank)
        else:
            self.device = torch.device("cpu")
        if not self.on_gpu:
            threads = cpu_threads(self.world_size, config.threads_per_rank)
            torch.set_num_threads(threads)
            # accelerate resets the thread count from OMP_NUM_THREADS, or its own guess when unset
            os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        if config.zero_stage is not None and self.world_size == 1:
            build_deepspeed_ops()  # with several ranks the launcher builds them before starting ranks
        if init_dir is not None:
            self.model, self.tokenizer = load_pretrained(init_dir, model.dtype)
        else:
            self.model, self.tokenizer = build_model(model, seed, tokenizer_dir=tokenizer_dir)
        attention = self._attention()
        if attention is not None:
            self.model.set_attn_implementation(attention)
        self.model.to(self.device)
        self.micro_batch, self.grad_accum = self._batch_split()
        self._workdir = tempfile.TemporaryDirectory(prefix="qdc-learner-")
        self.steps_done = 0

    def _batch_split(self) -> tuple[int, int]:
        """(sequences per forward pass, accumulation steps) on this rank."""
        c = self.config
        fits = None
        if self.on_gpu and not c.batch_split_given:
            import torch

            from system.models.memory import ModelShape, sequences_that_fit

            # The GPU's total memory, not what is free this instant: every rank must reach the same split
            # (a different accumulation on one rank would desynchronize the group), and GPUs of one kind agree.
            total = torch.cuda.get_device_properties(self.device).total_memory
            shape = ModelShape.of(self.model)
            act_bytes = 2 if c.dtype == "bfloat16" or shape.param_bytes == 2 else 4
            fits = sequences_that_fit(shape, free_bytes=total, max_length=c.max_length, zero_stage=c.zero_stage,
                                      world_size=self.world_size, act_bytes=act_bytes,
                                      checkpointing=c.checkpointing(True), weights_resident=False)
        micro = c.micro_batch_size(fits)
        if micro < 1:
            raise LearnerError(
                f"not even one sequence of learner.max_length {c.max_length} tokens fits this GPU's free memory "
                "with the model's training state: lower learner.max_length, raise learner.zero_stage or "
                "learner.world_size, or set learner.micro_batch to override the estimate")
        return micro, c.per_rank_batch // micro

    # ------------------------------------------------------------------------------------------
    # training

    def _ordered(self, rows: list[dict[str, str]], steps: int) -> list[dict[str, str]]:
        """The rows in the order the trainer reads them (sequentially): length-sorted global batches."""
        from system.models.sft_data import length_sorted_batches

        c = self.config
        lengths = [len(r["prompt"]) + len(r["completion"]) for r in rows]
        order = length_sorted_batches(lengths, c.batch_size, self.seed, steps * c.batch_size)
        return [rows[i] for i in order]

    def _sft_config(self, steps: int, lr: float | None, progress: bool) -> Any:
        from trl import SFTConfig

        c = self.config
        kwargs: dict[str, Any] = dict(
            output_dir=self._workdir.name,
            per_device_train_batch_size=self.micro_batch,
            gradient_accumulation_steps=self.grad_accum,
            learning_rate=lr if lr is not None else c.lr,
            lr_scheduler_type=c.scheduler,
            warmup_steps=c.warmup_ratio,  # a float below 1 is a fraction of the steps
            weight_decay=c.weight_decay,
            max_grad_norm=c.max_grad_norm,
            max_length=c.max_length,
            max_steps=steps,
            # on by default in TRL; on CPU it costs ~40% time and saves nothing needed
            gradient_checkpointing=c.checkpointing(self.on_gpu),
            completion_only_loss=True,
            use_cpu=not self.on_gpu,
            bf16=c.dtype == "bfloat16",
            logging_steps=c.logging_steps,
            report_to="none",
            save_strategy="no",
            seed=self.seed,
            data_seed=self.seed,
            dataloader_num_workers=0,
            disable_tqdm=not (progress and self.rank == 0),
            ddp_backend=self._dist_backend() if self.world_size > 1 else None,
            # every parameter takes part in every step; the default search for unused ones costs
            # an extra pass over the autograd graph per step
            ddp_find_unused_parameters=False,
            # a causal LM's buffers (rotary frequencies, masks) are constants, equal on every rank
            ddp_broadcast_buffers=False,
        )
        if c.scheduler == "cosine_with_min_lr":
            kwargs["lr_scheduler_kwargs"] = {"min_lr_rate": c.min_lr_ratio}
        if c.sort_by_length:
            kwargs["train_sampling_strategy"] = "sequential"  # the rows are already in batch order
        if c.zero_stage is not None:
            kwargs["deepspeed"] = deepspeed_config(c.zero_stage)
        return SFTConfig(**kwargs)

    def _attention(self) -> str | None:
        """The attention kernel to train with, or None for the model's own choice."""
        if self.config.attention != "auto":
            return self.config.attention
        if self.config.dtype == "bfloat16" and not self.on_gpu:
            return "eager"  # bf16 matmuls run ~2x faster on AVX512-BF16 cores; the fused kernel's backward does not
        return None

    def _dist_backend(self) -> str:
        if self.config.dist_backend != "auto":
            return self.config.dist_backend
        return "nccl" if self.on_gpu else "gloo"

    def train(
        self,
        records: Sequence[Mapping[str, Any]],
        *,
        epochs: float | None = None,
        max_steps: int | None = None,
        lr: float | None = None,
        progress: bool = False,
        progress_file: str | Path | None = None,
    ) -> dict[str, Any]:
        """SFT on ``records`` (dicts with ``prompt`` and ``completion``); returns metrics.
        ``progress_file``: rank 0 keeps the step reached there (`sft_trainer.StepFile`).

        ``epochs`` / ``max_steps`` / ``lr`` override the learner section for this call (seed
        training and loop rounds want different budgets). Every rank passes the same records;
        the trainer's sampler gives each rank its share of every global batch.
        """
        import datasets
        from system.models.sft_trainer import GradHookCount, RankLocalMetricsSFTTrainer, StepFile

        rows = [{"prompt": r["prompt"], "completion": r["completion"]} for r in records]
        if not rows:
            raise LearnerError("train() got no records")
        if not progress:
            datasets.disable_progress_bars()
        c = self.config
        if max_steps is None and epochs is None:
            max_steps, epochs = c.max_steps, c.epochs
        if max_steps is None:
            max_steps = max(1, math.ceil((epochs or c.epochs) * len(rows) / c.batch_size))
        n_original = len(rows)
        if c.sort_by_length:
            rows = self._ordered(rows, max_steps)
        args = self._sft_config(max_steps, lr, progress)
        with _quiet_transformers(progress):
            trainer = RankLocalMetricsSFTTrainer(
                model=self.model,
                args=args,
                train_dataset=datasets.Dataset.from_list(rows),
                processing_class=self.tokenizer,
            )
        if not progress or self.rank != 0:
            from transformers import PrinterCallback, ProgressCallback

            trainer.remove_callback(PrinterCallback)  # per-step log lines
            trainer.remove_callback(ProgressCallback)
        hooks = GradHookCount(self.model)
        trainer.add_callback(hooks)
        if progress_file is not None and self.rank == 0:
            trainer.add_callback(StepFile(progress_file))
        start, cpu_start = time.perf_counter(), time.process_time()
        try:
            result = trainer.train()
            runtime, cpu = time.perf_counter() - start, time.process_time() - cpu_start
            history = list(trainer.state.log_history)
        finally:
            release_trainer(trainer)  # engine, hooks, optimizer, schedule: the next round starts clean
            del trainer
        steps = int(result.global_step)
        self.steps_done += steps
        losses = [{"step": h["step"], "loss": float(h["loss"])} for h in history if "loss" in h]
        return {
            "steps": steps,
            "train_loss": float(result.training_loss),
            "final_loss": losses[-1]["loss"] if losses else float(result.training_loss),
            "loss_history": losses,
            "records": n_original,
            "runtime_s": round(runtime, 3),
            "steps_per_s": round(steps / runtime, 3) if runtime > 0 else math.nan,
            "cpu_s": round(cpu, 1),  # this process's CPU time: a load-independent cost figure
            "world_size": self.world_size,
            "zero_stage": self.config.zero_stage,
            "micro_batch": self.micro_batch,
            "grad_accum": self.grad_accum,
            # gradient hooks per parameter while this round trained: [fewest, most] (1, 1 under ZeRO)
            "grad_hooks": hooks.seen,
        }

    # ------------------------------------------------------------------------------------------
    # weights out

    def _partitioned(self) -> bool:
        """Whether ZeRO-3 holds the parameters in shards (after the first round under zero_stage 3)."""
        return self.config.zero_stage == 3 and any(hasattr(p, "ds_id") for p in self.model.parameters())

    def _gathered(self, params: "list[torch.nn.Parameter] | None" = None) -> contextlib.AbstractContextManager[Any]:
        """Full parameters on every rank for the duration (ZeRO-3 partitions them). Collective."""
        if self._partitioned():
            import deepspeed

            chosen = list(self.model.parameters()) if params is None else params
            return deepspeed.zero.GatheredParameters(chosen, modifier_rank=None)
        return contextlib.nullcontext()

    def state_dict(self) -> "dict[str, torch.Tensor]":
        """Full weights as CPU tensors under HF names (for checkpoints). Collective under ZeRO-3."""
        with self._gathered():
            return {k: v.detach().to("cpu").clone() for k, v in self.model.state_dict().items()}

    def weight_names(self) -> list[tuple[str, tuple[int, ...], "torch.dtype"]]:
        """(name, full shape, dtype) of every tensor `named_weights` yields, in its order; gathers nothing."""
        return [(name, tuple(getattr(t, "ds_shape", t.shape)), t.dtype) for group in self._weight_groups()
                for name, t in group]

    def named_weights(self, device: "torch.device | str | None" = "cpu",
                      dtype: "torch.dtype | None" = None) -> "Iterator[tuple[str, torch.Tensor]]":
        """Every weight under its HF name, one decoder layer at a time: under ZeRO-3 each layer is
        gathered, copied out and released before the next, so no rank ever holds the whole model twice.
        Collective under ZeRO-3: every rank must iterate to the end. Tied weights come once (first name).
        ``device``/``dtype`` convert on the way out (None keeps the parameter's own device)."""
        import torch

        for group in self._weight_groups():
            with self._gathered([t for _, t in group if isinstance(t, torch.nn.Parameter)]):
                out = []
                for name, t in group:
                    cast = dtype if dtype is not None and t.is_floating_point() else None
                    out.append((name, t.detach().to(device=device or t.device, dtype=cast, copy=True)))
            yield from out

    def _weight_groups(self) -> "list[list[tuple[str, torch.Tensor]]]":
        """The model's tensors (parameters and persistent buffers, tied ones once) grouped by decoder layer."""
        seen: set[int] = set()
        unique: dict[str, torch.Tensor] = {}
        for name, t in self.model.state_dict(keep_vars=True).items():
            if id(t) not in seen:
                seen.add(id(t))
                unique[name] = t
        return [[(name, unique[name]) for name in group] for group in layer_groups(unique)]

    def save(self, out: str | Path) -> Path | None:
        """Write a save_pretrained folder (safetensors + tokenizer) from rank 0. Collective."""
        from system.models.factory import save_checkpoint

        state = dict(self.named_weights())  # gathered one layer at a time under ZeRO-3
        path: Path | None = None
        if self.rank == 0:
            self.model.config.use_cache = True
            # the gathered state is passed explicitly: under ZeRO-3 the module's own tensors are shards
            path = save_checkpoint(self.model, self.tokenizer, out, state_dict=state)
        self._barrier()
        return path

    def loss(self, records: Sequence[Mapping[str, Any]], batch_size: int = 64) -> float:
        """Mean completion-token loss of the current weights on ``records`` (no update)."""
        import torch

        from system.models.sft_data import completion_batches

        total, count = 0.0, 0
        with self._gathered(), torch.no_grad():
            self.model.eval()
            for input_ids, attention, labels in completion_batches(self.tokenizer, records, batch_size):
                input_ids, attention = input_ids.to(self.device), attention.to(self.device)
                logits = self.model(input_ids=input_ids, attention_mask=attention).logits[:, :-1].float()
                target = labels[:, 1:].to(self.device)
                nll = torch.nn.functional.cross_entropy(
                    logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100, reduction="sum"
                )
                total += float(nll)
                count += int((target != -100).sum())
            self.model.train()
        return total / max(count, 1)

    def _barrier(self) -> None:
        import torch.distributed as dist

        if self.world_size > 1 and dist.is_available() and dist.is_initialized():
            dist.barrier()

    def close(self) -> None:
        """Leave the process group and drop the trainer (the process may then exit cleanly)."""
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()
        self._workdir.cleanup()


@contextlib.contextmanager
def _quiet_transformers(verbose: bool) -> Any:
    """Silence trainer-construction chatter unless progress output was asked for."""
    from transformers.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    if not verbose:
        hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)
