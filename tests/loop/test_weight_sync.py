"""The object-store weight sync end to end on Ray: learner rank 0 puts many checksummed chunks into the
object store, a vLLM generator actor fetches and loads them, and its greedy output then equals HF
`generate` on the learner's weights. A damaged stream is refused and leaves the generator on its
previous weights."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import ray

from actors.calls import wait_all
from actors.generator import GeneratorActor
from actors.learner import LearnerActor
from system.loop.sync import WeightSyncError
from system.models.config import LearnerConfig, ModelConfig
from system.models.distributed import free_port
from system.models.generation.base import SamplingSpec
from system.models.generation.hf_backend import HFBackend

pytestmark = pytest.mark.slow

TINY = ModelConfig(hidden=64, layers=2, heads=2, intermediate=128)
PROMPTS = ["sum 3 4 =", "max 9 2 =", "sum 12 7 33 ="]
GREEDY = SamplingSpec(n=1, temperature=0.0, max_new_tokens=16)


def _call(ref, timeout: float = 300):
    (out,) = wait_all([ref], timeout=timeout, stage="sync", names=["actor"], key="sync")
    return out


def test_streamed_sync_reaches_a_vllm_generator_checksummed(local_ray, tmp_path: Path) -> None:
    learner = LearnerActor.options(num_cpus=0.5).remote(0)
    assert _call(learner.setup.remote(LearnerConfig(batch_size=16).model_dump(), TINY.model_dump(), 3,
                                      ("127.0.0.1", free_port()), None))
    start_dir = tmp_path / "start"
    _call(learner.save.remote(str(tmp_path / "learner")))
    other = LearnerActor.options(num_cpus=0.25).remote(0)
    _call(other.setup.remote(LearnerConfig(batch_size=16).model_dump(), TINY.model_dump(), 4,
                             ("127.0.0.1", free_port()), None))
    _call(other.save.remote(str(start_dir)))
    ray.kill(other)

    gen = GeneratorActor.options(num_cpus=0.5).remote(str(start_dir), {"backend": "vllm", "max_new_tokens": 16}, 0, 1)
    assert _call(gen.ready.remote()) == str(start_dir)
    want = [g.samples[0].token_ids for g in HFBackend(tmp_path / "learner").generate(PROMPTS, GREEDY)]
    before = [g.samples[0].token_ids for g in _call(gen.generate.remote(PROMPTS, GREEDY))[1]]
    assert before != want

    sent = _call(learner.put_chunks.remote(4096, "float32"))  # rank 0 puts; the driver holds references only
    assert sent.summary.chunks == len(sent.refs) > 20

    # a damaged chunk is refused, and the generator stays on the weights it had
    chunks = ray.get(sent.refs)
    damaged = [*chunks[:3], dataclasses.replace(chunks[3], data=bytes(len(chunks[3].data))), *chunks[4:]]
    with pytest.raises(WeightSyncError, match="checksum mismatch"):
        _call(gen.receive_chunks.remote([ray.put(c) for c in damaged], sent.summary, "damaged", 120))
    version, outs = _call(gen.generate.remote(PROMPTS, GREEDY))
    assert version == str(start_dir) and [g.samples[0].token_ids for g in outs] == before

    acks = _call(gen.receive_chunks.remote(sent.refs, sent.summary, "v1", 120))
    assert tuple(acks) == (sent.summary.tensors, sent.summary.nbytes)
    version, outs = _call(gen.generate.remote(PROMPTS, GREEDY))
    assert version == "v1" and [g.samples[0].token_ids for g in outs] == want
    _call(gen.close.remote())
    ray.kill(gen)
    ray.kill(learner)
