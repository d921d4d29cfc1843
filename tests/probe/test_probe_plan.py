"""The probe section and the cell plan: validated early, one shared clean cell, content-named cells."""

from __future__ import annotations

import pytest

from system.config import RecipeError, validate_recipe
from system.probe.cells import plan_cells
from system.probe.filtering import candidate_pool, keep_stats, noise_kind
from system.probe.prompting import few_shot
from system.probe.results import aggregate, flatten
from tests.probe.conftest import tiny_probe


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
