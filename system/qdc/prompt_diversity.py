"""Per-prompt output diversity: are the k samples of one prompt becoming the same?

The cross-prompt Vendi score of a model's samples mostly measures how different the prompts are. The
collapse a quality-only loop is said to cause is narrower: the k samples of *one* prompt converge on
one completion. These functions measure that for groups of k samples per prompt, and average over
prompts (every prompt weighs the same):

    distinct_per_prompt          distinct completions / k (1/k: all k identical; 1.0: all different)
    distinct_answers_per_prompt  distinct final answers / k (a missing answer counts as one value)
    edit_distance_per_prompt     mean over pairs of samples of Levenshtein distance / the longer length
                                 (0: identical; prompts with a single sample have no pairs and are left out)
    pass_at_k_gap                pass@k - pass@1: whether any sample is correct, minus the mean
                                 per-sample correctness (0 when the k samples all agree on correctness)

Inputs are plain rows ``(prompt_id, completion, extracted_answer, correct)``, nothing task-specific,
so any task family (TInt, a user's dataset) can be measured. Pure functions: nothing is stored.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations
from typing import Hashable, Iterable, NamedTuple, Sequence


class Sample(NamedTuple):
    prompt_id: Hashable
    completion: str
    answer: Hashable | None  # the extracted final answer; None when none could be read
    correct: bool


KEYS = ("distinct_per_prompt", "distinct_answers_per_prompt", "edit_distance_per_prompt", "pass_at_k_gap")


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions of one character, each costing 1).

    Bit-parallel (Myers 1999, Hyyro 2001): one column of the dynamic-programming table is two bit
    vectors (Python ints of any width), so a pair costs len(a) integer operations instead of
    len(a) * len(b) table cells."""
    if len(a) < len(b):
        a, b = b, a
    m = len(b)
    if m == 0:
        return len(a)
    peq: dict[str, int] = {}
    for i, c in enumerate(b):
        peq[c] = peq.get(c, 0) | (1 << i)
    mask = (1 << m) - 1
    top = 1 << (m - 1)
    pv, mv, score = mask, 0, m
    for c in a:
        eq = peq.get(c, 0)
        xv = eq | mv
        xh = ((((eq & pv) + pv) & mask) ^ pv) | eq
        ph = (mv | ~(xh | pv)) & mask
        mh = pv & xh
        if ph & top:
            score += 1
        elif mh & top:
            score -= 1
        ph = ((ph << 1) | 1) & mask
        mh = (mh << 1) & mask
        pv = (mh | ~(xv | ph)) & mask
        mv = ph & xv
    return score


def normalized_edit_distance(a: str, b: str) -> float:
    """Levenshtein distance over the longer length: 0 for identical strings, 1 for nothing in common."""
    if a == b:  # the common case once samples collapse
        return 0.0
    return levenshtein(a, b) / max(len(a), len(b))


def group_samples(rows: Iterable[Sample | Sequence]) -> dict[Hashable, list[Sample]]:
    """Samples by prompt, in first-seen order."""
    groups: dict[Hashable, list[Sample]] = defaultdict(list)
    for row in rows:
        s = row if isinstance(row, Sample) else Sample(*row)
        groups[s.prompt_id].append(s)
    return dict(groups)


def prompt_scores(samples: Sequence[Sample]) -> dict[str, float | None]:
    """The four measures for the k samples of one prompt (edit distance None when k = 1)."""
    k = len(samples)
    if k == 0:
        raise ValueError("a prompt needs at least one sample")
    completions = [s.completion for s in samples]
    pairs = list(combinations(completions, 2))
    pass_at_1 = sum(bool(s.correct) for s in samples) / k
    return {
        "distinct_per_prompt": len(set(completions)) / k,
        "distinct_answers_per_prompt": len({s.answer for s in samples}) / k,
        "edit_distance_per_prompt": (sum(normalized_edit_distance(a, b) for a, b in pairs) / len(pairs)
                                     if pairs else None),
        "pass_at_k_gap": float(any(s.correct for s in samples)) - pass_at_1,
    }


def per_prompt_diversity(rows: Iterable[Sample | Sequence]) -> dict[str, float | None]:
    """The four measures averaged over prompts (the metrics keys in ``KEYS``), plus ``n_prompts`` and
    ``samples_per_prompt`` (the mean k). A measure no prompt defines is None."""
    groups = group_samples(rows)
    scores = [prompt_scores(samples) for samples in groups.values()]
    out: dict[str, float | None] = {}
    for key in KEYS:
        values = [s[key] for s in scores if s[key] is not None]
        out[key] = sum(values) / len(values) if values else None  # type: ignore[arg-type]
    out["n_prompts"] = float(len(groups))
    out["samples_per_prompt"] = sum(len(g) for g in groups.values()) / len(groups) if groups else None
    return out
