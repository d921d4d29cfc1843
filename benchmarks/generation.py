"""Generation throughput: samples/s and tokens/s of the `vllm` and `hf` backends on the same model
and the same prompts. Prints one JSON object.

    python benchmarks/generation.py [--model DIR] [--prompts 128] [--n 8] [--max-new-tokens 96]

Without --model it uses a scratch model of the quickstart's size (random weights: completions run to
max_new_tokens, a worst case for length). Pass a `qdc train` checkpoint for realistic lengths.
Each backend gets one warm-up call; the engine start is reported apart. Timings are noisy on a
shared 2-core machine: compare the two backends within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any


def measure(backend: Any, prompts: list[str], spec: Any, repeats: int) -> dict[str, float]:
    backend.generate(prompts[: max(1, len(prompts) // 8)], spec)  # warm-up
    best = None
    for _ in range(repeats):
        start = time.perf_counter()
        gens = backend.generate(prompts, spec)
        seconds = time.perf_counter() - start
        if best is None or seconds < best[0]:
            best = (seconds, gens)
    assert best is not None
    seconds, gens = best
    samples = sum(len(g.samples) for g in gens)
    tokens = sum(len(s.token_ids) for g in gens for s in g.samples)
    return {"seconds": round(seconds, 3), "samples": samples, "tokens": tokens,
            "samples_per_s": round(samples / seconds, 1), "tokens_per_s": round(tokens / seconds, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None, help="a checkpoint folder (default: scratch quickstart size)")
    ap.add_argument("--prompts", type=int, default=128)
    ap.add_argument("--n", type=int, default=8, help="samples per prompt")
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()

    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    from system.config import TintConfig
    from system.models.config import ModelConfig
    from system.models.factory import build_scratch, save_checkpoint
    from system.models.generation.base import SamplingSpec
    from system.models.generation.hf_backend import HFBackend
    from system.models.generation.vllm_backend import VLLMBackend
    from system.tasks.tint_family import eval_records

    tmp = tempfile.TemporaryDirectory()
    model_dir = a.model
    if model_dir is None:
        model, tok = build_scratch(ModelConfig(), seed=0)
        model_dir = save_checkpoint(model, tok, Path(tmp.name) / "model")
    tint = TintConfig(tasks=["sum", "max"])
    per_task = (a.prompts + 1) // 2
    prompts = [r["prompt"] for t in tint.tasks for r in eval_records(tint, t, "id", seed=0, n=per_task)][: a.prompts]
    spec = SamplingSpec(n=a.n, temperature=a.temperature, max_new_tokens=a.max_new_tokens, seed=0)

    result: dict[str, Any] = {"benchmark": "generation", "model": str(a.model or "scratch quickstart size"),
                              "prompts": len(prompts), "n": a.n, "temperature": a.temperature,
                              "max_new_tokens": a.max_new_tokens, "cpu_count": os.cpu_count(),
                              "machine": platform.machine()}
    hf = HFBackend(model_dir)
    result["hf"] = measure(hf, prompts, spec, a.repeats)
    del hf
    start = time.perf_counter()
    vllm = VLLMBackend(model_dir)
    result["vllm_engine_start_s"] = round(time.perf_counter() - start, 1)
    result["vllm"] = measure(vllm, prompts, spec, a.repeats)
    vllm.close()
    result["vllm_vs_hf_tokens_per_s"] = round(result["vllm"]["tokens_per_s"] / result["hf"]["tokens_per_s"], 2)
    result["note"] = "best of the repeats after a warm-up; noisy on a shared machine"
    print(json.dumps(result))
    tmp.cleanup()


if __name__ == "__main__":
    main()
