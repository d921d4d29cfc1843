"""The closed loop end to end on real Ray actors, real training and real generation (tiny sizes)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.loop.conftest import ROOT, comparable, loop_env, qdc_run

pytestmark = pytest.mark.slow


def read_metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def test_two_iterations_write_the_run_directory_contract(uninterrupted_run: Path) -> None:
    run = uninterrupted_run
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["done"] is True
    assert (run / "recipe.yaml").is_file()
    rows = read_metrics(run)
    assert [r["iteration"] for r in rows] == [0, 1, 2]
    for r in rows:
        for key in ("id_accuracy", "ood_accuracy", "output_diversity", "n_generated", "n_selected", "generate_s",
                    "filter_s", "learn_s", "sync_s", "eval_s", "wall_s"):
            assert key in r, key
        for key in ("distinct_per_prompt", "distinct_answers_per_prompt", "edit_distance_per_prompt"):
            assert 0.0 <= r[key] <= 1.0, key
        assert -1.0 <= r["pass_at_k_gap"] <= 1.0
        assert 0.0 <= r["id_accuracy"] <= 1.0 and r["output_diversity"] > 0
    for i in (1, 2):
        it = run / f"iter_{i:03d}"
        table = pq.read_table(it / "samples.parquet").to_pylist()
        assert len(table) == 24 * 4 == rows[i]["n_generated"]
        assert sum(r["selected"] for r in table) == rows[i]["n_selected"] == 24
        assert all(r["reason"] for r in table) and "quality" in table[0]
        selection = json.loads((it / "selection.json").read_text())
        assert len(selection["indices"]) == 24
        assert (it / "model" / "config.json").is_file() and list((it / "model").glob("*.safetensors"))
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))


def test_the_terminal_shows_progress_and_the_logs_hold_the_libraries_output(uninterrupted_run: Path) -> None:
    stdout = (uninterrupted_run.parent / "terminal.stdout").read_text()
    stderr = (uninterrupted_run.parent / "terminal.stderr").read_text()
    assert stdout.strip() == str(uninterrupted_run)  # the run directory, for scripts
    for text in (stdout, stderr):
        assert "Warning" not in text and "WARNING" not in text and "Traceback" not in text
    assert "iteration 2 ID" in stderr and "logs" in stderr
    logs = uninterrupted_run / "logs"
    names = {p.name for p in logs.glob("*.log")}
    assert {"driver.log", "generator-0.log", "learner-0.log", "filter.log", "prober.log"} <= names
    # the learner's library warnings (DDP/accelerate, DeepSpeed) are in its log, not on the terminal
    assert "Warning" in (logs / "learner-0.log").read_text() or "WARNING" in (logs / "learner-0.log").read_text()


def test_report_renders(uninterrupted_run: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "system.cli", "report", str(uninterrupted_run)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    html = (uninterrupted_run / "report.html").read_text()
    for png in ("accuracy.png", "diversity.png", "stage_seconds.png"):
        assert png in html and (uninterrupted_run / png).stat().st_size > 10_000


def test_kill_9_during_learning_then_resume_gives_identical_metrics(tiny_recipe: Path, uninterrupted_run: Path,
                                                                     tmp_path: Path) -> None:
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "system.cli", "run", str(tiny_recipe), "--set", f"run.dir={out}"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=loop_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    manifest = out / "manifest.json"
    deadline = time.monotonic() + 600
    try:
        while time.monotonic() < deadline:
            if manifest.is_file() and "001/filter" in json.loads(manifest.read_text())["finished"]:
                break
            assert proc.poll() is None, "the run ended before it reached iteration 1's learning"
            time.sleep(0.05)
        time.sleep(0.5)  # well inside learning (40 steps take seconds)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    finished = json.loads(manifest.read_text())["finished"]
    assert "001/filter" in finished and "001/learn" not in finished
    resumed = qdc_run(tiny_recipe, "--set", f"run.dir={out}", "--resume")
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert comparable(read_metrics(out)) == comparable(read_metrics(uninterrupted_run))


def test_a_new_run_never_writes_into_a_used_directory(tiny_recipe: Path, uninterrupted_run: Path) -> None:
    proc = qdc_run(tiny_recipe, "--set", f"run.dir={uninterrupted_run}")
    assert proc.returncode == 2 and "not empty" in proc.stderr


def test_resume_refuses_a_different_recipe(tiny_recipe: Path, uninterrupted_run: Path) -> None:
    proc = qdc_run(tiny_recipe, "--set", f"run.dir={uninterrupted_run}", "--set", "seed=1", "--resume")
    assert proc.returncode == 2 and "differs" in proc.stderr


def test_malformed_recipe_fails_before_ray_starts(tiny_recipe: Path, tmp_path: Path) -> None:
    proc = qdc_run(tiny_recipe, "--set", f"run.dir={tmp_path / 'r'}", "--set", "loop.iterations=-1")
    assert proc.returncode == 2
    assert "loop.iterations" in proc.stderr and "greater than or equal to 0" in proc.stderr
    assert "Started a local Ray instance" not in proc.stderr + proc.stdout
    assert not (tmp_path / "r").exists()


def test_the_stage_breakdown_benchmark_reads_a_finished_run(uninterrupted_run: Path) -> None:
    proc = subprocess.run([sys.executable, "benchmarks/loop_overhead.py", str(uninterrupted_run)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout)
    rows = read_metrics(uninterrupted_run)
    assert figures["seed_stage"]["learn_s"] == rows[0]["learn_s"] > 0
    assert figures["run_wall_s"] == round(sum(r["wall_s"] for r in rows), 3)
    assert figures["stage_totals_s"]["generate_s"] == round(sum(r["generate_s"] for r in rows), 3) > 0
    assert [r["iteration"] for r in figures["per_iteration"]] == [1, 2]


def test_the_seed_spread_benchmark_summarises_runs_and_draws_them(uninterrupted_run: Path, tmp_path: Path) -> None:
    figure = tmp_path / "spread.png"
    proc = subprocess.run([sys.executable, "benchmarks/seed_spread.py", str(uninterrupted_run), str(uninterrupted_run),
                           "--level", "3", "--plot", str(figure)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    rows = read_metrics(uninterrupted_run)
    assert summary["iterations"] == 2 and len(summary["per_iteration"]) == 3
    last = summary["per_iteration"][2]["ood"]
    assert last["mean"] == last["min"] == last["max"] == round(rows[2]["ood_accuracy"], 4) and last["std"] == 0.0
    gain = summary["gain_last_vs_seed_model"]["id"]
    assert gain["per_run"] == [round(rows[2]["id_accuracy"] - rows[0]["id_accuracy"], 4)] * 2
    assert figure.stat().st_size > 10_000
