"""Prompt/completion records as training data: batches for loss evaluation and length-sorted order.

Which records (the seed set, replay) is the task family's business (`system.tasks`)."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Iterator, Mapping, Sequence

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedTokenizerBase


def completion_batches(
    tokenizer: "PreTrainedTokenizerBase", records: Sequence[Mapping[str, Any]], batch_size: int
) -> "Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]":
    """(input_ids, attention_mask, labels) with labels only on completion + EOS, like TRL's SFT data."""
    import torch

    pad = tokenizer.pad_token_id
    for start in range(0, len(records), batch_size):
        rows = []
        for r in records[start : start + batch_size]:
            prompt = tokenizer(r["prompt"])["input_ids"]
            full = tokenizer(r["prompt"] + r["completion"] + tokenizer.eos_token)["input_ids"]
            rows.append((full, [-100] * len(prompt) + full[len(prompt) :]))
        width = max(len(f) for f, _ in rows)
        ids = torch.tensor([f + [pad] * (width - len(f)) for f, _ in rows])
        mask = torch.tensor([[1] * len(f) + [0] * (width - len(f)) for f, _ in rows])
        labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in rows])
        yield ids, mask, labels


def length_sorted_batches(lengths: Sequence[int], global_batch: int, seed: int, total: int) -> list[int]:
    """Indices of ``total`` training rows: passes over the data, each in a fresh random order, cut
    into global batches, and each global batch sorted by length.

    A global batch is still a uniform random sample of the data; sorting only decides which rows
    share a micro-batch (gradient accumulation, or a rank's slice), so that each micro-batch pads
    to a similar length. The trainer normalizes the loss by the completion tokens of the whole
    global batch, so the gradient is the one of the unsorted batch: learning is unchanged and
    padding drops from ~39% of the tokens (random batches of TInt traces) to ~12% with 4
    micro-batches. The order depends only on the seed: any number of ranks sees the same batches.
    """
    n = len(lengths)
    if n == 0 or total <= 0:
        return []
    order: list[int] = []
    epoch = 0
    while len(order) < total:
        idx = list(range(n))
        random.Random(f"batches:{seed}:{epoch}").shuffle(idx)
        epoch += 1
        if n < global_batch:  # fewer rows than one batch: every batch is the whole set, shuffled
            idx = (idx * (global_batch // n + 1))[:global_batch]
        for start in range(0, len(idx) - global_batch + 1, global_batch):
            order.extend(sorted(idx[start : start + global_batch], key=lambda i: lengths[i]))
    return order[:total]
