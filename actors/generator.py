"""GeneratorActor: a generation backend (vLLM or HF) in its own process."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import ray

from actors.common import set_threads
from system.loop.sync import WeightBlob, unpack_state
from system.models.config import GeneratorConfig
from system.models.generation.base import Generation, SamplingSpec
from system.models.generation.registry import backend_class


@ray.remote
class GeneratorActor:
    def __init__(self, model_dir: str, config: dict[str, Any], seed: int, threads: int | None = None):
        set_threads(threads)
        cfg = GeneratorConfig.model_validate(config)
        self.backend = backend_class(cfg.backend)(model_dir, cfg, seed=seed)
        self.weights_version = str(model_dir)

    def ready(self) -> str:
        return self.weights_version

    def generate(self, prompts: Sequence[str], spec: SamplingSpec) -> tuple[str, list[Generation]]:
        """The generations and the weights they came from (a restarted actor is back on its first checkpoint)."""
        return self.weights_version, self.backend.generate(prompts, spec)

    def update_weights(self, blob: WeightBlob, version: str) -> str:
        self.backend.update_weights(unpack_state(blob))
        self.weights_version = version
        return blob.checksum

    def load_checkpoint(self, model_dir: str) -> str:
        self.backend.load_checkpoint(Path(model_dir))
        self.weights_version = str(model_dir)
        return self.weights_version

    def close(self) -> None:
        self.backend.close()
