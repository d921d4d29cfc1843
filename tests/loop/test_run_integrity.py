"""`qdc run` on a damaged, locked or unusable run directory, and the local Ray it starts (issue 14).

A damaged run is refused before Ray starts, naming the file and the stage to redo, or rolled back by
`--resume --repair`; a second run on a locked directory is refused naming the holder; the local Ray
listens on loopback only and none of its processes outlives a kill -9 of the driver by 30 s.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from system.store import RunDir, RunDirError
from tests.loop.conftest import ROOT, TINY, comparable, loop_env, qdc_run

RAY_STARTED = "Started a local Ray instance"


def one_line_error(proc: subprocess.CompletedProcess, *expect: str) -> None:
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    for e in expect:
        assert e in proc.stderr, proc.stderr


def read_metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


# -- run.dir that cannot be used (no Ray) ----------------------------------------------------------


def test_run_dir_that_is_a_file(tiny_recipe: Path, tmp_path: Path) -> None:
    target = tmp_path / "afile"
    target.write_text("not a folder\n")
    one_line_error(qdc_run(tiny_recipe, "--set", f"run.dir={target}"), f"run.dir {target}: is a file")
    one_line_error(qdc_run(tiny_recipe, "--set", f"run.dir={target}", "--resume"), f"{target}: run.dir is a file")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"] and target.read_text() == "not a folder\n"


def _make_read_only(folder: Path) -> list[str]:
    """Commands that undo it. chmod does not stop root, an immutable folder does."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return [f"chmod 755 {folder}"]
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("running as root where `chattr +i` is not allowed: no way to make a folder read-only")
    return [f"chattr -i {folder}"]


def test_run_dir_in_a_read_only_folder(tiny_recipe: Path, tmp_path: Path) -> None:
    parent = tmp_path / "ro"
    parent.mkdir()
    undo = _make_read_only(parent)
    try:
        proc = qdc_run(tiny_recipe, "--set", f"run.dir={parent / 'run'}")
        one_line_error(proc, f"run.dir {parent / 'run'}: cannot be written")
        assert list(parent.iterdir()) == [] and RAY_STARTED not in proc.stderr
    finally:
        for cmd in undo:
            subprocess.run(cmd.split(), check=True)


def test_no_silent_fallback_to_an_older_checkpoint(tmp_path: Path) -> None:
    from system.config import validate_recipe
    from system.loop.artifacts import latest_model

    run = RunDir.create(tmp_path / "run", "x", "tiny")
    for i in (0, 1):
        model = run.path / f"iter_{i:03d}" / "model"
        model.mkdir(parents=True)
        (model / "config.json").write_text("{}")
        (model / "model.safetensors").write_bytes(b"w")
        (run.path / f"iter_{i:03d}" / "learn.json").write_text("{}")
        run.mark_done(f"{i:03d}/learn")
    recipe = validate_recipe(TINY)
    assert latest_model(run, recipe) == run.path / "iter_001" / "model"
    (run.path / "iter_001" / "model" / "model.safetensors").unlink()
    with pytest.raises(RunDirError, match="iter_001/model: the checkpoint of finished stage 001/learn is missing"):
        latest_model(run, recipe)
    shutil.rmtree(run.path / "iter_001" / "model")
    (run.path / "iter_001" / "learn.json").write_text('{"skipped": "3 selected < loop.min_train_records"}')
    assert latest_model(run, recipe) == run.path / "iter_000" / "model"  # that stage trained nothing


def test_a_second_ablation_on_a_locked_ablation_directory_is_refused(tmp_path: Path) -> None:
    from system.integrity import RunLock
    from tests.ablation.conftest import tiny_ablation

    root = tmp_path / "ablation"
    recipe = tmp_path / "abl.yaml"
    recipe.write_text(yaml.safe_dump({**tiny_ablation(), "run": {"dir": str(root)}}))
    with RunLock(root, "ablation directory"):  # as a running `qdc ablate` holds it
        proc = subprocess.run([sys.executable, "-m", "system.cli", "ablate", str(recipe)], cwd=ROOT, env=loop_env(),
                              capture_output=True, text=True, timeout=300)
    one_line_error(proc, f"{root}: ablation directory in use by pid {os.getpid()} on host {socket.gethostname()}")
    assert RAY_STARTED not in proc.stderr + proc.stdout and [p.name for p in root.iterdir()] == [".lock"]


# -- resuming a damaged run ------------------------------------------------------------------------


def copy_run(src: Path, dst: Path, recipe: Path) -> Path:
    """A copy of a finished run whose recipe.yaml names the copy's own run.dir (as `qdc run` writes it)."""
    shutil.copytree(src, dst)
    cfg = subprocess.run([sys.executable, "-m", "system.cli", "config", str(recipe), "--set", f"run.dir={dst}"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    (dst / "recipe.yaml").write_text(cfg.stdout)
    return dst


def _truncate(f: Path) -> None:
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])


