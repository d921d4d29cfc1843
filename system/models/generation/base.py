"""The generation interface every backend implements.

A backend is built from a checkpoint folder (a ``save_pretrained`` folder with its tokenizer) or a hub
id, samples ``n`` completions per prompt with per-token log-probs, and takes new weights without being
rebuilt: in memory (``update_weights``), as a stream of checksummed chunks (``update_weights_streamed``,
what the loop's object-store sync sends), or from a newer folder (``load_checkpoint``). A backend that
can receive weights straight from the learner over vLLM's weight-transfer engine (NCCL) says so with
``supports_weight_transfer``.

Log-probs are those of the raw model distribution (before temperature / top-p), one per generated
token, so that both backends report the same numbers for the same model and tokens.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Literal, Mapping, Sequence

if TYPE_CHECKING:
    import torch

    from system.models.config import GeneratorConfig
    from system.models.weights import StreamSummary, WeightChunk

Weights = "Mapping[str, torch.Tensor] | Iterable[tuple[str, torch.Tensor]]"
FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class SamplingSpec:
    """What to sample. temperature 0 is greedy (then n > 1 repeats the same answer)."""

    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 128
    seed: int | None = 0
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    @classmethod
    def from_config(cls, cfg: "GeneratorConfig", seed: int | None = 0) -> "SamplingSpec":
        return cls(
            n=cfg.samples_per_prompt,
            temperature=cfg.temperature,
            top_p=cfg.top_p,
            max_new_tokens=cfg.max_new_tokens,
            seed=seed,
            stop=tuple(cfg.stop),
        )


@dataclass
class Sample:
    """One completion: its text (EOS and any stop string cut off), its tokens and their log-probs."""

    text: str
    token_ids: list[int]
    logprobs: list[float]
    finish_reason: FinishReason

    @property
    def sum_logprob(self) -> float:
        return float(sum(self.logprobs))

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "token_ids": self.token_ids, "logprobs": self.logprobs,
                "finish_reason": self.finish_reason}


@dataclass
class Generation:
    """All samples drawn for one prompt, in order."""

    prompt: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def texts(self) -> list[str]:
        return [s.text for s in self.samples]


class GenerationBackend(ABC):
    """Sampling from a checkpoint; registered by name in `system.models.generation.registry`."""

    name: str = ""

    def __init__(self, model_dir: str | Path, config: "GeneratorConfig | None" = None, *, seed: int = 0):
        from system.models.config import GeneratorConfig
        from system.models.factory import model_source

        self.source = model_source(model_dir)  # an absolute local folder, or a hub id
        self.config = config or GeneratorConfig(backend=self.name)
        self.seed = seed

    @property
    def supports_weight_transfer(self) -> bool:
        """Whether `transfer_*` (vLLM's weight-transfer engine, NCCL from learner rank 0) is available."""
        return False

    @abstractmethod
    def generate(self, prompts: Sequence[str], spec: SamplingSpec) -> list[Generation]:
        """``spec.n`` samples for every prompt, one Generation per prompt in the same order.

        With ``spec.seed`` set the result is reproducible for the same weights and prompts.
        """

    @abstractmethod
    def update_weights(self, weights: Weights) -> None:
        """Replace the model's weights in memory with a full state dict (HF parameter names)."""

    def update_weights_streamed(self, chunks: "Iterable[WeightChunk]", sent: "StreamSummary") -> None:
        """Take new weights as a chunk stream: every chunk's checksum is verified before its tensors are
        used, and the stream must hold everything the sender announced. The default hands whole tensors
        to `update_weights` as they complete."""
        from system.models.weights import assemble

        self.update_weights(assemble(chunks, sent))

    def load_checkpoint(self, model_dir: str | Path) -> None:
        """Take the weights of a newer checkpoint folder (or hub id) of the same architecture."""
        from system.models.factory import local_folder
        from system.models.weights import read_checkpoint_weights

        self.update_weights(read_checkpoint_weights(local_folder(model_dir)))

    # -- vLLM's weight-transfer engine (capability: supports_weight_transfer) ----------------------
    def transfer_init(self, init_info: dict[str, Any]) -> None:
        raise NotImplementedError(f"the {self.name} backend cannot join a weight-transfer group")

    def transfer_start(self) -> None:
        raise NotImplementedError(f"the {self.name} backend cannot join a weight-transfer group")

    def transfer_update(self, update_info: dict[str, Any]) -> None:
        raise NotImplementedError(f"the {self.name} backend cannot join a weight-transfer group")

    def transfer_finish(self) -> None:
        raise NotImplementedError(f"the {self.name} backend cannot join a weight-transfer group")

    def transfer_shutdown(self) -> None:
        """Leave the weight-transfer group (a no-op where there is none)."""

    def close(self) -> None:
        """Release the engine (processes, memory). The backend is unusable afterwards."""

    def __enter__(self) -> "GenerationBackend":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def truncate_at_stop(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    """Cut ``text`` before the first stop string; the flag says whether one was found."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)
