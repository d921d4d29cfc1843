"""Noise as the study defines it: exact contamination, static stays local, dynamic propagates,
and the verifier tells the two apart."""

from __future__ import annotations

from collections import Counter

import pytest

from system.tint import TASKS, NoiseSpec, parse, render, sample_records, true_execution, verify

GRID = [0.0, 0.2, 0.5, 0.8, 1.0]


@pytest.mark.parametrize("kind,intensity", [("static", 0.3), ("static", 0.9), ("dynamic", 0.2), ("dynamic", 0.4)])
@pytest.mark.parametrize("contamination", GRID)
def test_contamination_is_the_fraction_of_changed_records(kind: str, intensity: float, contamination: float) -> None:
    records = list(sample_records("sum", "id", 2000, seed=5, noise=NoiseSpec(kind, contamination, intensity)))
    changed = [r for r in records if r["completion"] != _clean_text(r)]
    assert abs(len(changed) / 2000 - contamination) <= 0.03
    # Every record chosen for noise really is changed, and only those.
    assert all(r["noise"]["noised"] == (r["completion"] != _clean_text(r)) for r in records)
    assert all(r["noise"]["steps"] for r in records if r["noise"]["noised"])


def _clean_text(record: dict) -> str:
    return render(true_execution(record["task"], record["input"]).trace)


def test_inputs_do_not_depend_on_the_noise() -> None:
    clean = list(sample_records("median", "id", 50, seed=9))
    noisy = list(sample_records("median", "id", 50, seed=9, noise=NoiseSpec("dynamic", 0.5, 0.2)))
    assert [r["input"] for r in clean] == [r["input"] for r in noisy]


def test_static_noise_leaves_later_steps_true() -> None:
    for r in sample_records("sum", "id", 300, seed=1, noise=NoiseSpec("static", 1.0, 0.3)):
        truth = true_execution("sum", r["input"]).trace
        written = parse(r["completion"])
        assert len(written.steps) == len(truth.steps)  # digits change, structure does not
        noised = set(r["noise"]["steps"])
        for i, step in enumerate(written.steps):
            if i not in noised:
                assert step == truth.steps[i]


def test_dynamic_noise_propagates_to_the_answer() -> None:
    records = list(sample_records("sum", "id", 300, seed=1, noise=NoiseSpec("dynamic", 1.0, 0.2)))
    for r in records:
        written = parse(r["completion"]).trace
        assert written is not None
        # The written trace is internally consistent: each step uses the previous written result.
        for prev, step in zip(written.steps, written.steps[1:]):
            assert step.a == prev.result
        assert written.answer == (written.steps[-1].result,)
    wrong = sum(parse(r["completion"]).answer != (r["answer"],) for r in records)
    assert wrong / len(records) > 0.9


def test_static_line_variant_drops_lines() -> None:
    for r in sample_records("prefix_sum", "id", 200, seed=2, noise=NoiseSpec("static", 1.0, 0.3, "line")):
        truth = true_execution("prefix_sum", r["input"]).trace
        written = parse(r["completion"]).trace
        assert len(written.steps) == len(truth.steps) - len(r["noise"]["steps"])
        assert written.answer == truth.answer
        assert verify("prefix_sum", r["input"], r["completion"]).noise_kind == "static"


def confusion(kind: str, intensity: float, n_per_task: int = 200, seed: int = 11) -> Counter:
    counts: Counter = Counter()
    for task in TASKS:
        for r in sample_records(task, "id", n_per_task, seed, NoiseSpec(kind, 1.0, intensity)):  # type: ignore[arg-type]
            counts[verify(task, r["input"], r["completion"]).noise_kind] += 1
    return counts


@pytest.mark.parametrize("kind", ["static", "dynamic"])
def test_verifier_classifies_noise_kind_at_intensity_0_3(kind: str) -> None:
    counts = confusion(kind, 0.3)
    total = sum(counts.values())
    assert total == 200 * len(TASKS)
    assert counts["malformed"] == 0
    assert counts[kind] / total >= 0.95, dict(counts)


def _digit_pairs(records: list[dict]) -> list[tuple[str, str]]:
    """(true digit, written digit) at every digit position of static digit-noised completions."""
    pairs = []
    for r in records:
        clean = _clean_text(r)
        assert len(clean) == len(r["completion"])  # digits are redrawn in place
        pairs += [(a, b) for a, b in zip(clean, r["completion"]) if a.isdigit()]
    return pairs


@pytest.mark.parametrize("draw,kept", [("uniform", 0.19), ("different", 0.10)])
def test_static_draw_at_intensity_0_9(draw: str, kept: float) -> None:
    """The study's uniform draw keeps the true digit with 0.1 + 0.9/10 = 0.19 (each other digit 0.09):
    the true trace stays the most likely reading. Drawing a different digit keeps it only when no
    draw happens (0.1), and every other digit is then as likely as the true one."""
    records = list(sample_records("sum", "id", 1000, seed=4, noise=NoiseSpec("static", 1.0, 0.9, static_draw=draw)))
    assert all(r["noise"]["draw"] == draw for r in records)
    pairs = _digit_pairs(records)
    assert len(pairs) > 15_000
    same = sum(a == b for a, b in pairs) / len(pairs)
    assert abs(same - kept) <= 0.02
    wrong = Counter((int(b) - int(a)) % 10 for a, b in pairs if a != b)
    for shift in range(1, 10):  # every wrong digit equally likely: (1 - kept) / 9 each
        assert abs(wrong[shift] / len(pairs) - (1 - kept) / 9) <= 0.02


NOISE_OPTIONS = [
    NoiseSpec("static", 0.5, 0.02, static_draw="uniform"),
    NoiseSpec("static", 0.5, 0.02, static_draw="different"),
    NoiseSpec("static", 0.5, 0.02, static_variant="line"),
    NoiseSpec("dynamic", 0.5, 0.02, dynamic_unit="digit"),
    NoiseSpec("dynamic", 0.5, 0.02, dynamic_unit="step"),
]


@pytest.mark.parametrize("noise", NOISE_OPTIONS, ids=lambda s: f"{s.kind}-{s.static_variant}-{s.static_draw}-{s.dynamic_unit}")
def test_every_record_chosen_for_noise_is_changed(noise: NoiseSpec) -> None:
    """At intensity 0.02 chance leaves most traces untouched: the noiser changes one by force, so
    contamination stays exactly the fraction of records that differ from the clean trace."""
    records = list(sample_records("prefix_sum", "id", 400, seed=8, noise=noise))
    noised = [r for r in records if r["noise"]["noised"]]
    assert len(noised) == 200
    assert all(r["completion"] != _clean_text(r) for r in noised)
    assert all(r["completion"] == _clean_text(r) for r in records if not r["noise"]["noised"])


def test_dynamic_digit_unit_perturbs_each_digit_with_probability_p() -> None:
    import random

    from system.tint.noise import perturb_digits
    from system.tint.traced import Step

    rng = random.Random(0)
    n, p = 20_000, 0.3
    changed = [0, 0, 0]
    for _ in range(n):
        value = perturb_digits(Step(400, "+", 83, 483), rng, p)
        assert 100 <= value <= 999  # the leading digit never becomes 0
        for k, (a, b) in enumerate(zip("483", str(value))):
            changed[k] += a != b
    assert all(abs(c / n - p) <= 0.015 for c in changed), changed
    flips = sum(perturb_digits(Step(4, "<", 8, 1), rng, p) == 0 for _ in range(n))
    assert abs(flips / n - p) <= 0.015
