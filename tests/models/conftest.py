"""Shared fixtures for the models layer: a tiny random checkpoint, the seed-trained quickstart model
(trained once per session through the real `qdc train`), and one vLLM engine per session.

The DeepSpeed JIT op cache is shared by every test (and every run on the machine): the Makefile
exports TORCH_EXTENSIONS_DIR=<repo>/.cache/torch_extensions, and the same path is the default here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

ROOT = Path(__file__).resolve().parents[2]
QUICKSTART = ROOT / "recipes" / "quickstart.yaml"

os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(ROOT / ".cache" / "torch_extensions"))
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained 2-layer Llama with the TInt tokenizer, saved as a checkpoint folder."""
    from system.models.config import ModelConfig
    from system.models.factory import build_scratch, save_checkpoint

    model, tok = build_scratch(ModelConfig(hidden=64, layers=2, heads=2, intermediate=128), seed=0)
    return save_checkpoint(model, tok, tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def seed_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """`qdc train recipes/quickstart.yaml --out DIR`, once per session (the slow part: minutes).

    QDC_TEST_TRAIN_SET="train.max_steps=50 tint.eval_size=20" adds --set overrides, for a quick
    look at the plumbing while developing (the accuracy assertions then fail, as they should)."""
    out = tmp_path_factory.mktemp("seed_run")
    extra = [a for kv in os.environ.get("QDC_TEST_TRAIN_SET", "").split() for a in ("--set", kv)]
    proc = subprocess.run(
        [sys.executable, "-m", "system.cli", "train", str(QUICKSTART), "--out", str(out), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=1500,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return {
        "out": out,
        "model_dir": out / "model",
        "eval": json.loads((out / "eval.json").read_text()),
        "metrics": json.loads((out / "train_metrics.json").read_text()),
        "stderr": proc.stderr,
    }


@pytest.fixture(scope="session")
def vllm_engine(seed_run: dict[str, Any]) -> Iterator[Any]:
    """One vLLM engine on the seed checkpoint for the whole session (start ~15-20 s on CPU)."""
    from system.models.generation.vllm_backend import VLLMBackend

    backend = VLLMBackend(seed_run["model_dir"], seed=0)
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def hf_seed_backend(seed_run: dict[str, Any]) -> Any:
    from system.models.generation.hf_backend import HFBackend

    return HFBackend(seed_run["model_dir"])
