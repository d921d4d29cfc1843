"""Ablation variants: one validated loop recipe per (seed, strategy); what iteration 0 depends on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from system.ablation.compare import add_gains, aggregate, cell_text, final_summary, write_comparison
from system.ablation.plan import ablation_dir_for, seed_stage_key, variants
from system.config import RecipeError, validate_recipe
from tests.ablation.conftest import tiny_ablation


def test_one_variant_per_seed_and_strategy(tmp_path: Path) -> None:
    r = validate_recipe(tiny_ablation(seeds=[3, 4], overrides={"kcenter": ["filter.kcenter_tolerance=0.05"]}))
    vs = variants(r, tmp_path)
    assert [(v.strategy, v.seed) for v in vs] == [("top_quality", 3), ("kcenter", 3), ("top_quality", 4), ("kcenter", 4)]
    for v in vs:
        assert v.recipe.filter.strategy == v.strategy and v.recipe.seed == v.seed
        assert v.run_dir == tmp_path / v.strategy / f"seed_{v.seed}"
        assert v.recipe.loop == r.loop and v.recipe.learner == r.learner  # same compute
    assert vs[1].recipe.filter.kcenter_tolerance == 0.05 and vs[0].recipe.filter.kcenter_tolerance != 0.05
    # iteration 0 does not depend on the strategy (or its knobs), only on the seed
    assert seed_stage_key(vs[0].recipe) == seed_stage_key(vs[1].recipe) != seed_stage_key(vs[2].recipe)


def test_iteration_zero_key_sees_seed_training_changes(tmp_path: Path) -> None:
    a = variants(validate_recipe(tiny_ablation()), tmp_path)[0]
    b = variants(validate_recipe({**tiny_ablation(), "train": {"max_steps": 31}}), tmp_path)[0]
    assert seed_stage_key(a.recipe) != seed_stage_key(b.recipe)


def test_default_directory_is_fixed_so_reruns_find_it() -> None:
    r = validate_recipe(tiny_ablation())
    assert ablation_dir_for(r) == Path("runs") / "tiny-ablation"


@pytest.mark.parametrize("ablate,words", [
    ({"strategies": ["top_quality", "best"]}, "unknown selection strategy"),
    ({"strategies": ["random", "random"]}, "repeated strategy"),
    ({"overrides": {"qdit": ["filter.qdit_alpha=0.2"]}}, "not in ablate.strategies"),
    ({"overrides": {"kcenter": ["seed=3"]}}, "set by the ablation"),
    ({"seeds": [0, 0]}, "repeated seeds"),
])
def test_bad_ablate_sections(ablate: dict, words: str) -> None:
    with pytest.raises(RecipeError) as err:
        validate_recipe(tiny_ablation(**ablate))
    assert "ablate" in str(err.value) and words in str(err.value)


def test_means_and_final_summary() -> None:
    rows = [{"strategy": s, "seed": seed, "iteration": i, "id_accuracy": acc, "output_diversity": div,
             "accuracy_by_length": {"2": acc}}
            for s, seed, i, acc, div in [("a", 0, 0, 0.5, 10.0), ("a", 1, 0, 0.5, 10.0), ("a", 0, 1, 0.6, 9.0),
                                         ("a", 1, 1, 0.8, 7.0), ("a", 0, 2, 0.7, 8.0), ("a", 1, 2, 0.9, 6.0)]]
    add_gains(rows)
    means = aggregate(rows)
    assert [(m["strategy"], m["iteration"]) for m in means] == [("a", 0), ("a", 1), ("a", 2)]
    assert means[1]["id_accuracy"]["mean"] == pytest.approx(0.7) and means[1]["seeds"] == [0, 1]
    (final,) = final_summary(means)
    assert final["iteration"] == 2 and final["id_accuracy"]["mean"] == pytest.approx(0.8)
    # paired with each seed's own seed model: gains 0.2 and 0.4, Vendi changes -2 and -4
    assert final["id_gain"]["mean"] == pytest.approx(0.3) and final["id_gain"]["std"] == pytest.approx(0.1414, abs=1e-3)
    assert final["diversity_change"]["mean"] == pytest.approx(-3.0)
    # 95% t-interval over two seeds: mean ± t(0.975, 1) * std / sqrt(2) = 0.3 ± 12.706 * 0.1414 / 1.414
    lo, hi = final["id_gain"]["ci95"]
    assert lo == pytest.approx(0.3 - 1.2706, abs=1e-3) and hi == pytest.approx(0.3 + 1.2706, abs=1e-3)
    assert cell_text(final["id_gain"], signed=True, interval=True) == "+0.300 [-0.971, +1.571]"
    assert cell_text(final["id_gain"], signed=True) == "+0.300 ± 0.141"


def _write_metrics(run_dir: Path, rows: list[dict]) -> Path:
    run_dir.mkdir(parents=True)
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run_dir


def test_per_prompt_diversity_is_compared_when_the_runs_have_it(tmp_path: Path) -> None:
    from system.ablation.report import ablation_section

    def metrics(distinct: list[float | None]) -> list[dict]:
        return [{"iteration": i, "id_accuracy": 0.5, "ood_accuracy": 0.2, "output_diversity": 10.0,
                 **({"distinct_per_prompt": d, "distinct_answers_per_prompt": d / 2, "edit_distance_per_prompt": d / 4,
                     "pass_at_k_gap": 0.1} if d is not None else {})} for i, d in enumerate(distinct)]

    runs = [("top_quality", 0, _write_metrics(tmp_path / "tq0", metrics([0.8, 0.5, 0.25]))),
            ("top_quality", 1, _write_metrics(tmp_path / "tq1", metrics([0.9, 0.6, 0.35]))),
            ("qdit", 0, _write_metrics(tmp_path / "qd0", metrics([0.8, 0.8, 0.75])))]
    data = write_comparison(tmp_path, runs)
    final = {r["strategy"]: r for r in data["final"]}
    assert final["top_quality"]["distinct_per_prompt"]["mean"] == pytest.approx(0.3)
    # paired with each run's own seed model: -0.55 and -0.55
    assert final["top_quality"]["distinct_per_prompt_change"]["mean"] == pytest.approx(-0.55)
    assert final["qdit"]["pass_at_k_gap"]["mean"] == pytest.approx(0.1)
    md = (tmp_path / "comparison.md").read_text()
    assert "Per-prompt output diversity" in md and "distinct completions / k" in md and "-0.550" in md
    assert "distinct_per_prompt" in (tmp_path / "comparison.csv").read_text().splitlines()[0]
    page = ablation_section(tmp_path)
    assert "Per-prompt output diversity" in page and (tmp_path / "ablation_prompt_diversity.png").is_file()

    older = tmp_path / "older"  # runs from before the metric existed: no empty columns, no section
    data = write_comparison(older, [("top_quality", 0, _write_metrics(older / "tq0", metrics([None, None])))])
    md = (older / "comparison.md").read_text()
    assert "Per-prompt" not in md and "distinct / k" not in md


def test_accuracy_per_split_when_there_are_several_ood_splits(tmp_path: Path) -> None:
    """A dataset family with two OOD splits (held-out templates, more steps): each split's accuracy and
    paired gain gets a column, since ood_accuracy (their mean) would hide which one moved."""
    from system.ablation.report import ablation_section

    def metrics(templates: list[float]) -> list[dict]:
        return [{"iteration": i, "id_accuracy": 0.5, "ood_accuracy": (t + 0.1) / 2,
                 "accuracy_by_split": {"id": 0.5, "ood_steps": 0.1, "ood_templates": t}} for i, t in enumerate(templates)]

    runs = [("top_quality", 0, _write_metrics(tmp_path / "tq0", metrics([0.2, 0.3]))),
            ("top_quality", 1, _write_metrics(tmp_path / "tq1", metrics([0.4, 0.7]))),
            ("deita", 0, _write_metrics(tmp_path / "de0", metrics([0.2, 0.2])))]
    data = write_comparison(tmp_path, runs)
    final = {r["strategy"]: r for r in data["final"]}
    assert final["top_quality"]["accuracy_by_split"]["ood_templates"]["mean"] == pytest.approx(0.5)
    assert final["top_quality"]["gain_by_split"]["ood_templates"]["mean"] == pytest.approx(0.2)
    assert final["deita"]["gain_by_split"]["ood_steps"]["mean"] == pytest.approx(0.0)
    md = (tmp_path / "comparison.md").read_text()
    assert "Accuracy per evaluation split" in md and "| strategy | id | id gain | ood_steps |" in md
    assert "+0.200 [" in md  # gains signed, with their interval over the two seeds
    header = (tmp_path / "comparison.csv").read_text().splitlines()[0]
    assert header.endswith("accuracy_id,accuracy_ood_steps,accuracy_ood_templates")
    assert "Accuracy per evaluation split" in ablation_section(tmp_path)

    one_ood = tmp_path / "tint"  # id and one OOD split: the ID / OOD table says it all
    write_comparison(one_ood, [("random", 0, _write_metrics(one_ood / "r0", [
        {"iteration": i, "id_accuracy": 0.5, "ood_accuracy": 0.2, "accuracy_by_split": {"id": 0.5, "ood_length": 0.2}}
        for i in range(2)]))])
    assert "per evaluation split" not in (one_ood / "comparison.md").read_text()


def test_a_budget_that_never_binds_is_called_out(tmp_path: Path) -> None:
    """With a quality gate and a budget above the number eligible, a budget-filling strategy keeps
    every eligible candidate: the comparison says so instead of presenting it as a choice."""
    from system.ablation.report import ablation_section

    def run(name: str, kept: list[int], eligible: list[int]) -> Path:
        d = _write_metrics(tmp_path / name, [{"iteration": i, "id_accuracy": 0.5, "ood_accuracy": 0.2,
                                              "n_selected": ([0] + kept)[i]} for i in range(len(kept) + 1)])
        for i, n in enumerate(eligible, start=1):
            (d / f"iter_{i:03d}").mkdir()
            (d / f"iter_{i:03d}" / "selection.json").write_text(json.dumps({"metrics": {"n_eligible": n, "after": {}}}))
        return d

    data = write_comparison(tmp_path, [("top_quality", 0, run("tq", [268, 616], [268, 616])),
                                       ("deita", 0, run("de", [150, 300], [268, 616]))])
    final = {r["strategy"]: r for r in data["final"]}
    assert final["top_quality"]["kept_every_eligible"] and not final["deita"]["kept_every_eligible"]
    assert final["deita"]["sel_kept_share"] == pytest.approx((150 / 268 + 300 / 616) / 2)
    md = (tmp_path / "comparison.md").read_text()
    assert md.startswith("Note: top_quality kept every candidate") and "kept / eligible" in md
    assert "Note: top_quality kept every candidate" in ablation_section(tmp_path)
