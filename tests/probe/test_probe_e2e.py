"""`qdc probe` end to end with real training and real Ray: a 2-cell grid, a rerun that skips both
cells, and the report; the prompt and filter probes' cells with real training, in process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from system.config import validate_recipe
from system.probe.cells import dependencies, plan_cells, run_cell
from system.probe.results import ProbeDir, read_summary
from tests.probe.conftest import qdc, tiny_probe, write_recipe

pytestmark = pytest.mark.slow


def test_two_cell_grid_then_rerun_skips_then_report(tmp_path: Path) -> None:
    """A clean and a noised cell plus one learning-curve point of the clean cell (10 steps); 20 steps
    are far from converged, so the probe says the results are under-trained."""
    out = tmp_path / "probe"
    recipe = write_recipe(tmp_path / "tiny.yaml", tiny_probe(finetune={"curve_points": [0.5]}))
    first = qdc("probe", str(recipe), "--set", f"run.dir={out}")
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stdout.strip().splitlines()[-1] == str(out)  # Ray forwards worker logs above it
    assert "3 cells, 0 already finished, 3 to run" in first.stderr
    assert "WARNING: UNDER-TRAINED" in first.stderr
    cells = sorted((out / "cells").glob("*.json"))
    assert len(cells) == 3
    results = {json.loads(f.read_text())["cell"]["probe"] + str(json.loads(f.read_text())["cell"]["noise"]):
               json.loads(f.read_text())["result"] for f in cells}
    assert results["finetune_curvenone"]["train"]["steps"] == 10
    assert results["finetunenone"]["train"]["steps"] == results["finetunestatic"]["train"]["steps"] == 20
    for result in results.values():
        assert set(result["eval"]) == {"id", "ood_length"} and result["eval"]["id"]["n"] == 12
    assert (results["finetunenone"]["n_noised"], results["finetunestatic"]["n_noised"]) == (0, 640)
    mtimes = {f.name: f.stat().st_mtime_ns for f in cells}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["done"] and len(manifest["finished"]) == 3
    assert read_summary(out)["convergence"]["status"] == "under-trained"

    again = qdc("probe", str(recipe), "--set", f"run.dir={out}")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "3 cells, 3 already finished, 0 to run" in again.stderr
    assert "WARNING: UNDER-TRAINED" in again.stderr
    assert {f.name: f.stat().st_mtime_ns for f in (out / "cells").glob("*.json")} == mtimes

    report = qdc("report", str(out))
    assert report.returncode == 0, report.stderr[-3000:]
    page = (out / "report.html").read_text()
    assert "Noise-robustness probes" in page and "Fine-tune probe (under-trained)" in page
    assert "UNDER-TRAINED" in page and "Learning curve of the clean cell" in page and "static_draw: uniform" in page
    assert (out / "probe_finetune_max_learning_curve.png").is_file()
    pngs = sorted(out.glob("probe_*.png"))
    assert len(pngs) >= 4 and all(p.stat().st_size > 10_000 for p in pngs)
    for p in pngs:
        assert f'src="{p.name}"' in page


def test_prompt_and_filter_cells_in_process(tmp_path: Path) -> None:
    recipe = validate_recipe(tiny_probe(probes=["prompt", "filter"], filter={"strategies": ["top_quality"],
                                                                              "pool_size": 120, "steps": 10}))
    out = ProbeDir(tmp_path)
    cells = plan_cells(recipe)
    for cell in cells:  # plan order: the base model before the prompt cells that need it
        deps = {d.id: out.result(d) for d in dependencies(recipe, cell)}
        out.write_result(cell, run_cell(recipe, cell, tmp_path, deps))
    summary = out.write_state(cells)
    assert json.loads((tmp_path / "manifest.json").read_text())["done"]
    base = next(c for c in cells if c.probe == "prompt_base")
    assert (tmp_path / out.result(base)["model_dir"] / "config.json").is_file()
    prompt_rows = [r for r in summary["rows"] if r["probe"] == "prompt"]
    # the clean cell, the noised one, and the clean cell's two baselines
    assert {(r["noise"], r["contamination"]) for r in prompt_rows} == {("none", 0.0), ("static", 1.0),
                                                                        ("zero_shot", 0.0), ("wrong_task", 0.0)}
    (filter_row, *_) = [r for r in summary["rows"] if r["probe"] == "filter"]
    # the verifier-based quality sees every dynamic error: top_quality keeps none of them
    assert filter_row["kept_rate_dynamic"] == 0.0 and filter_row["kept_rate_none"] > 0.9
    assert read_summary(tmp_path) == summary


def test_filter_cells_without_training_report_kept_rates_in_one_panel(tmp_path: Path) -> None:
    from matplotlib.image import imread

    from system.probe.plots import filter_bars

    recipe = validate_recipe(tiny_probe(probes=["filter"], filter={"strategies": ["top_quality", "kcenter"],
                                                                    "pool_size": 120, "train": False}))
    out = ProbeDir(tmp_path)
    cells = plan_cells(recipe)
    for cell in cells:
        out.write_result(cell, run_cell(recipe, cell, tmp_path, {}))
    summary = out.write_state(cells)
    rows = summary["rows"]
    assert len(rows) == 2 and all("accuracy" not in r for r in rows)  # selection only: nothing trained
    kept = {r["strategy"]: r for r in rows}
    assert kept["top_quality"]["kept_rate_dynamic"] == 0.0 and kept["kcenter"]["kept_rate_dynamic"] > 0.0
    height, width = imread(filter_bars(summary["means"], "max", tmp_path / "filter.png")).shape[:2]
    assert width / height < 1.9  # the kept-rate panel alone, no empty accuracy panel beside it
