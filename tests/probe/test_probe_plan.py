"""The probe section and the cell plan: validated early, one shared clean cell, content-named cells."""

from __future__ import annotations

import pytest

from system.config import RecipeError, validate_recipe
from system.probe.cells import Cell, plan_cells
from system.probe.filtering import candidate_pool, keep_stats, noise_kind
from system.probe.prompting import few_shot
from system.probe.results import aggregate, flatten
from tests.probe.conftest import TINY_PROBE, tiny_probe

TINY_GRID = TINY_PROBE["probe"]["grid"]


def recipe(**probe):
    return validate_recipe(tiny_probe(**probe))


def test_grid_has_one_clean_cell_per_task_and_seed() -> None:
    r = recipe(grid={"kinds": ["static", "dynamic"], "contaminations": [0.0, 0.5, 1.0],
                     "static_intensities": [0.3, 0.9], "dynamic_intensities": [0.2]}, seeds=[0, 1])
    cells = plan_cells(r)
    # (1 clean + 2 contaminations x (2 static + 1 dynamic intensities)) x 2 seeds
    assert len(cells) == (1 + 2 * 3) * 2
    assert sum(c.noise == "none" for c in cells) == 2
    assert len({c.id for c in cells}) == len(cells)


def test_every_grid_cell_has_the_clean_cells_budget_and_the_curve_has_its_own() -> None:
    r = recipe(seeds=[0, 1], finetune={"train_size": 640, "steps": 20, "curve_points": [0.25, 0.5, 0.99]},
               grid={"kinds": ["static", "dynamic", "static_line"], "contaminations": [0.0, 1.0],
                     "static_intensities": [0.6], "dynamic_intensities": [0.2], "line_intensities": [0.3, 0.6]})
    cells = plan_cells(r)
    grid = [c for c in cells if c.probe == "finetune"]
    assert all(c.steps is None for c in grid)  # the probe's one budget: probe.finetune.steps
    assert len(grid) == (1 + 1 + 1 + 2) * 2
    assert {c.intensity for c in grid if c.noise == "static_line"} == {0.3, 0.6}
    curve = [c for c in cells if c.probe == "finetune_curve"]
    assert sorted({c.steps for c in curve}) == [5, 10]  # 0.99 * 20 rounds to the full budget: the clean cell
    assert all(c.noise == "none" and c.name.endswith(f"-t{c.steps}-s{c.seed}") for c in curve)
    first = plan_cells(recipe(seeds=[0, 1], finetune={"train_size": 640, "steps": 20, "curve_points": [0.25, 0.5],
                                                      "curve_seeds": [1]}, grid=r.probe.grid.model_dump()))
    assert {c.seed for c in first if c.probe == "finetune_curve"} == {1}
    assert {c.id for c in first if c.probe == "finetune"} == {c.id for c in grid}  # same cells, same ids
    spec = r.probe.grid.noise_spec("static_line", 1.0, 0.3)
    assert (spec.kind, spec.static_variant) == ("static", "line")
    assert r.probe.grid.noise_spec("static", 1.0, 0.3).static_draw == "uniform"
    assert r.probe.grid.noise_spec("dynamic", 1.0, 0.3).dynamic_unit == "digit"


def test_noise_definition_is_part_of_cell_ids_but_the_convergence_bar_is_not() -> None:
    base = {c.name: c.id for c in plan_cells(recipe(finetune={"train_size": 640, "steps": 20, "curve_points": [0.5]}))}
    bar = {c.name: c.id for c in plan_cells(recipe(finetune={"train_size": 640, "steps": 20, "curve_points": [0.5],
                                                             "converged_accuracy": 0.5}))}
    assert bar == base
    for grid in ({"static_draw": "different"}, {"dynamic_unit": "step"}):
        other = {c.name: c.id for c in plan_cells(recipe(finetune={"train_size": 640, "steps": 20,
                                                                   "curve_points": [0.5]},
                                                         grid={**TINY_GRID, **grid}))}
        assert other.keys() == base.keys() and all(other[k] != base[k] for k in base)


