"""Confidence intervals (bootstrap over prompts and seeds; t over seeds) and the convergence check of the clean cell."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from system.config import validate_recipe
from system.probe.cells import Cell, plan_cells, run_cell
from system.probe.convergence import UNDER_TRAINED, check_convergence, warn_if_under_trained
from system.probe.results import ProbeDir, aggregate, flatten
from system.stats import bootstrap_mean_ci, t_interval
from tests.probe.conftest import tiny_probe


def test_bootstrap_over_prompts_matches_the_normal_interval() -> None:
    rng = np.random.default_rng(1)
    scores = (rng.random(400) < 0.3).astype(float)
    lo, hi = bootstrap_mean_ci([scores])
    half = 1.96 * np.sqrt(scores.mean() * (1 - scores.mean()) / len(scores))
    assert lo < scores.mean() < hi
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.15)
    assert bootstrap_mean_ci([scores]) == (lo, hi)  # seeded: the same interval every time
    assert bootstrap_mean_ci([np.ones(50), np.ones(50)]) == (1.0, 1.0)


def test_seed_to_seed_spread_widens_the_interval() -> None:
    rng = np.random.default_rng(2)
    same = [(rng.random(200) < 0.6).astype(float) for _ in range(3)]
    spread = [(rng.random(200) < p).astype(float) for p in (0.3, 0.6, 0.9)]
    width = [hi - lo for lo, hi in (bootstrap_mean_ci(same), bootstrap_mean_ci(spread))]
    assert width[1] > 2 * width[0]
    # prompt sets of different sizes are resampled each on its own
    lo, hi = bootstrap_mean_ci([np.ones(10), np.zeros(30)])
    assert 0.0 <= lo < 0.5 < hi <= 1.0


def test_one_value_per_seed_gets_a_t_interval_wider_than_the_seeds_range() -> None:
    """Three seeds 0.2, 0.4, 0.6: mean 0.4, sd 0.2, t(0.975, 2) = 4.303, half-width 0.497."""
    assert t_interval([0.5]) is None
    lo, hi = t_interval([0.2, 0.4, 0.6])  # type: ignore[misc]
    assert (lo, hi) == pytest.approx((0.4 - 0.4968, 0.4 + 0.4968), abs=1e-3)
    assert t_interval([0.2, 0.4, 0.6], bounds=(0.0, 1.0)) == pytest.approx((0.0, 0.8968), abs=1e-3)
    assert t_interval([0.7, 0.7, 0.7]) == pytest.approx((0.7, 0.7))


def test_aggregate_gives_intervals_from_per_prompt_scores() -> None:
    rows = []
    for seed, correct in ((0, [1, 1, 0, 1] * 25), (1, [1, 0, 0, 1] * 25)):
        cell = Cell("finetune", "max", seed, "static", 0.5, 0.3, fingerprint="x")
        per_prompt = {"accuracy": correct, "steps_valid": [1.0] * 100, "valid_trace": correct}
        rows += flatten(cell, {"train": {"steps": 20}, "eval": {"id": {
            "accuracy": sum(correct) / 100, "steps_valid": 1.0, "valid_trace": sum(correct) / 100,
            "per_prompt": per_prompt}}})
    (mean,) = aggregate(rows)
    acc = mean["accuracy"]
    assert acc["mean"] == pytest.approx(0.625) and acc["ci_low"] < 0.625 < acc["ci_high"]
    assert mean["steps"] == 20 and mean["steps_valid"]["ci_low"] == mean["steps_valid"]["ci_high"] == 1.0


def test_aggregate_gives_seed_only_metrics_a_t_interval_within_their_range() -> None:
    """Kept rates have no per-prompt scores: their interval is over seeds, clipped to 0-1."""
    rows = []
    for seed, kept in ((0, 0.0), (1, 0.0), (2, 0.03)):
        cell = Cell("filter", "max", seed, "dynamic", 0.5, 0.2, strategy="qdit", fingerprint="x")
        rows += flatten(cell, {"keep": {"dynamic": {"kept_rate": kept, "share_of_selection": kept / 2}},
                               "n_selected": 100, "selection_metrics": {"vendi": 3.0 + seed}})
    (mean,) = aggregate(rows)
    kept = mean["kept_rate_dynamic"]
    assert kept["ci_low"] == 0.0 and kept["ci_high"] == pytest.approx(0.01 + 4.303 * 0.01732 / 3 ** 0.5, abs=1e-3)
    vendi = mean["selection_vendi"]
    assert vendi["ci_low"] == pytest.approx(4.0 - 2.484, abs=1e-3) and vendi["ci_high"] == pytest.approx(6.484, abs=1e-3)


def _clean_rows(accuracies: dict[int, float]) -> tuple[list[Cell], list[dict]]:
    cells = [Cell("finetune", "max", seed, fingerprint="f") for seed in accuracies]
    rows = [{"probe": "finetune", "task": "max", "seed": seed, "noise": "none", "cell": cell.id, "split": "id",
             "accuracy": acc, "steps": 500} for (seed, acc), cell in zip(accuracies.items(), cells)]
    return cells, rows


def test_the_convergence_check_needs_every_seed() -> None:
    cells, rows = _clean_rows({0: 0.99, 1: 0.74})
    verdict = check_convergence(cells, rows, 0.95)
    assert verdict["status"] == UNDER_TRAINED and [e["seed"] for e in verdict["below"]] == [1]
    stream = io.StringIO()
    assert warn_if_under_trained({"convergence": verdict}, stream)
    assert "UNDER-TRAINED" in stream.getvalue() and "0.740 (max, seed 1) after 500 steps" in stream.getvalue()
    assert check_convergence(cells, rows, 0.7)["status"] == "converged"
    assert check_convergence(cells, rows[:1], 0.7)["status"] == "incomplete"
    assert check_convergence([], rows, 0.7)["status"] == "unchecked"


def test_a_tiny_probe_is_flagged_under_trained(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """20 optimizer steps on `max`: the clean cell is nowhere near 0.95, and the probe says so."""
    recipe = validate_recipe(tiny_probe(grid={"contaminations": [0.0]}))
    (cell,) = plan_cells(recipe)
    out = ProbeDir(tmp_path, recipe.probe.finetune.converged_accuracy)
    result = run_cell(recipe, cell, tmp_path, {})
    assert len(result["eval"]["id"]["per_prompt"]["accuracy"]) == 12
    out.write_result(cell, result)
    summary = out.write_state([cell])
    assert warn_if_under_trained(summary)
    assert "WARNING: UNDER-TRAINED" in capsys.readouterr().err
    written = json.loads((tmp_path / "probe.json").read_text())
    assert written["convergence"]["status"] == UNDER_TRAINED
    assert written["convergence"]["below"][0]["accuracy"] < 0.95
    assert all("_per_prompt" not in r for r in written["rows"])
