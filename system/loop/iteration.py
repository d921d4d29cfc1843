"""One iteration's data, as plain functions: candidates from generations, the training set with
replay, and the numbers that go into metrics.jsonl."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any, Sequence

from system.draws import passes
from system.models.generation.base import Generation
from system.tasks.base import TaskPrompt

Record = dict[str, Any]


def expand_candidates(prompts: Sequence[TaskPrompt], generations: Sequence[Generation]) -> list[Record]:
    """One candidate row per sample: the prompt's columns, the generated completion and its mean token
    log-prob (the generators' samples of ``prompts[i]`` are ``generations[i]``)."""
    if len(prompts) != len(generations):
        raise ValueError(f"{len(generations)} generations for {len(prompts)} prompts")
    out = []
    for prompt, generation in zip(prompts, generations):
        base = prompt.row()
        for k, sample in enumerate(generation.samples):
            out.append({
                **base,
                "sample_index": k,
                "completion": sample.text,
                "mean_logprob": sample.sum_logprob / len(sample.logprobs) if sample.logprobs else None,
                "finish_reason": sample.finish_reason,
            })
    return out


def pass_at_k(candidates: Sequence[Record], verdicts: Sequence[Record]) -> float:
    """Fraction of prompts with at least one sample whose answer is exactly right (from the stored verdicts)."""
    best: dict[str, bool] = defaultdict(bool)
    for c, v in zip(candidates, verdicts, strict=True):
        best[c["prompt_id"]] |= bool(v["answer_correct"])
    return sum(best.values()) / len(best) if best else 0.0


def kept_fraction(candidates: Sequence[Record], selected: Sequence[int]) -> float:
    """Fraction of prompts with at least one sample selected."""
    prompts = {c["prompt_id"] for c in candidates}
    kept = {candidates[i]["prompt_id"] for i in selected}
    return len(kept) / len(prompts) if prompts else 0.0


def kept_fraction_by_key(candidates: Sequence[Record], keys: Sequence[str], selected: Sequence[int]) -> dict[str, float]:
    """Per curriculum key (TInt: task), the fraction of its prompts with at least one sample selected
    (what moves its frontier); ``keys[i]`` is candidate i's key."""
    prompts: dict[str, set[str]] = defaultdict(set)
    kept: dict[str, set[str]] = defaultdict(set)
    for c, key in zip(candidates, keys, strict=True):
        prompts[key].add(c["prompt_id"])
    for i in selected:
        kept[keys[i]].add(candidates[i]["prompt_id"])
    return {t: len(kept[t]) / len(ids) for t, ids in sorted(prompts.items())}


def training_set(
    selected: Sequence[Record],
    earlier_selections: Sequence[Record],
    seed_records: Sequence[Record],
    total: int,
    replay_ratio: float,
    replay_seed_share: float,
    seed: int,
) -> list[Record]:
    """``total`` rows for one round of fixed compute (steps x global batch), shuffled.

    ``1 - replay_ratio`` of the rows are the selection, passed over in fresh random orders as often
    as it takes; the rest is replay, ``replay_seed_share`` of it fresh clean seed records (each used
    once) and the rest earlier iterations' selections. Since the learner draws its batches at random
    from these rows, every batch is about ``replay_ratio`` replay: a small selection is repeated, but
    it never makes up more than its share of a batch, and the fresh seed records keep what seed
    training taught (STACK.md: training on a tiny self-generated pool alone undoes it).
    """
    rng = random.Random(seed)
    if not selected or total <= 0:
        return []
    n_replay = round(total * replay_ratio)
    n_earlier = round(n_replay * (1.0 - replay_seed_share)) if earlier_selections else 0
    n_seed = n_replay - n_earlier if seed_records else 0
    n_selected = total - n_seed - n_earlier  # whatever replay cannot fill goes to the selection
    rows = passes(selected, n_selected, rng) + passes(seed_records, n_seed, rng) + passes(
        earlier_selections, n_earlier, rng)
    data = [{"prompt": r["prompt"], "completion": r["completion"]} for r in rows]
    rng.shuffle(data)
    return data