DAMAGE = {
    "deleted model": (lambda r: (r / "iter_000/model/model.safetensors").unlink(),
                      ["iter_000/model/model.safetensors: missing", "finished stage 000/learn", "--resume --repair"]),
    "truncated model": (lambda r: _truncate(r / "iter_001/model/model.safetensors"),
                        ["iter_001/model/model.safetensors:", "(truncated or replaced)", "finished stage 001/learn"]),
    "truncated samples": (lambda r: _truncate(r / "iter_002/samples.parquet"),
                          ["iter_002/samples.parquet:", "finished stage 002/filter"]),
    "truncated manifest": (lambda r: _truncate(r / "manifest.json"), ["manifest.json: not valid JSON"]),
    "missing recipe": (lambda r: (r / "recipe.yaml").unlink(), ["recipe.yaml: missing"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", list(DAMAGE))
def test_resume_of_a_damaged_run_is_refused_before_ray_starts(tiny_recipe: Path, uninterrupted_run: Path,
                                                                tmp_path: Path, case: str) -> None:
    run = copy_run(uninterrupted_run, tmp_path / "run", tiny_recipe)
    damage, expect = DAMAGE[case]
    damage(run)
    before = {p.relative_to(run).as_posix(): p.read_bytes() for p in run.rglob("*") if p.is_file()}
    proc = qdc_run(tiny_recipe, "--set", f"run.dir={run}", "--resume")
    one_line_error(proc, *expect)
    assert RAY_STARTED not in proc.stderr + proc.stdout
    after = {p.relative_to(run).as_posix(): p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert {k: v for k, v in after.items() if k != ".lock"} == {k: v for k, v in before.items() if k != ".lock"}


@pytest.mark.slow
def test_repair_rolls_back_to_the_last_intact_stage_and_finishes(tiny_recipe: Path, uninterrupted_run: Path,
                                                                  tmp_path: Path) -> None:
    from system.integrity import find_damage

    run = copy_run(uninterrupted_run, tmp_path / "run", tiny_recipe)
    _truncate(run / "iter_001" / "model" / "model.safetensors")
    proc = qdc_run(tiny_recipe, "--set", f"run.dir={run}", "--resume", "--repair")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "--repair:" in proc.stderr and "resuming from 001/learn" in proc.stderr
    manifest = RunDir(run).manifest()
    assert manifest["done"] is True and find_damage(run, manifest) is None
    assert comparable(read_metrics(run)) == comparable(read_metrics(uninterrupted_run))  # the same run, redone


# -- a live local run: loopback only, one holder, nothing left after kill -9 ------------------------


@pytest.fixture(scope="module")
def live_run(tmp_path_factory: pytest.TempPathFactory):
    """A long `qdc run` with the CLI's own Ray defaults (no RAY_AUTH_MODE, no loopback switch set),
    once its seed iteration has finished and every actor is up."""
    tmp = tmp_path_factory.mktemp("live")
    recipe = tmp / "tiny.yaml"
    recipe.write_text(yaml.safe_dump({**TINY, "loop": {**TINY["loop"], "iterations": 50}}))
    run = tmp / "run"
    env = loop_env()
    for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"):
        env.pop(key, None)
    proc = subprocess.Popen([sys.executable, "-m", "system.cli", "run", str(recipe), "--set", f"run.dir={run}"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 600
    try:
        while not ((run / "manifest.json").is_file() and "000/eval" in RunDir(run).manifest()["finished"]):
            assert proc.poll() is None, "the run ended before its seed iteration finished"
            assert time.monotonic() < deadline
            time.sleep(0.2)
        yield proc, recipe, run
    finally:
        leftovers = []
        try:
            leftovers = psutil.Process(proc.pid).children(recursive=True)
        except psutil.Error:
            pass
        for p in leftovers:
            try:
                p.kill()
            except psutil.Error:
                pass
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _is_loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip.split("%")[0])
    return (getattr(addr, "ipv4_mapped", None) or addr).is_loopback


@pytest.mark.slow
def test_a_local_run_listens_on_loopback_only(live_run) -> None:
    proc, _, _ = live_run
    driver = psutil.Process(proc.pid)
    pids = {proc.pid} | {p.pid for p in driver.children(recursive=True)}
    listening = [(c.laddr.ip, c.laddr.port, c.pid) for c in psutil.net_connections(kind="inet")
                 if c.status == psutil.CONN_LISTEN and c.pid in pids]
    assert len(listening) >= 5  # GCS, raylet, workers, agents: the check sees Ray's servers
    assert [s for s in listening if not _is_loopback(s[0])] == []


@pytest.mark.slow
def test_a_second_run_on_a_locked_directory_is_refused_naming_the_holder(live_run) -> None:
    proc, recipe, run = live_run
    second = qdc_run(recipe, "--set", f"run.dir={run}", "--resume")
    one_line_error(second, f"{run}: run directory in use by pid {proc.pid} on host {socket.gethostname()}")
    assert RAY_STARTED not in second.stderr + second.stdout


@pytest.mark.slow
def test_no_ray_process_of_the_run_survives_kill_9_of_the_driver(live_run) -> None:
    proc, _, _ = live_run
    run_procs = psutil.Process(proc.pid).children(recursive=True)
    names = {p.pid: " ".join(p.cmdline()) for p in run_procs}
    assert any("raylet" in n for n in names.values()) and any("DashboardAgent" in n for n in names.values())
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 30
    alive = run_procs
    while alive and time.monotonic() < deadline:
        time.sleep(0.5)
        alive = [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert [names[p.pid][:120] for p in alive] == []
