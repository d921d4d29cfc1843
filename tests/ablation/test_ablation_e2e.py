"""`qdc ablate` end to end: two strategies, one iteration, real training and real Ray; the seed stage
is trained once and shared; a rerun skips both runs; the report renders the comparison."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.ablation.conftest import tiny_ablation
from tests.probe.conftest import qdc, write_recipe

pytestmark = pytest.mark.slow


def test_two_strategies_one_iteration(tmp_path: Path) -> None:
    out = tmp_path / "ablation"
    recipe = write_recipe(tmp_path / "tiny.yaml", tiny_ablation())
    proc = qdc("ablate", str(recipe), "--set", f"run.dir={out}")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.strip().splitlines()[-1] == str(out)
    assert "kcenter/seed_0: iteration 0 copied from top_quality/seed_0" in proc.stderr
    for strategy in ("top_quality", "kcenter"):
        run = out / strategy / "seed_0"
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert [r["iteration"] for r in rows] == [0, 1]
        assert json.loads((run / "manifest.json").read_text())["done"]
        assert f"strategy: {strategy}" in (run / "recipe.yaml").read_text()
    seed_rows = [json.loads((out / s / "seed_0" / "iter_000" / "eval.json").read_text())["row"]
                 for s in ("top_quality", "kcenter")]
    assert seed_rows[0] == seed_rows[1]  # the same seed model, evaluated once
    comparison = json.loads((out / "comparison.json").read_text())
    assert [f["strategy"] for f in comparison["final"]] == ["top_quality", "kcenter"]
    assert {(r["strategy"], r["iteration"]) for r in comparison["rows"]} == {
        ("top_quality", 0), ("top_quality", 1), ("kcenter", 0), ("kcenter", 1)}
    it1 = [r for r in comparison["rows"] if r["iteration"] == 1]
    assert all(r["n_selected"] > 0 and r["sel_vendi"] is not None for r in it1)
    assert "| top_quality |" in (out / "comparison.md").read_text()
    assert json.loads((out / "manifest.json").read_text())["done"]

    again = qdc("ablate", str(recipe), "--set", f"run.dir={out}")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "2 finished, 0 to run" in again.stderr

    report = qdc("report", str(out))
    assert report.returncode == 0, report.stderr[-3000:]
    page = (out / "report.html").read_text()
    assert "Filtering ablation" in page and "top_quality" in page
    pngs = sorted(p.name for p in out.glob("ablation_*.png"))
    assert pngs == ["ablation_curves.png", "ablation_gains.png", "ablation_lengths.png", "ablation_prompt_diversity.png",
                    "ablation_selection.png"]  # per-prompt diversity: the loop measures it every iteration
    assert all((out / p).stat().st_size > 10_000 for p in pngs)
