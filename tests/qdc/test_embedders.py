"""Embedders: float32, unit rows, one per text; hashed n-grams need no model, MiniLM loads offline."""

from __future__ import annotations

import numpy as np
import pytest

from system.errors import QdcError
from system.qdc.config import FilterConfig
from system.qdc.embedders import EMBEDDERS, HashedNgrams, MiniLM, PolicyHiddenStates
from system.qdc.registry import UnknownNameError


def check_unit_rows(x: np.ndarray, n: int) -> None:
    assert x.dtype == np.float32 and x.shape[0] == n and x.flags["C_CONTIGUOUS"]
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)


def test_hashed_ngrams_are_unit_deterministic_and_similarity_preserving() -> None:
    emb = HashedNgrams.from_config(FilterConfig(embedding_dim=256))
    texts = [" 12+7=19 19+33=52 #52", " 12+7=19 19+33=52 #52", " 12+7=19 19+34=53 #53", "the quick brown fox",
             "", "日本語テキスト"]
    x = emb.embed(texts)
    check_unit_rows(x, len(texts))
    assert x.shape[1] == 256
    sims = x @ x.T
    assert sims[0, 1] == pytest.approx(1.0)
    assert sims[0, 2] > 0.6 > sims[0, 3]
    assert np.array_equal(x, HashedNgrams(256).embed(texts))  # no per-process hash seed


def test_hashed_ngrams_do_not_depend_on_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    import system.qdc.embedders as mod

    texts = [f"sample {i} " + "x" * (i % 37) for i in range(300)]
    whole = HashedNgrams(64).embed(texts)
    monkeypatch.setattr(mod, "CHUNK_TEXTS", 7)  # force many chunks
    monkeypatch.setattr(mod, "CHUNK_CHARS", 100)
    assert np.allclose(HashedNgrams(64).embed(texts), whole)
    assert np.allclose(HashedNgrams(64).embed(texts[5:6]), whole[5:6])


def test_minilm_from_the_packaged_weights() -> None:
    emb = EMBEDDERS.get("minilm").from_config(FilterConfig(embedder="minilm"))
    assert isinstance(emb, MiniLM)
    x = emb.embed(["a cat sits on the mat", "a kitten is sitting on a rug", "quarterly revenue fell sharply"])
    check_unit_rows(x, 3)
    assert x.shape[1] == 384
    assert x[0] @ x[1] > x[0] @ x[2] + 0.3


class MeanOfCodes:
    """A stand-in hidden-state source: the loop attaches the policy model here."""

    def hidden_states(self, texts: list[str]) -> np.ndarray:
        return np.array([[len(t), sum(map(ord, t)) % 97 + 1, 1.0] for t in texts])


def test_policy_hidden_states_need_a_source() -> None:
    emb = PolicyHiddenStates()
    with pytest.raises(QdcError, match="no hidden-state source"):
        emb.embed(["a"])
    with pytest.raises(TypeError):
        emb.attach(object())  # type: ignore[arg-type]
    emb.attach(MeanOfCodes())
    check_unit_rows(emb.embed(["a", "bb", "ccc"]), 3)


def test_unknown_embedder_lists_the_known_ones() -> None:
    with pytest.raises(UnknownNameError, match="unknown embedder 'bert'; known: hashed_ngrams, minilm, policy_hidden"):
        EMBEDDERS.get("bert")
