"""User verifier functions, as a user's own file would hold them (named in test recipes by path:name)."""

from __future__ import annotations

import re
import time


def _last_number(text: str) -> str | None:
    found = re.findall(r"-?\d+", text.split("####")[-1])
    return found[-1] if found else None


def verl_dict(data_source, solution_str, ground_truth, extra_info=None):
    """verl's convention, returning a dict: its extra keys become verifier_<key> columns. Raises on
    completions of a length divisible by 3, as a buggy user verifier would on some candidates."""
    if len(solution_str) % 3 == 0:
        raise ValueError(f"cannot read {len(solution_str)} characters")
    pred = _last_number(solution_str)
    return {"score": float(pred == str(ground_truth)), "pred": pred, "length": len(solution_str),
            "source_ok": data_source.endswith(".jsonl") and extra_info.get("uid") is not None}


def trl_batch(prompts, completions, answer, uid, **kwargs):
    """TRL's reward-function convention: lists in, one float per completion out."""
    assert len(prompts) == len(completions) == len(answer) == len(uid)
    return [float(_last_number(c) == str(a)) for c, a in zip(completions, answer)]


def too_slow(data_source, solution_str, ground_truth, extra_info=None):
    time.sleep(30)
    return 1.0
