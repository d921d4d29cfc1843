"""DeepSpeed ZeRO through TRL on CPU: 2 ranks (two plain processes, gloo) match 1 rank with the same
global batch; ZeRO-3 runs too. The JIT op cache is shared and a stale build lock is handled."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from system.config import TintConfig
from system.models.config import LearnerConfig, ModelConfig
from system.models.distributed import DistributedSetupError, clear_stale_locks, extensions_dir
from system.models.launch import run_ranks
from system.tasks.tint_family import seed_records

TINY = ModelConfig(hidden=64, layers=2, heads=2, intermediate=128)
STEPS = 6
# Same data, same global batch: the only differences are reduction order in float32 sums.
LOSS_TOLERANCE = 1e-4


def _run(stage: int, world_size: int, tmp_path: Path) -> dict:
    records = seed_records(TintConfig(tasks=["sum", "max"]), seed=0, n=400)
    cfg = LearnerConfig(world_size=world_size, zero_stage=stage, batch_size=16, lr=2e-3, logging_steps=1)
    return run_ranks(cfg, TINY, seed=0, records=records, train_kwargs={"max_steps": STEPS},
                     loss_records=records[:64], save_dir=tmp_path / f"z{stage}_w{world_size}", timeout_s=900)


def test_extensions_dir_defaults_to_the_repo_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TORCH_EXTENSIONS_DIR", raising=False)
    path = extensions_dir()
    assert path == Path(__file__).resolve().parents[2] / ".cache" / "torch_extensions"
    assert os.environ["TORCH_EXTENSIONS_DIR"] == str(path)


def test_stale_build_lock_is_removed_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lock = tmp_path / "deepspeed_shm_comm" / "lock"
    lock.parent.mkdir()
    lock.touch()
    with pytest.raises(DistributedSetupError, match="is held"):
        clear_stale_locks(tmp_path, stale_after_s=600, wait_s=0)
    old = time.time() - 3600
    os.utime(lock, (old, old))
    assert clear_stale_locks(tmp_path, stale_after_s=600) == [lock]
    assert not lock.exists() and "stale DeepSpeed build lock" in capsys.readouterr().err


@pytest.fixture(scope="module")
def one_rank(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """ZeRO-2 on one rank: the reference for the 2-rank runs (same global batch of 16)."""
    return _run(2, 1, tmp_path_factory.mktemp("one_rank"))


def _assert_same_losses(one: dict, two: dict) -> None:
    assert one["steps"] == two["steps"] == STEPS and two["world_size"] == 2
    for a, b in zip(one["loss_history"], two["loss_history"], strict=True):
        assert abs(a["loss"] - b["loss"]) < LOSS_TOLERANCE, (one["loss_history"], two["loss_history"])
    assert abs(one["loss"] - two["loss"]) < LOSS_TOLERANCE
    assert two["loss_history"][-1]["loss"] < two["loss_history"][0]["loss"]


@pytest.mark.slow
def test_zero2_two_ranks_match_one_rank(one_rank: dict, tmp_path: Path) -> None:
    two = _run(2, 2, tmp_path)
    _assert_same_losses(one_rank, two)
    assert (tmp_path / "z2_w2" / "model.safetensors").is_file()


@pytest.mark.slow
def test_zero3_two_ranks_match_and_save_full_weights(one_rank: dict, tmp_path: Path) -> None:
    from system.models.learner import Learner

    two = _run(3, 2, tmp_path)
    _assert_same_losses(one_rank, two)
    # the folder holds the gathered weights: reloaded, they give the loss rank 0 measured
    records = seed_records(TintConfig(tasks=["sum", "max"]), seed=0, n=400)
    reloaded = Learner(LearnerConfig(), TINY, init_dir=tmp_path / "z3_w2")
    assert abs(reloaded.loss(records[:64]) - two["loss"]) < LOSS_TOLERANCE
    reloaded.close()
