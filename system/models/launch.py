"""Run a learner job on ``world_size`` plain processes, one rank each (no launcher needed).

The parent builds DeepSpeed's JIT ops once, picks the master port, writes the job as JSON, and starts
``python -m system.models.launch JOB.json`` per rank with RANK / WORLD_SIZE / LOCAL_RANK /
MASTER_ADDR / MASTER_PORT set. Every rank builds a `Learner`, trains on the same records, and rank 0
writes the metrics (and the checkpoint when asked). The wait is bounded; a rank that fails takes
the others down and its stderr tail is in the error.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

from system.errors import QdcError
from system.models.config import LearnerConfig, ModelConfig
from system.models.distributed import build_deepspeed_ops, cpu_threads, free_port


class RankFailure(QdcError):
    """A learner rank exited with an error or did not finish in time."""


def write_job(
    path: Path,
    *,
    learner: LearnerConfig,
    model: ModelConfig,
    seed: int,
    records: Sequence[Mapping[str, Any]],
    train_kwargs: Mapping[str, Any] | None = None,
    save_dir: str | Path | None = None,
    loss_records: Sequence[Mapping[str, Any]] | None = None,
    init_dir: str | Path | None = None,
    rounds: int = 1,
    tokenizer_dir: str | Path | None = None,
    round_dirs: str | Path | None = None,
    rebuild_from: Sequence[str | Path] = (),
) -> Path:
    job = {
        "learner": learner.model_dump(mode="json"),
        "model": model.model_dump(mode="json"),
        "seed": seed,
        "records": [{"prompt": r["prompt"], "completion": r["completion"]} for r in records],
        "train_kwargs": dict(train_kwargs or {}),
        "save_dir": str(save_dir) if save_dir is not None else None,
        "loss_records": [{"prompt": r["prompt"], "completion": r["completion"]} for r in loss_records or []],
        "init_dir": str(init_dir) if init_dir is not None else None,
        "tokenizer_dir": str(tokenizer_dir) if tokenizer_dir is not None else None,
        "rounds": rounds,
        "round_dirs": str(round_dirs) if round_dirs is not None else None,
        "rebuild_from": [str(d) for d in rebuild_from],
    }
    path.write_text(json.dumps(job))
    return path


def run_ranks(
    learner: LearnerConfig,
    model: ModelConfig,
    *,
    seed: int,
    records: Sequence[Mapping[str, Any]],
    train_kwargs: Mapping[str, Any] | None = None,
    save_dir: str | Path | None = None,
    loss_records: Sequence[Mapping[str, Any]] | None = None,
    init_dir: str | Path | None = None,
    rounds: int = 1,
    round_dirs: str | Path | None = None,
    rebuild_from: Sequence[str | Path] = (),
    timeout_s: float = 1800.0,
    attempts: int = 2,
    show_rank0: bool = False,
    tokenizer_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Train on ``learner.world_size`` processes; returns rank 0's metrics (plus ``loss`` on
    ``loss_records`` when given). ``rounds`` > 1 repeats the train call on the same learner, as
    loop iterations do (``result["rounds"]`` has each call's metrics and, after it, what the process
    holds: `teardown.Census` of rank 0); with ``round_dirs`` each round's weights are saved to
    ``round_dirs/round_<k>`` (k from 1). ``rebuild_from`` instead builds a fresh learner from each
    folder in turn and trains it one round (``result["rounds"]``). Retries once when rank 0
    cannot open the master port.
    ``show_rank0`` lets rank 0 write to this terminal (progress bars) instead of a captured log."""
    if learner.zero_stage is not None:
        build_deepspeed_ops()
    with tempfile.TemporaryDirectory(prefix="qdc-ranks-") as tmp:
        job = write_job(Path(tmp) / "job.json", learner=learner, model=model, seed=seed, records=records,
                        train_kwargs=train_kwargs, save_dir=save_dir, loss_records=loss_records, init_dir=init_dir,
                        rounds=rounds, round_dirs=round_dirs, rebuild_from=rebuild_from, tokenizer_dir=tokenizer_dir)
        for attempt in range(attempts):
            result_path = Path(tmp) / f"result{attempt}.json"
            try:
                _spawn_and_wait(job, result_path, learner, timeout_s, show_rank0)
            except RankFailure as e:
                if attempt + 1 < attempts and ("EADDRINUSE" in str(e) or "address already in use" in str(e)):
                    continue
                raise
            return json.loads(result_path.read_text())
    raise RankFailure("learner ranks did not start")  # pragma: no cover - loop always returns or raises


