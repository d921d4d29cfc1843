"""What the GPU path sizes before anything runs: the micro-batch split (explicit, derived from
grad_accum, or from a memory estimate), gradient checkpointing's default, the vLLM context length,
and which weight sync a recipe gets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from system.loop.sync import sync_mode
from system.models.config import GeneratorConfig, LearnerConfig
from system.models.memory import ModelShape, activation_bytes_per_token, sequences_that_fit, training_state_bytes

# Qwen2.5-0.5B's shape: a 152k vocabulary on a 896-wide model (bf16 weights)
QWEN_05B = ModelShape(n_params=494_032_768, hidden=896, layers=24, intermediate=4864, vocab=151_936, param_bytes=2)
GIB = 2**30


def test_micro_batch_explicit_derived_or_estimated() -> None:
    assert LearnerConfig(batch_size=64, world_size=4).micro_batch_size() == 16  # CPU: the whole per-rank batch
    assert LearnerConfig(batch_size=64, world_size=4, grad_accum=4).micro_batch_size() == 4
    assert LearnerConfig(batch_size=64, world_size=4, micro_batch=2).micro_batch_size() == 2
    # on a GPU the estimate picks the largest divisor of the per-rank batch that fits
    assert LearnerConfig(batch_size=64, world_size=4).micro_batch_size(fits=5) == 4
    assert LearnerConfig(batch_size=64, world_size=4).micro_batch_size(fits=100) == 16
    assert LearnerConfig(batch_size=64, world_size=4).micro_batch_size(fits=0) == 0
    # a recipe that fixes the split is taken as written, whatever the estimate
    assert LearnerConfig(batch_size=64, micro_batch=8).micro_batch_size(fits=1) == 8
    assert LearnerConfig(batch_size=64).batch_split_given is False


@pytest.mark.parametrize("kwargs, field", [
    ({"batch_size": 64, "world_size": 4, "micro_batch": 3}, "micro_batch"),
    ({"batch_size": 64, "world_size": 4, "micro_batch": 4, "grad_accum": 2}, "grad_accum"),
    ({"batch_size": 64, "world_size": 3}, "world_size"),
    ({"batch_size": 64, "world_size": 4, "grad_accum": 3}, "grad_accum"),
])
def test_inconsistent_batch_splits_are_refused(kwargs: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=f"learner.{field}"):
        LearnerConfig(**kwargs)


def test_gradient_checkpointing_defaults_to_the_device() -> None:
    assert LearnerConfig().checkpointing(on_gpu=True) and not LearnerConfig().checkpointing(on_gpu=False)
    assert not LearnerConfig(gradient_checkpointing=False).checkpointing(on_gpu=True)
    assert LearnerConfig(gradient_checkpointing=True).checkpointing(on_gpu=False)


def test_the_gpu_cluster_batch_does_not_fit_a_24_gb_gpu_without_accumulation() -> None:
    """The issue's case: batch 64 x 1024 tokens of Qwen2.5-0.5B on 24 GB GPUs (ZeRO-2, 4 ranks = 16 per rank)."""
    common = dict(free_bytes=24 * GIB, max_length=1024, zero_stage=2, world_size=4, act_bytes=2, weights_resident=False)
    plain = sequences_that_fit(QWEN_05B, checkpointing=False, **common)
    ckpt = sequences_that_fit(QWEN_05B, checkpointing=True, **common)
    assert 1 <= plain < ckpt < 16  # neither fits 16 sequences; checkpointing fits more
    assert LearnerConfig(batch_size=64, world_size=4).micro_batch_size(fits=ckpt) in (1, 2, 4, 8)
    # an H200 (141 GB) holds more per pass, a full batch still needs accumulation at 1024 tokens
    assert sequences_that_fit(QWEN_05B, checkpointing=True, **{**common, "free_bytes": 141 * GIB}) > ckpt
    # the logits dominate: a 152k vocabulary costs more per token than all 24 checkpointed layers
    assert QWEN_05B.vocab * 14 > activation_bytes_per_token(QWEN_05B, 2, True) / 2


def test_zero_stages_partition_the_training_state() -> None:
    full = training_state_bytes(QWEN_05B, None, 4)
    assert full == QWEN_05B.n_params * (2 + 2 + 12)
    assert full > training_state_bytes(QWEN_05B, 1, 4) > training_state_bytes(QWEN_05B, 2, 4) > training_state_bytes(QWEN_05B, 3, 4)
    assert training_state_bytes(QWEN_05B, 3, 4) == full // 4


def test_vllm_context_is_the_runs_budget_not_the_models() -> None:
    g = GeneratorConfig(max_new_tokens=512)
    assert g.context_length() == 512 + 512  # max_prompt_tokens + max_new_tokens
    assert g.context_length(longest_new_tokens=1024) == 512 + 1024  # evaluation asks for longer completions
    assert GeneratorConfig(max_model_len=4096).context_length(10**6) == 4096


def test_sync_mode_follows_the_hardware() -> None:
    vllm = GeneratorConfig(backend="vllm")
    assert sync_mode(vllm, learner_gpus=1, generator_gpus=1) == "nccl"
    assert sync_mode(vllm, learner_gpus=0, generator_gpus=1) == "object_store"
    assert sync_mode(GeneratorConfig(backend="hf"), 1, 1) == "object_store"
    assert sync_mode(GeneratorConfig(backend="vllm", weight_sync="object_store"), 1, 1) == "object_store"
    with pytest.raises(ValidationError, match="weight_sync"):
        GeneratorConfig(backend="hf", weight_sync="nccl")


def test_hub_ids_pass_through_and_local_paths_are_checked(tmp_path) -> None:
    from system.models.factory import CheckpointError, model_source

    assert model_source("Qwen/Qwen2.5-0.5B") == "Qwen/Qwen2.5-0.5B"  # generators take hub ids like learners
    with pytest.raises(CheckpointError, match="not found"):
        model_source(tmp_path / "missing")
    with pytest.raises(CheckpointError, match="not found"):
        model_source("./runs/missing-model")
