"""Bad input to the verbs that read recipes, reports and checkpoints: one line `error: <file or field>:
<what>`, exit code 2, nothing left behind (cases of issue 14 that need no Ray)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.loop.conftest import TINY

ROOT = Path(__file__).resolve().parents[1]


def qdc(*args: object, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "system.cli", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, **kw)


def one_line_error(done: subprocess.CompletedProcess[str], *expect: str) -> None:
    assert done.returncode == 2, done.stderr[-3000:]
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    for e in expect:
        assert e in done.stderr, done.stderr


# -- recipes ---------------------------------------------------------------------------------------


def test_a_recipe_that_is_not_utf8(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_bytes(b"name: x\n# caf\xe9\n")
    one_line_error(qdc("config", recipe), f"{recipe}: not UTF-8 text (byte 0xe9 at offset 13)")


def test_a_recipe_nested_too_deeply(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("tint: " + "[" * 100_000 + "]" * 100_000 + "\n")
    one_line_error(qdc("config", recipe), f"{recipe}: nested too deeply")


def test_a_negative_seed_is_refused_by_validation(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: x\nseed: -1\n")
    done = qdc("config", recipe)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "seed: Input should be greater than or equal to 0 (got -1)" in done.stderr


# -- qdc report ------------------------------------------------------------------------------------


def _run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    rows = [{"iteration": i, "id_accuracy": 0.5 + 0.1 * i, "ood_accuracy": 0.1 * i, "output_diversity": 3.0,
             "generate_s": 1.0, "learn_s": 2.0, "wall_s": 4.0} for i in range(3)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (run / "manifest.json").write_text(json.dumps({"recipe": "t", "finished": ["000/learn"], "done": False}, indent=2))
    (run / "recipe.yaml").write_text("name: t\n")
    return run


def test_report_renders_a_good_run(tmp_path: Path) -> None:
    run = _run_dir(tmp_path)
    done = qdc("report", run)
    assert done.returncode == 0, done.stderr
    assert {"report.html", "accuracy.png", "diversity.png", "stage_seconds.png"} <= {p.name for p in run.iterdir()}
    assert not [p for p in run.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("damaged,expect", [("metrics.jsonl", "metrics.jsonl:2: not valid JSON"),
                                            ("manifest.json", "manifest.json: not valid JSON")])
def test_report_on_a_truncated_file_writes_nothing(tmp_path: Path, damaged: str, expect: str) -> None:
    run = _run_dir(tmp_path)
    f = run / damaged
    data = f.read_bytes()
    f.write_bytes(data[: len(data) // 2])
    before = sorted(p.name for p in run.iterdir())
    one_line_error(qdc("report", run), expect)
    assert sorted(p.name for p in run.iterdir()) == before  # no PNG, no report.html, no temp file


# -- checkpoints -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from system.models.config import ModelConfig
    from system.models.factory import build_scratch, save_checkpoint

    model, tokenizer = build_scratch(ModelConfig(hidden=64, layers=2, heads=4, max_positions=128), seed=0)
    return save_checkpoint(model, tokenizer, tmp_path_factory.mktemp("model") / "model")


def test_eval_on_a_truncated_safetensors_file(tiny_model: Path, tmp_path: Path) -> None:
    import shutil

    model = Path(shutil.copytree(tiny_model, tmp_path / "model"))
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    one_line_error(qdc("eval", model, "--task", "sum", "--n", 2), f"{weights}: not a complete safetensors file")


def test_eval_refuses_an_out_inside_the_model_folder(tiny_model: Path) -> None:
    before = sorted(p.name for p in tiny_model.iterdir())
    one_line_error(qdc("eval", tiny_model, "--task", "sum", "--n", 2, "--out", tiny_model / "model.safetensors"),
                   "--out", "lies inside the model folder")
    assert sorted(p.name for p in tiny_model.iterdir()) == before


# -- qdc train --out -------------------------------------------------------------------------------


def _train_recipe(tmp_path: Path) -> Path:
    data = {**TINY, "train": {"max_steps": 5}, "tint": {**TINY["tint"], "eval_size": 4}}
    p = tmp_path / "tiny.yaml"
    p.write_text(yaml.safe_dump(data))
    return p


def _earlier_run(tmp_path: Path) -> Path:
    out = tmp_path / "seed_run"
    (out / "model").mkdir(parents=True)
    (out / "recipe.yaml").write_text("name: earlier\n")
    (out / "model" / "model.safetensors").write_bytes(b"earlier weights")
    return out


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_train_into_an_existing_run_is_refused_without_force(tmp_path: Path) -> None:
    out = _earlier_run(tmp_path)
    before = _snapshot(out)
    one_line_error(qdc("train", _train_recipe(tmp_path), "--out", out), f"--out {out}: is not empty", "--force")
    assert _snapshot(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["seed_run", "tiny.yaml"]


def test_train_force_replaces_nothing_until_the_new_run_finished(tmp_path: Path) -> None:
    out = _earlier_run(tmp_path)
    before = _snapshot(out)
    recipe = _train_recipe(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "system.cli", "train", str(recipe), "--out", str(out), "--force",
                             "--set", "train.max_steps=100000"], cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not list(tmp_path.glob(".seed_run.*/recipe.yaml")):  # the new run is under way, beside the old one
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        assert _snapshot(out) == before
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert _snapshot(out) == before  # a killed run replaced nothing


def test_train_refuses_an_out_that_holds_its_recipe(tmp_path: Path) -> None:
    recipe = _train_recipe(tmp_path)
    one_line_error(qdc("train", recipe, "--out", tmp_path, "--force"), f"holds the input {recipe}")
