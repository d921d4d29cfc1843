"""The store's writers and the run directory's integrity: group writes, folder swaps, the lock,
stage checksums, damage and roll-back (plain files, no Ray)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import system.store as store
from system.errors import QdcError
from system.integrity import RunLock, RunLockedError, find_damage, remove_strays, roll_back
from system.store import RunDir, atomic_write_dir, atomic_write_files, recover_swaps, replace_dir, swap_backup

ROOT = Path(__file__).resolve().parents[1]


def test_group_write_puts_back_what_was_there_when_a_rename_fails(tmp_path: Path, monkeypatch) -> None:
    a, b = tmp_path / "a.jsonl", tmp_path / "b.json"
    a.write_text("old a\n")
    real_replace = os.replace
    calls: list[str] = []

    def failing_second_rename(src: str, dst: str) -> None:
        calls.append(str(dst))
        if Path(dst) == b:
            raise OSError(28, "No space left on device", str(dst))
        real_replace(src, dst)

    monkeypatch.setattr(store.os, "replace", failing_second_rename)
    with pytest.raises(OSError, match="No space left"):
        atomic_write_files({a: b"new a\n", b: b"new b\n"})
    monkeypatch.setattr(store.os, "replace", real_replace)
    assert str(a) in calls  # a was renamed in before b failed ...
    assert a.read_text() == "old a\n" and not b.exists()  # ... and put back; nothing else left
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl"]


def test_group_write_refuses_a_folder_before_writing_anything(tmp_path: Path) -> None:
    (tmp_path / "summary.json").mkdir()
    with pytest.raises(QdcError, match="is a folder"):
        atomic_write_files({tmp_path / "out.jsonl": b"x", tmp_path / "summary.json": b"{}"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.json"]


def _folder(path: Path, text: str) -> Path:
    path.mkdir()
    (path / "weights").write_text(text)
    return path


def test_replacing_a_folder_swaps_it_in_one_step(tmp_path: Path) -> None:
    target = _folder(tmp_path / "model", "old")
    atomic_write_dir(target, lambda tmp: (tmp / "weights").write_text("new"))
    assert (target / "weights").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_a_failed_fill_keeps_the_old_folder(tmp_path: Path) -> None:
    target = _folder(tmp_path / "model", "old")

    def fill(tmp: Path) -> None:
        (tmp / "weights").write_text("half")
        raise RuntimeError("killed while saving")

    with pytest.raises(RuntimeError):
        atomic_write_dir(target, fill)
    assert (target / "weights").read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_without_an_atomic_exchange_a_swap_cut_short_is_recovered(tmp_path: Path, monkeypatch) -> None:
    target = _folder(tmp_path / "model", "old")
    new = _folder(tmp_path / ".model.new", "new")
    monkeypatch.setattr(store, "_exchange", lambda a, b: False)
    real_rename = os.rename

    def die_before_the_new_folder_moves_in(src: str, dst: str) -> None:
        if Path(src) == new:
            raise KeyboardInterrupt  # the process ends between the two renames
        real_rename(src, dst)

    monkeypatch.setattr(store.os, "rename", die_before_the_new_folder_moves_in)
    with pytest.raises(KeyboardInterrupt):
        replace_dir(new, target)
    monkeypatch.setattr(store.os, "rename", real_rename)
    assert not target.exists() and (swap_backup(target) / "weights").read_text() == "old"
    recover_swaps(tmp_path)
    assert (target / "weights").read_text() == "old" and not swap_backup(target).exists()


def _run(tmp_path: Path) -> Path:
    run = RunDir.create(tmp_path / "run", "name: t\n", "t")
    (run.path / "iter_000").mkdir()
    (run.path / "iter_001").mkdir()
    _folder(run.path / "iter_000" / "model", "w")
    (run.path / "init_model").mkdir()
    (run.path / "init_model" / "model.safetensors").write_bytes(b"init")
    (run.path / "iter_000" / "learn.json").write_text("{}")
    run.mark_done("000/learn")
    (run.path / "iter_000" / "eval.json").write_text('{"row": {}}')
    run.mark_done("000/eval")
    (run.path / "iter_001" / "candidates.parquet").write_bytes(b"c" * 100)
    run.mark_done("001/generate")
    return run.path


def test_each_stage_records_the_files_it_wrote(tmp_path: Path) -> None:
    m = RunDir(_run(tmp_path)).manifest()
    assert set(m["files"]["000/learn"]) == {"init_model/model.safetensors", "iter_000/model/weights", "iter_000/learn.json"}
    assert set(m["files"]["000/eval"]) == {"iter_000/eval.json"}
    assert set(m["files"]["001/generate"]) == {"iter_001/candidates.parquet"}
    assert m["files"]["001/generate"]["iter_001/candidates.parquet"]["size"] == 100


@pytest.mark.parametrize("fault,problem", [("delete", "missing"), ("truncate", "50 bytes where 100"),
                                           ("flip", "SHA-256 mismatch")])
def test_damage_names_the_file_and_its_stage(tmp_path: Path, fault: str, problem: str) -> None:
    path = _run(tmp_path)
    f = path / "iter_001" / "candidates.parquet"
    if fault == "delete":
        f.unlink()
    elif fault == "truncate":
        f.write_bytes(b"c" * 50)
    else:
        f.write_bytes(b"d" * 100)
    damage = find_damage(path, RunDir(path).manifest())
    assert damage is not None and damage.stage == "001/generate" and damage.file == f and problem in damage.problem
    assert find_damage(path, {**RunDir(path).manifest(), "finished": ["000/learn", "000/eval"]}) is None


def test_roll_back_forgets_the_damaged_stage_and_every_later_one(tmp_path: Path) -> None:
    path = _run(tmp_path)
    (path / "iter_000" / "model" / "weights").write_text("cut")
    m = RunDir(path).manifest()
    damage = find_damage(path, m)
    assert damage is not None and damage.stage == "000/learn"
    assert roll_back(path, m, damage.stage) == ["000/learn", "000/eval", "001/generate"]
    assert m["finished"] == [] and m["files"] == {} and m["done"] is False
    assert sorted(p.name for p in path.iterdir()) == ["manifest.json", "recipe.yaml"]


def test_a_stage_that_rewrites_an_earlier_file_takes_it_over(tmp_path: Path) -> None:
    path = _run(tmp_path)
    run = RunDir(path)
    (path / "iter_001" / "candidates.parquet").write_bytes(b"x" * 7)
    run.mark_done("001/filter")
    m = run.manifest()
    assert "iter_001/candidates.parquet" in m["files"]["001/filter"] and not m["files"]["001/generate"]
    assert find_damage(path, m) is None


def test_strays_of_a_killed_writer_are_removed(tmp_path: Path) -> None:
    path = _run(tmp_path)
    (path / ".manifest.json.abc.tmp").write_text("half")
    (path / "iter_001" / ".model.k3j2").mkdir()
    (path / "iter_001" / ".model.k3j2" / "model.safetensors").write_bytes(b"half")
    assert len(remove_strays(path)) == 2
    assert find_damage(path, RunDir(path).manifest()) is None
    assert not (path / "iter_001" / ".model.k3j2").exists() and not (path / ".manifest.json.abc.tmp").exists()


HOLD = """
import sys, time
from system.integrity import RunLock
lock = RunLock(sys.argv[1]).acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_a_locked_directory_is_refused_naming_the_holder(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError) as err:
            RunLock(tmp_path).acquire()
        assert f"pid {holder.pid} on host {socket.gethostname()}" in str(err.value)
    finally:
        holder.kill()
        holder.wait()
    with RunLock(tmp_path) as lock:  # a killed holder's lock is gone with it
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()
