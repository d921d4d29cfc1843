"""GeneratorActor: a generation backend (vLLM or HF) in its own process."""

from __future__ import annotations

import time
from typing import Any, Sequence

import ray

from actors.common import set_threads
from system.logs import redirect_process
from system.loop.sync import fetch_chunks
from system.models.config import GeneratorConfig
from system.models.generation.base import Generation, SamplingSpec
from system.models.generation.registry import backend_class
from system.models.weights import StreamSummary


@ray.remote
class GeneratorActor:
    def __init__(self, model_dir: str, config: dict[str, Any], seed: int, threads: int | None = None,
                 name: str = "generator", log_dir: str | None = None):
        redirect_process(log_dir, name)
        set_threads(threads)
        cfg = GeneratorConfig.model_validate(config)
        self.backend = backend_class(cfg.backend)(model_dir, cfg, seed=seed)
        self.weights_version = str(model_dir)

    def ready(self) -> str:
        return self.weights_version

    def generate(self, prompts: Sequence[str], spec: SamplingSpec) -> tuple[str, list[Generation]]:
        """The generations and the weights they came from (a restarted actor is back on its first checkpoint)."""
        return self.weights_version, self.backend.generate(prompts, spec)

    def receive_chunks(self, refs: list[Any], sent: StreamSummary, version: str, timeout: float) -> tuple[int, int]:
        """Fetch the learner's chunks from the object store one at a time into the backend (which verifies
        each). A sync that fails leaves this generator on its previous checkpoint, never on a mixture."""
        deadline = time.monotonic() + timeout
        chunks = fetch_chunks(refs, lambda ref, left: ray.get(ref, timeout=left), deadline)
        try:
            self.backend.update_weights_streamed(chunks, sent)
        except BaseException:
            self.backend.load_checkpoint(self.weights_version)
            raise
        self.weights_version = version
        return sent.tensors, sent.nbytes

    def load_checkpoint(self, model_dir: str) -> str:
        self.backend.load_checkpoint(model_dir)  # a folder, or a hub id (a run that has not trained yet)
        self.weights_version = str(model_dir)
        return self.weights_version

    # -- vLLM's weight-transfer engine (nccl): driven by learner rank 0 ---------------------------
    def transfer_init(self, init_info: dict[str, Any]) -> bool:
        self.backend.transfer_shutdown()  # a group built anew (after a generator restart) replaces the old one
        self.backend.transfer_init(init_info)
        return True

    def transfer_start(self) -> bool:
        self.backend.transfer_start()
        return True

    def transfer_update(self, update_info: dict[str, Any]) -> bool:
        self.backend.transfer_update(update_info)
        return True

    def transfer_finish(self, version: str | None) -> bool:
        self.backend.transfer_finish()
        if version is not None:
            self.weights_version = version
        return True

    def close(self) -> None:
        """Shut the engine down (its processes hold GPU memory until they exit)."""
        self.backend.transfer_shutdown()
        self.backend.close()