def test_cell_ids_change_with_what_the_result_depends_on() -> None:
    a = {c.name: c.id for c in plan_cells(recipe())}
    b = {c.name: c.id for c in plan_cells(recipe(finetune={"train_size": 640, "steps": 21}))}
    c = {c.name: c.id for c in plan_cells(recipe(cell_timeout_s=5))}
    assert a.keys() == b.keys() and all(a[k] != b[k] for k in a)
    assert a == c  # timeouts and placement do not change results


def test_prompt_and_filter_plans() -> None:
    r = recipe(probes=["prompt", "filter"], seeds=[0, 1], prompt={"base_tasks": ["max", "min"], "shots": 2})
    cells = plan_cells(r)
    kinds = [c.probe for c in cells]
    assert kinds.count("prompt_base") == 2 and kinds.count("filter") == 4 and kinds.count("prompt") == 4
    assert kinds.index("prompt_base") < kinds.index("prompt")  # dependencies first


@pytest.mark.parametrize("override,words", [
    ({"grid": {"contaminations": [0.0, 1.5]}}, "contaminations"),
    ({"grid": {"static_intensities": [0.0]}}, "clean cell"),
    ({"filter": {"strategies": ["best"]}}, "unknown selection strategy"),
    ({"filter": {"static_share": 0.7, "dynamic_share": 0.5}}, "static_share + dynamic_share"),
    ({"prompt": {"separator": " ; "}}, "vocabulary"),
    ({"tasks": ["fly"]}, "unknown TInt task"),
    ({"seeds": [1, 1]}, "repeated seeds"),
    ({"grid": {"static_draw": "gaussian"}}, "static_draw"),
    ({"grid": {"dynamic_unit": "bit"}}, "dynamic_unit"),
    ({"grid": {"kinds": ["static", "static_line"], "static_variant": "line"}}, "same noise"),
    ({"finetune": {"curve_points": [0.5, 1.0]}}, "curve points"),
    ({"finetune": {"curve_seeds": [7]}}, "curve_seeds"),
    ({"finetune": {"converged_accuracy": 1.5}}, "converged_accuracy"),
])
def test_bad_probe_sections_name_the_field(override: dict, words: str) -> None:
    with pytest.raises(RecipeError) as err:
        recipe(**override)
    assert "probe." in str(err.value) and words in str(err.value)


def test_prompt_probe_needs_its_task_in_the_base_mix() -> None:
    from system.errors import QdcError

    with pytest.raises(QdcError, match="base_tasks"):
        plan_cells(recipe(probes=["prompt"], prompt={"base_tasks": ["min"]}))


def test_few_shot_hides_the_task_name() -> None:
    r = recipe()
    a, b, q = ({"prompt": "max 3 9 =", "completion": " 9>3=1 #9"}, {"prompt": "max 5 1 =", "completion": " 1>5=0 #5"},
               {"prompt": "max 2 7 4 =", "completion": " 7>2=1 4>7=0 #7"})
    rec = few_shot([a, b], q, r.probe.prompt)
    assert rec == {"prompt": "3 9 = 9>3=1 #9 ! 5 1 = 1>5=0 #5 ! 2 7 4 =", "completion": " 7>2=1 4>7=0 #7"}
    shown = few_shot([a], q, r.probe.prompt.model_copy(update={"hide_task": False}))
    assert shown["prompt"].startswith("max 3 9 =") and shown["prompt"].endswith("max 2 7 4 =")


def test_candidate_pool_mixes_noise_kinds_as_asked() -> None:
    r = recipe(filter={"pool_size": 200, "static_share": 0.25, "dynamic_share": 0.1})
    pool = candidate_pool(r, "max", seed=3)
    kinds = [noise_kind(p) for p in pool]
    assert (kinds.count("none"), kinds.count("static"), kinds.count("dynamic")) == (130, 50, 20)
    stats = keep_stats(pool, [i for i, k in enumerate(kinds) if k != "dynamic"][:100])
    assert stats["dynamic"]["kept"] == 0 and stats["dynamic"]["kept_rate"] == 0.0
    assert stats["none"]["kept"] + stats["static"]["kept"] == 100


