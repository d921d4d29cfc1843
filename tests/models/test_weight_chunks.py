"""Weights as a stream of checksummed chunks: bounded size, exact reassembly, damage and gaps refused,
whole layers at a time on the receiving side, and an HF generator that takes a learner's stream."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from system.models.config import GeneratorConfig, LearnerConfig, ModelConfig
from system.models.weights import (
    ChunkAssembler, ChunkWriter, LayerBatcher, WeightTransferError, assemble, chunk_weights, layer_groups,
)

TINY = ModelConfig(hidden=64, layers=2, heads=2, intermediate=128)
HEADER_SLACK = 1024  # safetensors' JSON header per chunk


def _stream(state: dict[str, torch.Tensor], max_bytes: int, dtype: torch.dtype | None = None):
    writer = ChunkWriter(max_bytes, dtype)
    chunks = [c for name, t in state.items() for c in writer.add(name, t)] + writer.close()
    return chunks, writer.summary()


def test_chunks_stay_under_the_limit_and_reassemble_exactly() -> None:
    g = torch.Generator().manual_seed(0)
    state = {"embed.weight": torch.randn(50, 16, generator=g), "model.layers.0.w": torch.randn(7, 3, generator=g),
             "model.layers.0.b": torch.randn(3, generator=g), "big": torch.randn(2000, generator=g),
             "empty": torch.zeros(0, 4), "ints": torch.arange(10)}
    for max_bytes in (64, 1000, 4096, 10**6):
        chunks, sent = _stream(state, max_bytes)
        assert [c.index for c in chunks] == list(range(len(chunks))) and sent.chunks == len(chunks)
        assert all(len(c.data) <= max_bytes + HEADER_SLACK for c in chunks), max_bytes
        back = dict(assemble(chunks, sent))
        assert back.keys() == state.keys()
        assert all(torch.equal(back[k], v) and back[k].dtype == v.dtype for k, v in state.items())
    chunks, _ = _stream(state, 1000)
    holding_big = [c for c in chunks if any(p.name == "big" for p in c.pieces)]
    assert len(holding_big) >= 8  # 8000 bytes of one tensor in chunks of 1000: split, never one oversized chunk


def test_the_wire_dtype_is_the_generators() -> None:
    state = {"w": torch.randn(100, 10)}
    chunks, sent = _stream(state, 10**6, dtype=torch.bfloat16)
    back = dict(assemble(chunks, sent))
    assert back["w"].dtype == torch.bfloat16 and torch.equal(back["w"], state["w"].to(torch.bfloat16))
    assert sent.nbytes < 100 * 10 * 4 * 0.6


def test_damaged_reordered_and_missing_chunks_are_refused() -> None:
    state = {f"model.layers.{i}.w": torch.full((64,), float(i)) for i in range(6)}
    chunks, sent = _stream(state, 300)
    assert len(chunks) >= 4
    bad = dataclasses.replace(chunks[2], data=chunks[2].data[:-2] + b"\x00\x01")
    with pytest.raises(WeightTransferError, match="chunk 2: checksum mismatch"):
        list(assemble([*chunks[:2], bad, *chunks[3:]], sent))
    with pytest.raises(WeightTransferError, match="chunk 2 arrived where chunk 1"):
        list(assemble([chunks[0], chunks[2]], sent))
    with pytest.raises(WeightTransferError, match="incomplete"):
        list(assemble(chunks[:-1], sent))
    # the wire form (plain types, what vLLM's msgspec RPC carries) round-trips
    wire = [type(chunks[0]).from_wire(c.to_wire()) for c in chunks]
    assert dict(assemble(wire, sent)).keys() == state.keys()


def test_vllm_rpc_never_sees_a_bytes_object_over_4_gib() -> None:
    with pytest.raises(ValueError):
        GeneratorConfig(sync_chunk_mib=4096)
    assert GeneratorConfig(sync_chunk_mib=2048).sync_chunk_mib * 2**20 < 2**32 - HEADER_SLACK


def test_receivers_load_whole_layers_only() -> None:
    names = ["model.embed_tokens.weight", "model.layers.0.a", "model.layers.0.b", "model.layers.1.a",
             "model.norm.weight", "lm_head.weight"]
    assert layer_groups(names) == [names[:1], names[1:3], names[3:4], names[4:]]
    batcher, released = LayerBatcher(), []
    for n in names:
        released.append([name for name, _ in batcher.add(n, None)])
    assert released == [[], ["model.embed_tokens.weight"], [], ["model.layers.0.a", "model.layers.0.b"],
                        ["model.layers.1.a"], []]
    assert [name for name, _ in batcher.flush()] == ["model.norm.weight", "lm_head.weight"]


def test_an_hf_generator_takes_a_learners_stream(tmp_path: Path) -> None:
    from system.models.generation.base import SamplingSpec
    from system.models.generation.hf_backend import HFBackend
    from system.models.learner import Learner

    learner = Learner(LearnerConfig(batch_size=16), TINY, seed=3)
    reference = HFBackend(learner.save(tmp_path / "learner"))
    other = Learner(LearnerConfig(batch_size=16), TINY, seed=4)
    gen = HFBackend(other.save(tmp_path / "other"))
    greedy = SamplingSpec(n=1, temperature=0.0, max_new_tokens=16)
    prompts = ["sum 3 4 =", "max 9 2 ="]
    want = [g.samples[0].token_ids for g in reference.generate(prompts, greedy)]
    assert [g.samples[0].token_ids for g in gen.generate(prompts, greedy)] != want

    writer = ChunkWriter(2048)
    chunks = [c for name, t in learner.named_weights() for c in writer.add(name, t)] + writer.close()
    assert len(chunks) > 20
    broken = list(chunks)
    broken[5] = dataclasses.replace(broken[5], data=bytes(len(broken[5].data)))
    with pytest.raises(WeightTransferError, match="checksum"):
        gen.update_weights_streamed(iter(broken), writer.summary())
    gen.update_weights_streamed(iter(chunks), writer.summary())
    assert [g.samples[0].token_ids for g in gen.generate(prompts, greedy)] == want
    assert all(torch.equal(v, gen.model.state_dict()[k]) for k, v in learner.state_dict().items())
    learner.close()
    other.close()


def test_assembler_counts_what_it_verified() -> None:
    chunks = list(chunk_weights([("a", torch.ones(10)), ("b", torch.zeros(3))], max_bytes=16))
    assembler = ChunkAssembler()
    got = [name for c in chunks for name, _ in assembler.add(c)]
    assert got == ["a", "b"] and assembler.tensors == 2 and assembler.nbytes == sum(c.nbytes for c in chunks)


def test_the_nccl_source_declares_what_it_sends() -> None:
    """vLLM's NCCL trainer engine sizes the workers' receive buffers from the source's metadata and checks
    every sent tensor against it (`_checked_iter`): run that check on the learner's source here, on CPU."""
    pytest.importorskip("vllm")
    from vllm.distributed.weight_transfer.nccl_engine import NCCLTrainerWeightTransferEngine

    from system.models.learner import Learner
    from system.models.nccl_sync import learner_source

    learner = Learner(LearnerConfig(batch_size=16), TINY, seed=3)
    source = learner_source(learner, torch.bfloat16)
    meta = source.metadata()
    sent = list(NCCLTrainerWeightTransferEngine._checked_iter(source, meta))
    assert [m.name for m in meta] == [n for n, _ in learner.named_weights()] == [n for n, _ in sent]
    assert all(t.dtype == torch.bfloat16 for _, t in sent) and len(sent) == len(meta) > 0
    learner.close()
