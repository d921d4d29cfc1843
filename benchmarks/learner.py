"""Learner throughput: steps/s of `system.models.learner.Learner` vs a plain TRL SFTTrainer.

Same model (the quickstart's scratch Llama unless --hidden/--layers/--heads say otherwise), same
seed records, same batch, same optimizer settings; the plain trainer gets the arguments a careful
TRL user would pass on CPU (no gradient checkpointing; `bf16=True` with --dtype bfloat16). Also runs
the learner under DeepSpeed ZeRO (one rank, a subprocess) unless --no-deepspeed. Prints one JSON object.

    python benchmarks/learner.py [--steps 150] [--batch 32] [--dtype float32|bfloat16]

Timings are wall-clock of ``trainer.train()`` only (data preparation excluded) and are noisy on a
shared 2-core machine: run it on a quiet one and compare ratios, not absolute figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from typing import Any

from system.config import TintConfig
from system.models.config import LearnerConfig, ModelConfig
from system.tasks.tint_family import seed_records


def _config(batch: int, lr: float, dtype: str, **more: Any) -> LearnerConfig:
    """The learner as the plain trainer runs: one pass per batch, no gradient checkpointing (on a GPU the
    learner's defaults would otherwise turn both on: a fair comparison needs the same work per step)."""
    return LearnerConfig(batch_size=batch, lr=lr, scheduler="cosine", dtype=dtype, grad_accum=1,
                         gradient_checkpointing=False, **more)


def plain_trl(model_cfg: ModelConfig, records: list[dict], batch: int, steps: int, lr: float, seed: int,
              dtype: str) -> float:
    import datasets
    import torch
    from trl import SFTConfig, SFTTrainer

    from system.models.factory import build_scratch

    torch.set_num_threads(os.cpu_count() or 1)
    model, tok = build_scratch(model_cfg, seed)
    datasets.disable_progress_bars()
    with tempfile.TemporaryDirectory() as tmp:
        args = SFTConfig(output_dir=tmp, per_device_train_batch_size=batch, max_steps=steps, learning_rate=lr,
                         lr_scheduler_type="cosine", use_cpu=not torch.cuda.is_available(), bf16=dtype == "bfloat16",
                         gradient_checkpointing=False, max_length=256, report_to="none", save_strategy="no",
                         logging_steps=25, disable_tqdm=True, seed=seed, dataloader_num_workers=0)
        trainer = SFTTrainer(model=model, args=args, train_dataset=datasets.Dataset.from_list(records),
                             processing_class=tok)
        start = time.perf_counter()
        trainer.train()
        return steps / (time.perf_counter() - start)


def ours(model_cfg: ModelConfig, records: list[dict], batch: int, steps: int, lr: float, seed: int,
         dtype: str) -> float:
    from system.models.learner import Learner

    learner = Learner(_config(batch, lr, dtype), model_cfg, seed=seed)
    metrics = learner.train(records, max_steps=steps)
    learner.close()
    return float(metrics["steps_per_s"])


def ours_deepspeed(model_cfg: ModelConfig, records: list[dict], batch: int, steps: int, lr: float, seed: int,
                   stage: int, dtype: str) -> float:
    from system.models.launch import run_ranks

    cfg = _config(batch, lr, dtype, zero_stage=stage)
    return float(run_ranks(cfg, model_cfg, seed=seed, records=records, train_kwargs={"max_steps": steps})["steps_per_s"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--repeats", type=int, default=2, help="alternate the two trainers this many times; best of each")
    ap.add_argument("--zero-stage", type=int, default=2)
    ap.add_argument("--no-deepspeed", action="store_true")
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                    help="both trainers: fp32, or bf16 mixed precision (the quickstart's learner.dtype)")
    a = ap.parse_args()

    model_cfg = ModelConfig(hidden=a.hidden, layers=a.layers, heads=a.heads)
    records = [{"prompt": r["prompt"], "completion": r["completion"]}
               for r in seed_records(TintConfig(tasks=["sum", "max"]), seed=0, n=a.steps * a.batch)]
    runs: dict[str, list[float]] = {"plain_trl": [], "learner": []}
    for _ in range(a.repeats):  # alternate, so that background load hits both alike
        runs["plain_trl"].append(plain_trl(model_cfg, records, a.batch, a.steps, a.lr, 0, a.dtype))
        runs["learner"].append(ours(model_cfg, records, a.batch, a.steps, a.lr, 0, a.dtype))
    result: dict[str, Any] = {
        "benchmark": "learner_steps_per_s",
        "model": model_cfg.model_dump(include={"hidden", "layers", "heads"}),
        "batch": a.batch,
        "steps": a.steps,
        "dtype": a.dtype,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "plain_trl_steps_per_s": round(max(runs["plain_trl"]), 3),
        "learner_steps_per_s": round(max(runs["learner"]), 3),
        "all_runs": {k: [round(x, 3) for x in v] for k, v in runs.items()},
    }
    result["learner_vs_plain"] = round(result["learner_steps_per_s"] / result["plain_trl_steps_per_s"], 3)
    if not a.no_deepspeed:
        result[f"learner_zero{a.zero_stage}_steps_per_s"] = round(
            ours_deepspeed(model_cfg, records, a.batch, a.steps, a.lr, 0, a.zero_stage, a.dtype), 3)
    result["note"] = "best of the runs; wall-clock of trainer.train(); noisy on a shared machine"
    print(json.dumps(result))


if __name__ == "__main__":
    main()
