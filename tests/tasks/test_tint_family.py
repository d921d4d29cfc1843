"""The tint task family behind the TaskFamily interface: curriculum, prompts, verdicts, evaluation sets."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from system.config import load_recipe
from system.tasks import TaskPrompt, Verdict, family_for
from system.tasks.evaluation import accuracy_table
from system.tasks.tint_family import TintFamily
from system.tasks.verdicts import judge_candidates

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def family() -> TintFamily:
    f = family_for(load_recipe(ROOT / "recipes" / "quickstart.yaml"))
    assert isinstance(f, TintFamily)
    return f


def test_prompts_follow_each_tasks_frontier_and_round_trip_through_rows(family: TintFamily) -> None:
    state = family.first_curriculum()
    assert state == {"sum": 6, "max": 6}
    prompts = family.iteration_prompts(state, 40, seed=3, iteration=2)
    assert prompts == family.iteration_prompts(state, 40, seed=3, iteration=2)
    assert {p.task for p in prompts} == {"sum", "max"} and all(p.prompt_id.startswith("2:") for p in prompts)
    assert all(p.level == len(p.fields["input"]) <= 6 for p in prompts)
    back = [family.prompt_of(p.row()) for p in prompts]
    assert [(b.task, b.answer, dict(b.fields)) for b in back] == [(p.task, p.answer, dict(p.fields)) for p in prompts]


def test_the_frontier_advances_per_task_from_its_own_kept_fraction(family: TintFamily) -> None:
    assert family.advance({"sum": 6, "max": 6}, {"sum": 0.1, "max": 0.5}) == {"sum": 6, "max": 7}
    assert family.advance({"sum": 8, "max": 8}, {"sum": 1.0, "max": 1.0}) == {"sum": 8, "max": 8}


def test_verdicts_grade_correct_wrong_and_miscopied_traces(family: TintFamily) -> None:
    p = TaskPrompt("0", "sum", "sum 12 7 33 =", 52, "id", 3, {"input": [12, 7, 33]})
    texts = [" 12+7=19 19+33=52 #52", " 12+7=19 19+33=53 #53", " 12+8=20 20+33=53 #53", "garbage"]
    verdicts = family.verify([p] * 4, texts)
    assert [v.correct for v in verdicts] == [True, False, False, False]
    assert [v.signals["chain_consistent"] for v in verdicts] == [True, True, False, False]
    assert verdicts[0].quality == 1.0 and verdicts[3].quality == 0.0 and verdicts[3].answer is None
    assert verdicts[0].answer == "52" and verdicts[0].complexity["trace_steps"] == 2.0
    rows = judge_candidates(family, [{**p.row(), "completion": t} for t in texts])
    assert [r["answer_correct"] for r in rows] == [True, False, False, False]
    assert rows[2]["steps_valid"] == 1.0 and rows[2]["verify_error"] is None


def test_eval_sets_are_fixed_and_the_ood_summary_is_the_longer_lists(family: TintFamily) -> None:
    a, b = family.eval_sets(0), family.eval_sets(0)
    assert list(a) == ["id", "ood_length"] and a == b
    assert {p.level for p in a["ood_length"]} == {6, 7, 8}
    assert family.summary_accuracy({"id": 0.9, "ood_length": 0.4, "ood_digits": 0.1}) == (0.9, 0.4)
    table = accuracy_table(a["id"][:3], [Verdict(1.0, True), Verdict(0.0, False), Verdict(1.0, True)])
    assert table["accuracy"] == pytest.approx(2 / 3) and table["n"] == 3


def test_per_prompt_diversity_of_the_models_samples(family: TintFamily) -> None:
    from system.loop.evaluation import sample_diversity
    from system.qdc.config import FilterConfig

    p = TaskPrompt("0", "sum", "sum 12 7 33 =", 52, "id", 3, {"input": [12, 7, 33]})
    q = TaskPrompt("1", "sum", "sum 1 2 =", 3, "id", 2, {"input": [1, 2]})
    same = [" 12+7=19 19+33=52 #52"] * 4
    different = [" 1+2=3 #3", " 1+2=4 #4", " 1+3=4 #4", "x"]
    out = sample_diversity(family, [p, q], [same, different], FilterConfig())["per_prompt"]
    assert out["distinct_per_prompt"] == pytest.approx((1 / 4 + 1.0) / 2)
    assert out["distinct_answers_per_prompt"] == pytest.approx((1 / 4 + 3 / 4) / 2)
    assert out["pass_at_k_gap"] == pytest.approx((0.0 + (1.0 - 1 / 4)) / 2)
    assert 0.0 < out["edit_distance_per_prompt"] < 1.0


def test_a_verdict_refuses_a_quality_outside_the_unit_range() -> None:
    with pytest.raises(ValueError, match="quality"):
        Verdict(quality=1.5, correct=True)
    with pytest.raises(ValueError, match="quality"):
        Verdict(quality=float("nan"), correct=False)


def test_only_the_task_families_know_tint() -> None:
    """The loop, the filter, the models, the ablation and the actors see tasks only through system.tasks."""
    found = subprocess.run(["grep", "-rn", "system.tint", "system/loop", "system/qdc", "system/models",
                            "system/ablation", "actors"], cwd=ROOT, capture_output=True, text=True)
    assert found.stdout == ""
