"""User verifier functions for tests/tasks/test_verifiers.py, in verl's and TRL's conventions."""

from __future__ import annotations

import time


def verl_exact(data_source, solution_str, ground_truth, extra_info=None):
    """verl's compute_score: 1.0 when the last word of the completion is the reference."""
    words = solution_str.split()
    return 1.0 if words and words[-1] == str(ground_truth) else 0.0


def verl_two_arguments(solution_str, ground_truth):
    """Takes only some of verl's arguments: gets only those."""
    return solution_str.strip() == str(ground_truth)


def verl_with_details(data_source, solution_str, ground_truth, extra_info=None):
    """A dict: `pred` is the extracted answer, other keys become verifier_<key> signals."""
    words = solution_str.split()
    pred = words[-1] if words else None
    return {"score": float(pred == str(ground_truth)), "pred": pred, "n_words": len(words),
            "source": data_source, "level": (extra_info or {}).get("level")}


def verl_raises_on_boom(data_source, solution_str, ground_truth, extra_info=None):
    if "boom" in solution_str:
        raise ValueError("cannot parse\nthis completion: " + "x" * 500)
    return 1.0


def verl_slow(data_source, solution_str, ground_truth, extra_info=None):
    time.sleep(3.0)
    return 1.0


def verl_too_high(data_source, solution_str, ground_truth, extra_info=None):
    return 1.5


def verl_nan(data_source, solution_str, ground_truth, extra_info=None):
    return float("nan")


def verl_text(data_source, solution_str, ground_truth, extra_info=None):
    return "1.0"


def trl_reward(prompts, completions, answer, **kwargs):
    """TRL's reward_funcs: lists in, one score per completion out; `answer` is a dataset column."""
    return [1.0 if c.strip().endswith(str(a)) else 0.0 for c, a in zip(completions, answer)]


def trl_partial_credit(completions, ground_truth, level):
    """A batch function that names only the columns it uses; returns dicts."""
    return [{"score": 0.5 if str(g) in c else 0.0, "level_seen": lv} for c, g, lv in zip(completions, ground_truth, level)]


def trl_raises_on_boom(prompts, completions, **kwargs):
    if any("boom" in c for c in completions):
        raise RuntimeError("boom in the batch")
    return [True for _ in completions]


def trl_wrong_length(prompts, completions, **kwargs):
    return [1.0]


def neither(text, reference):
    return 1.0


NOT_A_FUNCTION = 3
