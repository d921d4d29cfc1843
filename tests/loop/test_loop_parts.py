"""The loop's plain-Python parts: run directory, curriculum, replay, weight blobs, sharding."""

from __future__ import annotations

import dataclasses

import json
from pathlib import Path

import pytest
import torch

from actors.calls import shard
from system.loop.config import CurriculumConfig
from system.tasks.tint_curriculum import first_frontier, first_frontiers, iteration_prompts, next_frontier, next_frontiers
from system.loop.iteration import kept_fraction, kept_fraction_by_key, training_set
from system.loop.seeds import stage_seed
from system.loop.sync import WeightSyncError
from system.models.weights import ChunkWriter, assemble
from system.store import RunDir, RunDirError, atomic_write_dir
from system.tint.sampling import DEFAULT_SPLITS


def test_new_run_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "r", "name: x\n", "x")
    assert json.loads((run.path / "manifest.json").read_text())["finished"] == []
    with pytest.raises(RunDirError, match="not empty"):
        RunDir.create(tmp_path / "r", "name: x\n", "x")


def test_manifest_records_finished_stages(tmp_path: Path) -> None:
    run = RunDir.create(tmp_path / "r", "name: x\n", "x")
    run.mark_done("001/generate")
    run.mark_done("001/generate")
    reopened = RunDir.open(tmp_path / "r")
    assert reopened.is_done("001/generate") and not reopened.is_done("001/filter")
    assert reopened.manifest()["finished"] == ["001/generate"]
    with pytest.raises(RunDirError, match="not a run directory"):
        RunDir.open(tmp_path)


def test_newest_run_of_a_recipe(tmp_path: Path) -> None:
    for stamp in ("20260101T000000Z", "20260301T000000Z", "20260201T000000Z"):
        RunDir.create(tmp_path / f"quick-{stamp}", "", "quick")
    RunDir.create(tmp_path / "quickstart-20270101T000000Z", "", "quickstart")
    assert RunDir.newest(tmp_path, "quick").name == "quick-20260301T000000Z"
    assert RunDir.newest(tmp_path, "other") is None


def test_atomic_dir_leaves_nothing_on_failure(tmp_path: Path) -> None:
    def fill(d: Path) -> None:
        (d / "a.txt").write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        atomic_write_dir(tmp_path / "model", fill)
    assert list(tmp_path.iterdir()) == []
    atomic_write_dir(tmp_path / "model", lambda d: (d / "a.txt").write_text("whole"))
    assert (tmp_path / "model" / "a.txt").read_text() == "whole"


def test_frontier_moves_only_when_enough_was_kept() -> None:
    cfg = CurriculumConfig(advance_when_kept=0.2, max_length=7)
    start = first_frontier(cfg, DEFAULT_SPLITS["id"])
    assert start == 6
    assert next_frontier(cfg, 6, 0.1).length == 6
    assert next_frontier(cfg, 6, 0.25).length == 7
    assert next_frontier(cfg, 7, 0.9).length == 7


def test_each_task_moves_its_own_frontier() -> None:
    cfg = CurriculumConfig(advance_when_kept=0.2, max_length=8)
    fronts = first_frontiers(cfg, DEFAULT_SPLITS["id"], ["sum", "max"])
    assert fronts == {"sum": 6, "max": 6}
    fronts = next_frontiers(cfg, fronts, {"sum": 0.05, "max": 0.6})
    assert fronts == {"sum": 6, "max": 7}
    assert next_frontiers(cfg, fronts, {"max": 0.3}) == {"sum": 6, "max": 8}  # a task without prompts stays


def test_iteration_prompts_are_seeded_and_at_each_tasks_frontier() -> None:
    a = iteration_prompts(["sum", "max"], 50, {"sum": 6, "max": 7}, DEFAULT_SPLITS["id"], 0.0, seed=3, iteration=1)
    b = iteration_prompts(["sum", "max"], 50, {"sum": 6, "max": 7}, DEFAULT_SPLITS["id"], 0.0, seed=3, iteration=1)
    assert a == b and len(a) == 50
    assert {len(r["input"]) for r in a if r["task"] == "sum"} == {6}
    assert {len(r["input"]) for r in a if r["task"] == "max"} == {7}
    assert len({r["prompt_id"] for r in a}) == 50
    mixed = iteration_prompts(["sum"], 200, {"sum": 8}, DEFAULT_SPLITS["id"], 0.5, seed=3, iteration=1)
    assert {len(r["input"]) for r in mixed} == {6, 7, 8}


