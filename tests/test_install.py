"""The whole stack imports inside the project's environment: a broken install fails here first."""

from __future__ import annotations

import subprocess
import sys


def test_stack_imports_and_versions() -> None:
    code = (
        "import ray, vllm, trl, deepspeed, transformers, faiss, torch, datasets, accelerate;"
        "print(torch.__version__, vllm.__version__, transformers.__version__, trl.__version__,"
        " deepspeed.__version__, ray.__version__, faiss.__version__)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    torch_v, vllm_v, tf_v, trl_v, ds_v, ray_v, faiss_v = proc.stdout.split()[-7:]
    assert torch_v.startswith("2.13.0") and vllm_v.startswith("0.32")
    assert not torch_v.endswith("cu") and "+cpu" in torch_v


def test_cuda_linked_extras_are_removed() -> None:
    import importlib.util

    for name in ("torchvision", "torchaudio", "torchcodec"):
        assert importlib.util.find_spec(name) is None, f"{name} must be uninstalled (it breaks `import vllm`)"