def test_means_over_seeds() -> None:
    from system.probe.cells import Cell

    rows = []
    for seed, acc in ((0, 0.5), (1, 0.7)):
        cell = Cell("finetune", "max", seed, "static", 0.5, 0.3, fingerprint="x")
        rows += flatten(cell, {"eval": {"id": {"accuracy": acc, "steps_valid": 1.0, "valid_trace": 0.5}}})
    (mean,) = aggregate(rows)
    assert mean["seeds"] == [0, 1] and mean["accuracy"]["n"] == 2
    assert mean["accuracy"]["mean"] == pytest.approx(0.6) and mean["accuracy"]["std"] == pytest.approx(0.1414, abs=1e-3)


def test_base_training_mixes_shot_counts_and_can_have_its_own_model() -> None:
    from system.probe.prompting import base_recipe, base_training_set

    r = recipe(probes=["prompt"], prompt={"base_tasks": ["max", "min", "sum"], "shots": 3, "min_shots": 0,
                                          "base_train_size": 300,
                                          "model": {"hidden": 128, "layers": 4, "heads": 4, "max_positions": 512}})
    data = base_training_set(r, seed=0)
    assert len(data) == 300
    shots = [row["prompt"].count(" ! ") for row in data]  # exemplars, each followed by a separator
    assert set(shots) == {0, 1, 2, 3}  # zero-shot sequences too
    base = base_recipe(r)
    assert (base.model.hidden, base.model.layers, base.learner.max_length) == (128, 4, 512)
    assert base_recipe(recipe()).model == recipe().model  # no override: the recipe's own model
    cells = {c.probe: c for c in plan_cells(r)}
    other = {c.probe: c for c in plan_cells(recipe(probes=["prompt"], prompt={"base_tasks": ["max", "min", "sum"],
                                                                              "shots": 3, "min_shots": 0,
                                                                              "base_train_size": 300}))}
    assert cells["prompt_base"].id != other["prompt_base"].id  # the base model's size is part of its id


def test_baseline_prompts_have_no_exemplars_or_another_tasks() -> None:
    from system.probe.prompting import prompts_for
    from system.probe.training import clean_eval_sets
    from system.tint import parse

    r = recipe(probes=["prompt"], prompt={"base_tasks": ["max", "min"], "shots": 2})
    queries = clean_eval_sets(r, "max", ["id"])["id"]
    cell = Cell("prompt", "max", 0, fingerprint="x")
    zero = prompts_for(r, cell, "id", queries, "zero_shot")
    assert zero == [q["prompt"].split(" ", 1)[1] for q in queries]
    wrong = prompts_for(r, cell, "id", queries, "wrong_task")
    for prompt in wrong:
        *exemplars, query = prompt.split(" ! ")
        assert len(exemplars) == 2
        for e in exemplars:
            inputs, trace = e.split(" =", 1)
            assert parse(trace).answer == (min(int(v) for v in inputs.split()),)  # min exemplars for a max query


@pytest.mark.parametrize("prompt,words", [
    ({"min_shots": 4, "shots": 3}, "min_shots"),
    ({"base_tasks": ["max"], "baselines": ["wrong_task"]}, "two base_tasks"),
    ({"baselines": ["no_task"]}, "baselines"),
])
def test_bad_prompt_probe_sections(prompt: dict, words: str) -> None:
    with pytest.raises(RecipeError) as err:
        recipe(prompt=prompt)
    assert "probe.prompt" in str(err.value) and words in str(err.value)


def test_the_prompt_probe_can_query_tasks_of_its_own() -> None:
    from system.errors import QdcError

    r = recipe(probes=["finetune", "prompt"], tasks=["max", "sum"],
               prompt={"tasks": ["max"], "base_tasks": ["max", "min"]})
    cells = plan_cells(r)
    assert {c.task for c in cells if c.probe == "prompt"} == {"max"}
    assert {c.task for c in cells if c.probe == "finetune"} == {"max", "sum"}
    with pytest.raises(QdcError, match="probe.prompt.tasks"):
        plan_cells(recipe(probes=["prompt"], tasks=["max", "sum"], prompt={"base_tasks": ["max", "min"]}))
