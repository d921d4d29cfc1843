"""The hf backend on a tiny random checkpoint: samples, log-probs, seeds, stop strings, new weights."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from system.models.generation.base import SamplingSpec
from system.models.generation.hf_backend import HFBackend
from system.models.generation.registry import backend_class, backend_names
from system.models.weights import read_checkpoint_weights

PROMPTS = ["sum 1 2 =", "max 4 50 7 =", "sum 12 7 33 ="]


@pytest.fixture(scope="module")
def hf(tiny_model_dir: Path) -> HFBackend:
    return HFBackend(tiny_model_dir)


def test_backends_are_registry_entries() -> None:
    assert set(backend_names()) >= {"vllm", "hf"}
    assert backend_class("hf") is HFBackend


def test_n_samples_per_prompt_with_token_logprobs(hf: HFBackend) -> None:
    gens = hf.generate(PROMPTS, SamplingSpec(n=3, temperature=1.0, max_new_tokens=12, seed=1))
    assert [g.prompt for g in gens] == PROMPTS
    for g in gens:
        assert len(g.samples) == 3
        for s in g.samples:
            assert len(s.token_ids) == len(s.logprobs) <= 12
            assert all(lp <= 0 and math.isfinite(lp) for lp in s.logprobs)
            assert s.finish_reason in ("stop", "length")
            assert (s.finish_reason == "length") == (len(s.token_ids) == 12 and s.token_ids[-1] != 2)


def test_sampling_is_reproducible_with_a_seed(hf: HFBackend) -> None:
    spec = SamplingSpec(n=4, temperature=1.0, max_new_tokens=10, seed=7)
    a = [g.texts for g in hf.generate(PROMPTS, spec)]
    b = [g.texts for g in hf.generate(PROMPTS, spec)]
    c = [g.texts for g in hf.generate(PROMPTS, SamplingSpec(n=4, temperature=1.0, max_new_tokens=10, seed=8))]
    assert a == b and a != c
    assert len({t for texts in a for t in texts}) > 1


def test_stop_strings_cut_the_text(hf: HFBackend) -> None:
    free = hf.generate(PROMPTS, SamplingSpec(n=2, temperature=1.0, max_new_tokens=16, seed=3))
    cut = hf.generate(PROMPTS, SamplingSpec(n=2, temperature=1.0, max_new_tokens=16, seed=3, stop=("1",)))
    for gf, gc in zip(free, cut):
        for sf, sc in zip(gf.samples, gc.samples):
            assert "1" not in sc.text and sf.text.startswith(sc.text)
            if "1" in sf.text:
                assert sc.text == sf.text[: sf.text.index("1")] and sc.finish_reason == "stop"


def test_update_weights_changes_outputs_to_the_new_model(hf: HFBackend, tiny_model_dir: Path, tmp_path: Path) -> None:
    from system.models.config import ModelConfig
    from system.models.factory import build_scratch, save_checkpoint

    greedy = SamplingSpec(n=1, temperature=0.0, max_new_tokens=12)
    before = [g.samples[0] for g in hf.generate(PROMPTS, greedy)]
    other, tok = build_scratch(ModelConfig(hidden=64, layers=2, heads=2, intermediate=128), seed=1)
    hf.update_weights(other.state_dict())
    after = [g.samples[0] for g in hf.generate(PROMPTS, greedy)]
    fresh = HFBackend(save_checkpoint(other, tok, tmp_path / "other"))
    expected = [g.samples[0] for g in fresh.generate(PROMPTS, greedy)]
    assert [s.token_ids for s in after] == [s.token_ids for s in expected]
    assert [s.logprobs for s in after] != [s.logprobs for s in before]
    hf.load_checkpoint(tiny_model_dir)  # back to the original weights, from the folder
    again = [g.samples[0] for g in hf.generate(PROMPTS, greedy)]
    assert [s.token_ids for s in again] == [s.token_ids for s in before]


def test_update_weights_rejects_foreign_names(hf: HFBackend, tiny_model_dir: Path) -> None:
    from system.errors import QdcError

    state = read_checkpoint_weights(tiny_model_dir)
    with pytest.raises(QdcError, match="does not have"):
        hf.update_weights({**state, "model.extra.weight": torch.zeros(2)})
    partial = {k: v for k, v in state.items() if "layers.1" not in k}
    with pytest.raises(QdcError, match="missing"):
        hf.update_weights(partial)
    hf.update_weights(state)