def test_training_set_fills_the_round_with_selection_and_replay() -> None:
    sel = [{"prompt": f"s{i}", "completion": "x"} for i in range(30)]
    earlier = [{"prompt": f"e{i}", "completion": "x"} for i in range(100)]
    seed = [{"prompt": f"d{i}", "completion": "x"} for i in range(400)]
    data = training_set(sel, earlier, seed, total=200, replay_ratio=0.5, replay_seed_share=0.5, seed=1)
    kinds = [r["prompt"][0] for r in data]
    assert len(data) == 200 and kinds.count("s") == 100 and kinds.count("d") == 50 and kinds.count("e") == 50
    # the small selection is passed over whole, in fresh orders: every record 3 or 4 times
    counts = {p: [r["prompt"] for r in data].count(p) for p in {r["prompt"] for r in sel}}
    assert len(counts) == 30 and set(counts.values()) <= {3, 4}
    # fresh seed records are used once each
    seeds = [r["prompt"] for r in data if r["prompt"][0] == "d"]
    assert len(set(seeds)) == len(seeds)
    assert kinds[:100] != sorted(kinds[:100])  # shuffled, not in blocks
    assert data == training_set(sel, earlier, seed, 200, 0.5, 0.5, seed=1)
    assert data != training_set(sel, earlier, seed, 200, 0.5, 0.5, seed=2)
    assert training_set([], earlier, seed, 200, 0.5, 0.5, seed=1) == []


def test_training_set_replays_only_seed_data_in_the_first_round() -> None:
    sel = [{"prompt": f"s{i}", "completion": "x"} for i in range(10)]
    seed = [{"prompt": f"d{i}", "completion": "x"} for i in range(100)]
    kinds = [r["prompt"][0] for r in training_set(sel, [], seed, 64, replay_ratio=0.25, replay_seed_share=0.5, seed=0)]
    assert kinds.count("d") == 16 and kinds.count("s") == 48
    # no replay pool at all: the round trains on the selection alone
    kinds = [r["prompt"][0] for r in training_set(sel, [], [], 64, 0.25, 0.5, seed=0)]
    assert kinds == ["s"] * 64


def test_kept_fraction_counts_prompts() -> None:
    cands = [{"prompt_id": p, "task": t} for p, t in [("a", "sum"), ("a", "sum"), ("b", "sum"), ("b", "sum"),
                                                      ("c", "max")]]
    assert kept_fraction(cands, [0, 1, 2]) == pytest.approx(2 / 3)
    keys = [c["task"] for c in cands]
    assert kept_fraction_by_key(cands, keys, [0, 1, 2]) == {"max": 0.0, "sum": 1.0}
    assert kept_fraction_by_key(cands, keys, [4]) == {"max": 1.0, "sum": 0.0}


def test_weight_chunks_are_checksummed() -> None:
    state = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.ones(3)}
    writer = ChunkWriter(16)
    chunks = [c for k, v in state.items() for c in writer.add(k, v)] + writer.close()
    back = dict(assemble(chunks, writer.summary()))
    assert torch.equal(back["w"], state["w"]) and torch.equal(back["b"], state["b"])
    corrupted = dataclasses.replace(chunks[0], data=chunks[0].data[:-1] + bytes([chunks[0].data[-1] ^ 1]))
    with pytest.raises(WeightSyncError, match="checksum mismatch"):
        list(assemble([corrupted, *chunks[1:]], writer.summary()))


def test_shards_keep_order_and_cover_everything() -> None:
    items = list(range(10))
    parts = shard(items, 3)
    assert [len(p) for p in parts] == [4, 3, 3]
    assert [x for p in parts for x in p] == items
    assert shard([1], 3) == [[1], [], []]


def test_stage_seeds_differ_by_stage_and_iteration() -> None:
    seeds = {stage_seed(0, i, s) for i in range(3) for s in ("generate", "learn", "filter")}
    assert len(seeds) == 9
    assert stage_seed(0, 1, "learn") == stage_seed(0, 1, "learn")
