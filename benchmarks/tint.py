"""TInt throughput on one core: records/s for sample+render and for verify. Prints JSON.

    python benchmarks/tint.py [--n 20000] [--tasks sum,max,...]

Verify is measured on clean completions (what a trained model mostly writes), on noised ones
(static and dynamic at intensity 0.3: the slow path that replays the task), and on a 50/50 mix.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from system.tint import TASKS, NoiseSpec, sample_records, verify


def rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=20_000, help="records per measurement")
    ap.add_argument("--tasks", default=",".join(TASKS))
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    tasks = args.tasks.split(",")
    per_task = max(1, args.n // len(tasks))

    t0 = time.perf_counter()
    clean = [r for t in tasks for r in sample_records(t, "id", per_task, seed=1)]
    sample_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    noisy = [r for t in tasks for kind in ("static", "dynamic")
             for r in sample_records(t, "id", per_task // 2, seed=2, noise=NoiseSpec(kind, 1.0, 0.3))]  # type: ignore[arg-type]
    sample_noisy_s = time.perf_counter() - t0

    def verify_all(records: list[dict]) -> float:
        start = time.perf_counter()
        for r in records:
            verify(r["task"], r["input"], r["completion"])
        return time.perf_counter() - start

    verify_clean_s = verify_all(clean)
    verify_noisy_s = verify_all(noisy)
    mixed = clean[: len(clean) // 2] + noisy[: len(noisy) // 2]
    verify_mixed_s = verify_all(mixed)
    print(json.dumps({
        "benchmark": "tint",
        "cores": 1,
        "tasks": tasks,
        "sample_render_clean_per_s": rate(len(clean), sample_s),
        "sample_render_noised_per_s": rate(len(noisy), sample_noisy_s),
        "verify_clean_per_s": rate(len(clean), verify_clean_s),
        "verify_noised_per_s": rate(len(noisy), verify_noisy_s),
        "verify_mixed_per_s": rate(len(mixed), verify_mixed_s),
        "goal": {"sample_render_per_s": 20_000, "verify_per_s": 50_000},
        "n": {"clean": len(clean), "noised": len(noisy), "mixed": len(mixed)},
    }, indent=2))


if __name__ == "__main__":
    main()
