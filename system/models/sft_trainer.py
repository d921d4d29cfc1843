"""TRL's SFTTrainer, with the per-step logging metrics of a multi-rank run kept on each rank, a
callback that counts the gradient hooks a round trains with, and one that reports the step reached."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback
from trl import SFTTrainer

from system.models.teardown import grad_hooks


def _rank_local(tensor: Any, use_gather_object: bool = False) -> Any:
    return tensor


class RankLocalMetricsSFTTrainer(SFTTrainer):
    """SFTTrainer whose logged `entropy`, `mean_token_accuracy` and `num_tokens` are rank 0's own.

    TRL gathers those scalars from every rank on every training step only to log them: four blocking
    collectives per step, which cost 7-15% of a 2-rank gloo step at the quickstart's size on CPU
    (measured, more when the host is busy). Nothing in training reads them: the loss is normalized by
    the Trainer's `num_items_in_batch`, gathered before `compute_loss`, so losses and gradients are
    those of the plain trainer; only the logged metrics describe rank 0's share of each batch.
    """

    def compute_loss(
        self, model: Any, inputs: Any, return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        self.accelerator.gather_for_metrics = _rank_local  # shadows the method for this call only
        try:
            return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        finally:
            del self.accelerator.gather_for_metrics


class StepFile(TrainerCallback):
    """Rank 0 writes ``{"step": s, "max_steps": n}`` to a small file at most twice a second, so that a
    process that is not the trainer (the loop's driver, `qdc train` around its ranks) can show the
    training's progress without its output."""

    def __init__(self, path: str | Path, every_s: float = 0.5):
        self.path = Path(path)
        self.every_s = every_s
        self._last = 0.0

    def _write(self, state: Any) -> None:
        from system.logs import write_step_file

        write_step_file(self.path, int(state.global_step), int(state.max_steps))

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        now = time.monotonic()
        if now - self._last >= self.every_s or state.global_step >= state.max_steps:
            self._last = now
            self._write(state)


class GradHookCount(TrainerCallback):
    """Gradient hooks per parameter ([fewest, most]) at the end of a round's first step: ZeRO puts
    one on each parameter; a hook left over from an earlier round's engine would make it two."""

    def __init__(self, model: Any):
        self.model = model
        self.seen: list[int] = []

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if not self.seen:
            counts = [grad_hooks(p) for p in self.model.parameters() if p.requires_grad] or [0]
            self.seen = [min(counts), max(counts)]
