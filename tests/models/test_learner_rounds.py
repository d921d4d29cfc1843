"""Loop rounds on one learner (2 ranks, DeepSpeed ZeRO-2 and ZeRO-3): each `train()` call trains with one
gradient hook per parameter, leaves no engine, optimizer or hook behind, keeps memory flat, and gives the
losses of a learner rebuilt from the previous round's weights."""

from __future__ import annotations

from pathlib import Path

import pytest

from system.config import TintConfig
from system.models.config import LearnerConfig, ModelConfig
from system.models.launch import run_ranks
from system.tasks.tint_family import seed_records

pytestmark = pytest.mark.slow

MODEL = ModelConfig(hidden=128, layers=2, heads=4, intermediate=256)
ROUNDS = 3
STEPS = 5
# Same weights, data and fresh optimizer: only float32 reduction order may differ.
LOSS_TOLERANCE = 1e-4
# Resident memory may wander with the allocator; a leaked round (its DeepSpeed engine, optimizer state
# and ZeRO buffers) costs more than this even at this size.
RSS_DRIFT_MIB = 64


def _learner(stage: int) -> LearnerConfig:
    return LearnerConfig(world_size=2, zero_stage=stage, batch_size=16, lr=2e-3, logging_steps=1)


@pytest.mark.parametrize("stage", [2, 3])
def test_rounds_on_one_learner_match_a_learner_rebuilt_per_round(stage: int, tmp_path: Path) -> None:
    records = seed_records(TintConfig(tasks=["sum", "max"]), seed=0, n=300)
    run = run_ranks(_learner(stage), MODEL, seed=0, records=records, train_kwargs={"max_steps": STEPS},
                    rounds=ROUNDS, round_dirs=tmp_path / "rounds", timeout_s=900)
    rounds = run["rounds"]
    assert len(rounds) == ROUNDS
    start = run["before_rounds"]
    for k, r in enumerate(rounds, 1):
        assert r["grad_hooks"] == [1, 1], (k, r["grad_hooks"])  # ZeRO's own hook, none left from earlier rounds
        after = r["after"]
        assert (after["grad_hooks_min"], after["grad_hooks_max"]) == (0, 0), (k, after)
        assert after["forward_hooks"] == start["forward_hooks"], (k, after)
        assert after["engines"] == 0 and after["optimizers"] == 0, (k, after)
    rss = [r["after"]["rss_mib"] for r in rounds]
    assert max(rss) - rss[0] < RSS_DRIFT_MIB, rss

    # a learner rebuilt from round k-1's weights (a new model and a new engine) trains round k the same way
    rebuilt = run_ranks(_learner(stage), MODEL, seed=0, records=records, train_kwargs={"max_steps": STEPS},
                        rebuild_from=[tmp_path / "rounds" / f"round_{k}" for k in range(1, ROUNDS)], timeout_s=900)
    for k, fresh_round in zip(range(2, ROUNDS + 1), rebuilt["rounds"], strict=True):
        ours = [h["loss"] for h in rounds[k - 1]["loss_history"]]
        fresh = [h["loss"] for h in fresh_round["loss_history"]]
        assert len(ours) == len(fresh) == STEPS
        assert max(abs(a - b) for a, b in zip(ours, fresh)) < LOSS_TOLERANCE, (k, ours, fresh)
