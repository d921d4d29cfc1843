"""Code that runs inside vLLM's worker process, plugged in with ``worker_extension_cls``.

vLLM mixes this class into its worker; the engine calls its methods through
``LLM.collective_rpc("<method>", args=...)``. RPC arguments travel through msgspec, where a tensor
would turn into a nested list, so weights come as safetensors bytes. Loading goes through the
worker's public ``reload_weights`` (the model runner's in-place reload): on the CPU backend the
plain ``model.load_weights`` path fails because the layers were repacked after the first load.
"""

from __future__ import annotations

import hashlib


class WeightSyncExtension:
    """Methods added to the vLLM worker (``self`` is the worker)."""

    def qdc_load_weights(self, blob: bytes) -> str:
        """Load a full state dict sent as safetensors bytes; returns its sha256 as a receipt."""
        from safetensors.torch import load

        state = load(blob)
        self.reload_weights(weights_iterator=iter(state.items()))  # type: ignore[attr-defined]
        return hashlib.sha256(blob).hexdigest()

    def qdc_load_checkpoint(self, model_dir: str) -> None:
        """Load the weights of a newer checkpoint folder of the same architecture."""
        self.reload_weights(weights_path=model_dir)  # type: ignore[attr-defined]
