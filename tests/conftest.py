"""Environment every test process shares (the Makefile exports the same for `make test`)."""

import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# As `qdc run` sets up a local Ray (actors/ray_env.py): loopback only, token authentication with a
# token of this session's own (nothing written to ~/.ray). Set before any test module imports ray.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
if "RAY_AUTH_MODE" not in os.environ:
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(ROOT / ".cache" / "torch_extensions"))
