"""Ending a training round so that the next one starts clean: no engine, optimizer or hook left behind.

Every loop round builds a new SFTTrainer (a fresh optimizer and lr schedule) on the same model. Under
DeepSpeed the old round's engine survives that unless it is taken apart: its ZeRO gradient hooks stay
on the parameters (on GPU the second round then dies inside the first round's hook, in ZeRO-2's
``copy_grads_in_partition``; on CPU every round adds one more hook per parameter and one more optimizer
state), and the two forward hooks the engine puts on the model keep the engine and its optimizer alive
through their closures, which ``engine.destroy()`` does not remove (DeepSpeed 0.19.8, measured on CPU
and on an H200). `release_trainer` does what was measured to free all of it.

`census` counts what a round may leave behind, for tests and benchmarks.
"""

from __future__ import annotations

import gc
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


def release_trainer(trainer: Any) -> None:
    """Take a finished trainer apart: DeepSpeed engine, its hooks, optimizer, scheduler, accelerator state.

    The model itself stays (with its trained weights; under ZeRO-3 still partitioned over the ranks).
    """
    import torch

    engine = getattr(trainer, "deepspeed", None)
    if engine is not None:
        engine.destroy()  # ZeRO gradient hooks (and ZeRO-3's module hooks)
        for hook in (getattr(engine, "module_forward_pre_hook", None), getattr(engine, "module_forward_post_hook", None)):
            if hook is not None:
                hook.remove()
    model = getattr(trainer, "model", None)
    if model is not None:
        for param in model.parameters():
            # ZeRO-3 links every parameter to its optimizer (`_link_all_hp_params`): that link alone keeps
            # the old optimizer, its fp32 partitions and Adam state, and through it the engine, alive
            if hasattr(param, "_z3_optimizer"):
                del param._z3_optimizer
        if getattr(model, "is_gradient_checkpointing", False):
            # each enable adds a forward hook on the input embeddings; disable removes it
            model.gradient_checkpointing_disable()
    trainer.accelerator.free_memory()
    for attr in ("model_wrapped", "deepspeed", "optimizer", "lr_scheduler"):
        if hasattr(trainer, attr):
            setattr(trainer, attr, None)
    del engine, trainer, model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@dataclass(frozen=True)
class Census:
    """What is alive in this process after a round (parameters counted once each)."""

    grad_hooks_min: int  # post-accumulate-grad hooks on the parameter with the fewest
    grad_hooks_max: int
    forward_hooks: int  # forward (pre-)hooks on every module of the model
    engines: int  # DeepSpeed engines reachable by the garbage collector
    optimizers: int  # torch optimizers reachable by the garbage collector (each holds its state)
    rss_mib: float
    cuda_allocated_mib: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def grad_hooks(param: "torch.Tensor") -> int:
    """Hooks that run when the parameter's gradient has been accumulated (how ZeRO-1/2/3 register
    theirs on torch >= 2.1, `deepspeed.utils.torch.register_grad_hook`)."""
    hooks = getattr(param, "_post_accumulate_grad_hooks", None)
    return len(hooks) if hooks else 0


def forward_hooks(model: "torch.nn.Module") -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def census(model: "torch.nn.Module") -> Census:
    import psutil
    import torch

    counts = [grad_hooks(p) for p in model.parameters() if p.requires_grad] or [0]
    gc.collect()
    try:
        from deepspeed.runtime.engine import DeepSpeedEngine
    except ImportError:  # pragma: no cover - deepspeed is part of the stack
        DeepSpeedEngine = None  # type: ignore[assignment,misc]  # noqa: N806
    engines = optimizers = 0
    for obj in gc.get_objects():
        if DeepSpeedEngine is not None and isinstance(obj, DeepSpeedEngine):
            engines += 1
        elif isinstance(obj, torch.optim.Optimizer):
            optimizers += 1
    cuda = torch.cuda.memory_allocated() / 2**20 if torch.cuda.is_available() else None
    return Census(
        grad_hooks_min=min(counts),
        grad_hooks_max=max(counts),
        forward_hooks=forward_hooks(model),
        engines=engines,
        optimizers=optimizers,
        rss_mib=round(psutil.Process().memory_info().rss / 2**20, 1),
        cuda_allocated_mib=None if cuda is None else round(cuda, 1),
    )