def _spawn_and_wait(job: Path, result: Path, learner: LearnerConfig, timeout_s: float, show_rank0: bool) -> None:
    world = learner.world_size
    port = free_port()
    threads = cpu_threads(world, learner.threads_per_rank)
    procs: list[tuple[subprocess.Popen[bytes], Any]] = []
    for rank in range(world):
        env = dict(os.environ)
        env.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), LOCAL_WORLD_SIZE=str(world),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS=str(threads))
        err = tempfile.TemporaryFile()
        cmd = [sys.executable, "-m", "system.models.launch", str(job), str(result)]
        shown = show_rank0 and rank == 0
        out = None if shown else err
        procs.append((subprocess.Popen(cmd, env=env, stdout=out, stderr=out), err))
    deadline = time.monotonic() + timeout_s
    failed: list[str] = []
    try:
        while any(p.poll() is None for p, _ in procs):
            if time.monotonic() > deadline:
                failed.append(f"timed out after {timeout_s:.0f} s")
                break
            if any(p.returncode not in (None, 0) for p, _ in procs):
                break
            time.sleep(0.5)
    finally:
        for p, _ in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for rank, (p, err) in enumerate(procs):
        if p.returncode != 0:
            err.seek(0)
            tail = err.read().decode(errors="replace")[-3000:]
            failed.append(f"rank {rank} exited with {p.returncode}:\n{tail or '(output shown above)'}")
        err.close()
    if failed:
        raise RankFailure("learner ranks failed: " + "\n".join(failed))


def _rank_main(job_path: str, result_path: str) -> None:
    from system.models.learner import Learner
    from system.models.teardown import census

    job = json.loads(Path(job_path).read_text())
    rank = int(os.environ["RANK"])

    def build(init_dir: str | None) -> Learner:
        return Learner(
            LearnerConfig.model_validate(job["learner"]),
            ModelConfig.model_validate(job["model"]),
            seed=job["seed"],
            rank=rank,
            master_addr=os.environ["MASTER_ADDR"],
            master_port=int(os.environ["MASTER_PORT"]),
            local_rank=int(os.environ["LOCAL_RANK"]),
            init_dir=init_dir,
            tokenizer_dir=job.get("tokenizer_dir"),
        )

    if job.get("rebuild_from"):
        # one fresh learner per folder (a new model from its weights, a new trainer), one round each
        history = []
        for init_dir in job["rebuild_from"]:
            learner = build(init_dir)
            history.append(learner.train(job["records"], **job["train_kwargs"]))
        if rank == 0:
            Path(result_path).write_text(json.dumps({"rounds": history}))
        learner.close()
        return
    learner = build(job["init_dir"])
    start = census(learner.model).to_dict() if job["rounds"] > 1 else None
    history = []
    for k in range(1, job["rounds"] + 1):
        history.append(learner.train(job["records"], **job["train_kwargs"]))
        if job["rounds"] > 1:
            history[-1]["after"] = census(learner.model).to_dict()
        if job.get("round_dirs"):
            learner.save(Path(job["round_dirs"]) / f"round_{k}")
    metrics = dict(history[-1])
    if len(history) > 1:
        metrics["rounds"] = history
        metrics["before_rounds"] = start
    if job["loss_records"]:
        metrics["loss"] = learner.loss(job["loss_records"])
    if job["save_dir"]:
        learner.save(job["save_dir"])
    if rank == 0:
        Path(result_path).write_text(json.dumps(metrics))
    learner.close()


if __name__ == "__main__":
    _rank_main(sys.argv[1], sys.argv[2])
