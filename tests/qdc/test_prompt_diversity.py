"""Per-prompt output diversity on hand-made sample sets whose answers are known."""

from __future__ import annotations

import random

import pytest

from system.qdc.prompt_diversity import (
    KEYS, Sample, levenshtein, normalized_edit_distance, per_prompt_diversity, prompt_scores,
)


def reference_levenshtein(a: str, b: str) -> int:
    """The textbook dynamic program, to check the bit-parallel one against."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def test_levenshtein_matches_the_dynamic_program() -> None:
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == levenshtein("abc", "") == 3 and levenshtein("", "") == 0
    rng = random.Random(0)
    for _ in range(500):
        a = "".join(rng.choice("01+=# ") for _ in range(rng.randrange(0, 90)))
        b = "".join(rng.choice("01+=# ") for _ in range(rng.randrange(0, 90)))
        assert levenshtein(a, b) == reference_levenshtein(a, b), (a, b)
    long_a, long_b = "x" * 150 + "abc", "abc" + "x" * 140  # wider than one machine word
    assert levenshtein(long_a, long_b) == reference_levenshtein(long_a, long_b)
    assert normalized_edit_distance("abcd", "abcd") == 0.0 and normalized_edit_distance("ab", "cd") == 1.0
    assert normalized_edit_distance("", "") == 0.0


def _group(prompt: str, completions: list[str], answers: list, correct: list[bool]) -> list[Sample]:
    return [Sample(prompt, c, a, ok) for c, a, ok in zip(completions, answers, correct)]


def test_all_identical_samples() -> None:
    k = 4
    scores = prompt_scores(_group("p", [" 3+4=7 #7"] * k, [7] * k, [True] * k))
    assert scores == {"distinct_per_prompt": 1 / k, "distinct_answers_per_prompt": 1 / k,
                      "edit_distance_per_prompt": 0.0, "pass_at_k_gap": 0.0}


def test_all_different_samples() -> None:
    completions = [" 3+4=7 #7", " 3+4=8 #8", " 3+4=9 #9", " 3+5=1 #1"]
    scores = prompt_scores(_group("p", completions, [7, 8, 9, 1], [True, False, False, False]))
    assert scores["distinct_per_prompt"] == 1.0 and scores["distinct_answers_per_prompt"] == 1.0
    assert 0.0 < scores["edit_distance_per_prompt"] < 1.0
    assert scores["pass_at_k_gap"] == pytest.approx(1.0 - 0.25)


def test_answers_can_agree_while_completions_differ_and_missing_answers_count_once() -> None:
    scores = prompt_scores(_group("p", ["a #5", "b #5", "junk", "more junk"], [5, 5, None, None], [True] * 2 + [False] * 2))
    assert scores["distinct_per_prompt"] == 1.0
    assert scores["distinct_answers_per_prompt"] == 2 / 4  # {5, no answer}


def test_averages_over_prompts_from_plain_rows() -> None:
    rows = [("a", "x", 1, True)] * 2 + [("b", "x", 1, False), ("b", "yy", 2, True)] + [("c", "z", None, False)]
    out = per_prompt_diversity(rows)
    assert set(KEYS) <= set(out) and out["n_prompts"] == 3.0
    assert out["distinct_per_prompt"] == pytest.approx((0.5 + 1.0 + 1.0) / 3)
    assert out["edit_distance_per_prompt"] == pytest.approx((0.0 + 1.0) / 2)  # "c" has one sample: no pair
    assert out["pass_at_k_gap"] == pytest.approx((0.0 + 0.5 + 0.0) / 3)
    assert out["samples_per_prompt"] == pytest.approx(5 / 3)
    assert per_prompt_diversity([])["distinct_per_prompt"] is None
