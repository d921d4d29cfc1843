"""GPU smoke check of the learner side, for one GPU machine without Ray or vLLM (and for CPU, smaller).

For each DeepSpeed ZeRO stage (0, 2, 3 by default), in a process of its own: three `Learner.train()`
rounds on one learner (the loop's rounds) with each round's losses, gradient hooks per parameter,
live DeepSpeed engines and optimizers, and memory (CUDA allocated on GPU, RSS on CPU) after it;
`loss()` before and after; the sync sender side (the weights streamed into checksummed chunks, as
learner rank 0 does for the object-store sync, and reassembled exactly; with vLLM installed, the
metadata its NCCL weight-transfer source declares); save, then load into a new learner (same loss);
and the `hf` backend on the saved folder (on the GPU), also after taking the chunk stream into a
generator built from other weights. Prints one JSON object; ``ok`` is false if any check failed.

    python benchmarks/gpu_smoke.py                     # 200M-parameter scratch Llama, bf16 (a GPU)
    python benchmarks/gpu_smoke.py --small             # tiny sizes: the same checks on CPU in ~1-2 min
    python benchmarks/gpu_smoke.py --stages 2 --steps 50 --batch 32

Timings are wall-clock and only indicative; the checks and memory figures are what it is for.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ROUNDS = 3
PROMPTS = ["sum 12 7 33 =", "max 4 50 7 =", "sum 9 9 ="]
# Memory after each round may wander this much and still count as flat (allocator caches, RSS noise);
# a leaked round keeps an engine and an optimizer state: more than this at either size.
FLAT_CUDA_MIB = 64.0
FLAT_RSS_MIB = 128.0
LOSS_MATCH = 1e-3


def stage_run(job: dict[str, Any]) -> dict[str, Any]:
    """Everything for one ZeRO stage, in this process (a rank of world size 1)."""
    import torch

    from system.config import TintConfig
    from system.loop.sync import put_chunks
    from system.models.config import LearnerConfig, ModelConfig
    from system.models.factory import torch_dtype
    from system.models.generation.base import SamplingSpec
    from system.models.generation.hf_backend import HFBackend
    from system.models.learner import Learner
    from system.tasks.tint_family import seed_records
    from system.models.teardown import census
    from system.models.weights import assemble

    stage = job["stage"]
    learner_cfg = LearnerConfig(zero_stage=stage, batch_size=job["batch"], lr=job["lr"], dtype=job["dtype"],
                                max_length=job["max_length"], logging_steps=1)
    model_cfg = ModelConfig(**job["model"])
    records = seed_records(TintConfig(tasks=["sum", "max"]), seed=0, n=max(400, job["batch"] * job["steps"]))
    held_out = records[:64]
    out: dict[str, Any] = {"zero_stage": stage, "checks": {}}
    checks = out["checks"]

    learner = Learner(learner_cfg, model_cfg, seed=0)
    out["device"] = str(learner.device)
    out["micro_batch"], out["grad_accum"] = learner.micro_batch, learner.grad_accum
    start = census(learner.model)
    out["loss_before"] = learner.loss(held_out)
    rounds = []
    for _ in range(ROUNDS):
        m = learner.train(records, max_steps=job["steps"])
        after = census(learner.model)
        rounds.append({"losses": [round(h["loss"], 5) for h in m["loss_history"]], "steps_per_s": m["steps_per_s"],
                       "grad_hooks_in_round": m["grad_hooks"], "after": after.to_dict()})
    out["rounds"] = rounds
    out["loss_after"] = learner.loss(held_out)
    checks["loss_dropped"] = out["loss_after"] < out["loss_before"]
    expected_hooks = [1, 1] if stage in (1, 2, 3) else rounds[0]["grad_hooks_in_round"]
    checks["one_grad_hook_per_parameter"] = all(r["grad_hooks_in_round"] == expected_hooks for r in rounds)
    checks["nothing_left_between_rounds"] = all(
        r["after"]["grad_hooks_max"] == 0 and r["after"]["engines"] == 0 and r["after"]["optimizers"] == 0
        and r["after"]["forward_hooks"] == start.forward_hooks for r in rounds)
    key, limit = ("cuda_allocated_mib", FLAT_CUDA_MIB) if learner.on_gpu else ("rss_mib", FLAT_RSS_MIB)
    memory = [r["after"][key] for r in rounds]
    out["memory_after_rounds"] = {key: memory}
    checks["memory_flat"] = max(memory) - min(memory) < limit

    # the sync sender: rank 0's chunk stream (collective under ZeRO-3), reassembled and compared
    wire = torch_dtype(job["wire_dtype"])
    chunks: list[Any] = []
    t = time.perf_counter()
    sent = put_chunks(learner, job["chunk_bytes"], wire, put=chunks.append)
    out["sender"] = {"seconds": round(time.perf_counter() - t, 3), "chunks": sent.summary.chunks,
                     "tensors": sent.summary.tensors, "mib": round(sent.summary.nbytes / 2**20, 2)}
    full = learner.state_dict()
    got = dict(assemble(chunks, sent.summary))
    checks["sender_stream_exact"] = all(torch.equal(v, full[k].to(wire) if v.is_floating_point() else full[k])
                                        for k, v in got.items()) and len(got) == sent.summary.tensors
    out["sender"]["nccl_source"] = nccl_source_check(learner, wire, list(got))

    with tempfile.TemporaryDirectory(prefix="qdc-gpu-smoke-") as tmp:
        folder = learner.save(Path(tmp) / "model")
        loss = learner.loss(held_out)
        learner.close()
        reloaded = Learner(learner_cfg, model_cfg, seed=0, init_dir=folder)
        out["loss_reloaded"] = reloaded.loss(held_out)
        checks["save_load_same_loss"] = abs(out["loss_reloaded"] - loss) < LOSS_MATCH
        reloaded.close()

        # Generators live in processes of their own; this one trained under ZeRO-3, which transformers
        # remembers process-wide (from_pretrained would then load partitioned weights): forget it.
        from transformers.integrations.deepspeed import unset_hf_deepspeed_config

        unset_hf_deepspeed_config()
        greedy = SamplingSpec(n=1, temperature=0.0, max_new_tokens=24)
        hf = HFBackend(folder)
        out["hf_backend"] = {"device": str(hf.device)}
        want = [g.samples[0].token_ids for g in hf.generate(PROMPTS, greedy)]
        other = Learner(LearnerConfig(batch_size=job["batch"]), model_cfg, seed=1)
        other_dir = other.save(Path(tmp) / "other")
        other.close()
        gen = HFBackend(other_dir)
        t = time.perf_counter()
        gen.update_weights_streamed(iter(chunks), sent.summary)
        out["hf_backend"]["stream_seconds"] = round(time.perf_counter() - t, 3)
        checks["hf_backend_takes_the_stream"] = [g.samples[0].token_ids for g in gen.generate(PROMPTS, greedy)] == want
        checks["hf_backend_on_gpu"] = (hf.device.type == "cuda") == torch.cuda.is_available()
    out["ok"] = all(checks.values())
    return out


def nccl_source_check(learner: Any, wire: Any, names: list[str]) -> dict[str, Any]:
    """What vLLM's NCCL weight-transfer engine would be told and sent (no NCCL group: no vLLM peer here)."""
    try:
        from system.models.nccl_sync import learner_source

        source = learner_source(learner, wire)
    except ImportError as e:
        return {"skipped": f"vllm not importable ({e.name})"}
    meta = source.metadata()
    sent = [(n, tuple(t.shape), t.dtype, t.device.type) for n, t in source]
    return {"params": len(meta),
            "metadata_matches_stream": [(m.name, tuple(m.shape), m.dtype) for m in meta] == [s[:3] for s in sent]
            and [m.name for m in meta] == names,
            "on_device": sorted({s[3] for s in sent})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--small", action="store_true", help="tiny model and batch (CPU)")
    ap.add_argument("--stages", default="0,2,3", help="DeepSpeed ZeRO stages, comma-separated")
    ap.add_argument("--steps", type=int, default=None, help="optimizer steps per round")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--hidden", type=int, default=None)
    ap.add_argument("--layers", type=int, default=None)
    ap.add_argument("--heads", type=int, default=None)
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default=None)
    ap.add_argument("--stage-job", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.stage_job:
        print(json.dumps(stage_run(json.loads(Path(args.stage_job).read_text()))))
        return

    import torch

    gpu = torch.cuda.is_available()
    small = args.small
    model = {"hidden": args.hidden or (64 if small else 1024), "layers": args.layers or (2 if small else 16),
             "heads": args.heads or (2 if small else 16), "max_positions": 256}
    dtype = args.dtype or ("bfloat16" if gpu and not small else "float32")
    job = {"model": model, "batch": args.batch or (8 if small else 64), "steps": args.steps or (3 if small else 20),
           "lr": 1e-3, "dtype": dtype, "max_length": 64 if small else 256,
           "wire_dtype": "bfloat16" if dtype == "bfloat16" else "float32",
           "chunk_bytes": 2**14 if small else 64 * 2**20}
    report: dict[str, Any] = {
        "machine": platform.processor() or platform.machine(),
        "gpu": torch.cuda.get_device_name(0) if gpu else None, "torch": torch.__version__, "job": job, "stages": [],
    }
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    for stage in (int(s) for s in args.stages.split(",")):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump({**job, "stage": stage}, f)
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--stage-job", f.name], capture_output=True, text=True,
                              env=env, timeout=3600)
        Path(f.name).unlink()
        if proc.returncode != 0:
            report["stages"].append({"zero_stage": stage, "ok": False, "error": proc.stderr[-3000:]})
            continue
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        result["seconds"] = round(time.perf_counter() - t, 1)
        report["stages"].append(result)
    report["ok"] = all(s["ok"] for s in report["stages"])
    print(json.dumps(report, indent=1))
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    main()
