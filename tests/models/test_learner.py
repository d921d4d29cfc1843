"""The learner in one process (no DeepSpeed): TRL SFT lowers the completion loss; weights go out
as a save_pretrained folder and as a state dict that a generator takes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from system.config import TintConfig
from system.models.config import LearnerConfig, ModelConfig
from system.models.learner import Learner, LearnerError
from system.models.sft_data import completion_batches
from system.tasks.tint_family import seed_records

TINY = ModelConfig(hidden=64, layers=2, heads=2, intermediate=128)


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return seed_records(TintConfig(tasks=["sum", "max"]), seed=0, n=600)


def test_prompt_tokens_carry_no_loss(records: list[dict]) -> None:
    from system.models.tokenizer import build_tokenizer

    tok = build_tokenizer()
    ids, mask, labels = next(completion_batches(tok, records[:4], 4))
    for row, r in zip(range(4), records):
        n_prompt = len(tok(r["prompt"])["input_ids"])
        assert (labels[row, :n_prompt] == -100).all()
        kept = labels[row][labels[row] != -100].tolist()
        assert tok.decode(kept, skip_special_tokens=True) == r["completion"] and kept[-1] == tok.eos_token_id


def test_train_lowers_loss_and_hands_out_weights(records: list[dict], tmp_path: Path) -> None:
    from system.models.generation.base import SamplingSpec
    from system.models.generation.hf_backend import HFBackend

    learner = Learner(LearnerConfig(batch_size=16, lr=3e-3, logging_steps=5), TINY, seed=0)
    held_out = records[:64]
    before = learner.loss(held_out)
    metrics = learner.train(records, max_steps=30)
    after = learner.loss(held_out)
    assert metrics["steps"] == 30 and metrics["records"] == len(records)
    assert after < before - 0.5, (before, after)
    assert [h["step"] for h in metrics["loss_history"]] == [5, 10, 15, 20, 25, 30]

    # a second call continues from the trained weights (a loop round)
    again = learner.train(records, max_steps=10)
    assert again["steps"] == 10 and learner.steps_done == 40

    folder = learner.save(tmp_path / "model")
    assert folder is not None and (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    state = learner.state_dict()
    backend = HFBackend(folder)
    assert all(torch.equal(v, backend.model.state_dict()[k]) for k, v in state.items())

    # the state dict goes into a generator built from another checkpoint of the same architecture
    greedy = SamplingSpec(n=1, temperature=0.0, max_new_tokens=24)
    expected = [g.samples[0].token_ids for g in backend.generate(["sum 3 4 =", "max 9 2 ="], greedy)]
    other = Learner(LearnerConfig(batch_size=16), TINY, seed=5)
    other_dir = other.save(tmp_path / "other")
    gen = HFBackend(other_dir)
    gen.update_weights(learner.state_dict())
    assert [g.samples[0].token_ids for g in gen.generate(["sum 3 4 =", "max 9 2 ="], greedy)] == expected
    learner.close()
    other.close()


def test_bad_calls_are_clear_errors() -> None:
    with pytest.raises(LearnerError, match="rank 2"):
        Learner(LearnerConfig(world_size=2), TINY, rank=2, master_port=29999)
    with pytest.raises(LearnerError, match="master_port"):
        Learner(LearnerConfig(world_size=2), TINY, rank=0)
    learner = Learner(LearnerConfig(), TINY)
    with pytest.raises(LearnerError, match="no records"):
        learner.train([])


def test_length_sorted_batches_are_random_samples_sorted_inside() -> None:
    from system.models.sft_data import length_sorted_batches

    lengths = [(i * 37) % 61 for i in range(100)]
    order = length_sorted_batches(lengths, 16, seed=3, total=16 * 12)
    assert len(order) == 16 * 12
    batches = [order[k : k + 16] for k in range(0, len(order), 16)]
    assert all([lengths[i] for i in b] == sorted(lengths[i] for i in b) for b in batches)
    first_pass = [i for b in batches[:6] for i in b]  # 6 full batches per pass of 100 rows
    assert len(set(first_pass)) == len(first_pass)
    assert order == length_sorted_batches(lengths, 16, seed=3, total=16 * 12)
    assert order != length_sorted_batches(lengths, 16, seed=4, total=16 * 12)
    assert len(length_sorted_batches([5, 6], 8, seed=0, total=20)) == 20  # fewer rows than a batch


def test_sorting_and_accumulation_change_speed_not_learning(records: list[dict]) -> None:
    """One batch of 16 or two micro-batches of 8 (sorted by length): the same losses."""
    losses = []
    for accum in (1, 2):
        learner = Learner(LearnerConfig(batch_size=16, grad_accum=accum, lr=3e-3, logging_steps=1), TINY, seed=0)
        losses.append([h["loss"] for h in learner.train(records, max_steps=4)["loss_history"]])
        learner.close()
    assert max(abs(a - b) for a, b in zip(*losses)) < 1e-4, losses


def test_bf16_mixed_precision_learns_with_fp32_master_weights(records: list[dict], tmp_path: Path) -> None:
    """learner.dtype bfloat16 on CPU: bf16 autocast with eager attention while training, fp32 weights,
    a checkpoint that loads as float32 with the model's default attention, and the fp32 run's learning."""
    from system.models.factory import load_pretrained

    held_out = records[:64]
    after = {}
    for dtype in ("float32", "bfloat16"):
        learner = Learner(LearnerConfig(batch_size=16, lr=3e-3, dtype=dtype), TINY, seed=0)
        assert (learner.model.config._attn_implementation == "eager") == (dtype == "bfloat16")
        before = learner.loss(held_out)
        learner.train(records, max_steps=30)
        after[dtype] = learner.loss(held_out)
        assert after[dtype] < before - 0.5, (dtype, before, after[dtype])
        assert all(p.dtype == torch.float32 for p in learner.model.parameters())
        if dtype == "bfloat16":
            folder = learner.save(tmp_path / "bf16")
            model, _ = load_pretrained(folder)
            assert model.config._attn_implementation == "sdpa"
            assert all(p.dtype == torch.float32 for p in model.parameters())
        learner.close()
    assert abs(after["bfloat16"] - after["float32"]) < 0.15, after

    kept = Learner(LearnerConfig(dtype="bfloat16", attention="sdpa"), TINY, seed=0)
    assert kept.model.config._attn_implementation == "sdpa"
    kept.close()
