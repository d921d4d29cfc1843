"""Selection at scale. Prints JSON.

    python benchmarks/selection.py                                    # 1M x 384-d, budget 100k, reference on 50k
    python benchmarks/selection.py --n 100000 --budget 10000 --ref-n 10000   # a quick run

1. Every strategy on ``--n`` random clustered unit vectors (``--clusters`` Gaussian clusters, random
   quality per cluster plus noise, random complexity): wall seconds (k-means partition included) and
   peak resident memory. Each strategy runs in its own process, so its peak is its own; the peak
   includes the candidates' embeddings themselves (``data_rss_gb``).
2. On the first ``--ref-n`` candidates, the scalable kcenter and qdit (approximate plan: k-means
   cells) against exact greedy references (O(n^2) similarity work): seconds, speed-up and objective
   ratio. qdit's objective is the facility-location value (higher is better; ratio = scalable / exact);
   kcenter's is the covering radius (lower is better; ratio = exact / scalable). Both evaluated exactly.

Timings are wall-clock on whatever else the machine is doing; the 1-minute load average before each
run is reported next to it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import system.qdc  # noqa: F401  (sets OMP_WAIT_POLICY before FAISS loads)
import numpy as np

from system.qdc.config import FilterConfig
from system.qdc.metrics import facility_location_value, kcenter_radius
from system.qdc.strategies import STRATEGIES, SelectionInputs
from system.qdc.strategies.base import rank_order
from system.qdc.synthetic import clustered_embeddings
from system.qdc.threads import single_blas_thread

GB = 1024**3


def _status_gb(key: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) * 1024 / GB
    return float("nan")


def rss_gb() -> float:
    return _status_gb("VmRSS:")


def peak_rss_gb() -> float:
    """This process's resident high-water mark. (ru_maxrss would not do: after a vfork + exec it
    starts from the parent's peak.)"""
    return _status_gb("VmHWM:")


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def config(args: argparse.Namespace) -> FilterConfig:
    return FilterConfig(qdit_alpha=args.alpha, quality_threshold=0.5)


# ------------------------------------------------------------------------------------------------
# data


def make_data(args: argparse.Namespace, folder: Path) -> None:
    x, labels = clustered_embeddings(args.n, args.dim, args.clusters, spread=args.spread, seed=args.seed)
    rng = np.random.default_rng(args.seed + 1)
    quality = 0.5 * rng.random(args.clusters)[labels] + 0.5 * rng.random(args.n)
    np.save(folder / "x.npy", x)
    np.save(folder / "quality.npy", quality)
    np.save(folder / "complexity.npy", rng.random(args.n))


def load_data(folder: Path, n: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if n is None:  # into anonymous memory: a memory-mapped file would count twice in the resident size
        x = np.load(folder / "x.npy")
    else:
        x = np.array(np.load(folder / "x.npy", mmap_mode="r")[:n])
    return x, np.load(folder / "quality.npy")[:n], np.load(folder / "complexity.npy")[:n]


# ------------------------------------------------------------------------------------------------
# workers (one process each)


def strategy_worker(args: argparse.Namespace) -> dict[str, Any]:
    x, quality, complexity = load_data(Path(args.data))
    data_rss = rss_gb()
    cfg = config(args)
    strategy = STRATEGIES.get(args.name)(cfg)
    t0 = time.perf_counter()
    inputs = SelectionInputs.build(quality, complexity, x, exact_below=cfg.exact_below, min_cell=cfg.min_cell,
                                   max_cells=cfg.max_cells, approx=cfg.approx_index)
    if "embeddings" in strategy.needs:
        inputs.partition(args.seed)
    t1 = time.perf_counter()
    choice = strategy.select(inputs, args.budget, args.seed)
    t2 = time.perf_counter()
    return {"seconds": round(t2 - t0, 2), "partition_seconds": round(t1 - t0, 2), "select_seconds": round(t2 - t1, 2),
            "n_selected": int(len(choice.chosen)), "peak_rss_gb": round(peak_rss_gb(), 2),
            "data_rss_gb": round(data_rss, 2)}


def exact_facility_location(x: np.ndarray, quality: np.ndarray, budget: int, alpha: float, seed: int,
                            block: int = 1024) -> np.ndarray:
    """Exact greedy on the dense objective (every pair of candidates), without an n x n matrix.

    Every candidate's marginal gain is kept exact. A pick improves the coverage of the rows it is
    more similar to than their current best (R), and only those rows change other gains: their
    similarities to all candidates are recomputed (|R| x n products), so the total work is
    O(n^2 d) times the average number of improvements per row.
    """
    n = len(x)
    w = (1.0 - alpha) * budget / n
    order = rank_order(quality, seed)  # argmax ties go to the better quality rank, like the strategy
    xs, q = np.ascontiguousarray(x[order]), quality[order]
    gains = alpha * q.astype(np.float64)
    for lo in range(0, n, block):  # initial gains: column sums of all clipped similarities
        gains[lo:lo + block] += w * np.maximum(xs @ xs[lo:lo + block].T, 0.0).sum(axis=0, dtype=np.float64)
    cur = np.zeros(n, dtype=np.float32)
    chosen: list[int] = []
    with single_blas_thread():  # small products in a row, like the strategies' own loops
        for _ in range(budget):
            pick(xs, gains, cur, chosen, w, block)
    return order[np.asarray(chosen)]


def pick(xs: np.ndarray, gains: np.ndarray, cur: np.ndarray, chosen: list[int], w: float, block: int) -> None:
    """One exact greedy step: take the best gain, then update every gain through the improved rows."""
    j = int(np.argmax(gains))
    chosen.append(j)
    col = xs @ xs[j]
    improved = np.flatnonzero(col > cur)
    for lo in range(0, len(improved), block):
        rows = improved[lo:lo + block]
        old, new = cur[rows], col[rows]
        delta = xs[rows] @ xs.T
        delta -= old[:, None]
        np.maximum(delta, 0.0, out=delta)
        np.minimum(delta, (new - old)[:, None], out=delta)
        gains -= w * delta.sum(axis=0, dtype=np.float64)
    cur[improved] = col[improved]
    gains[j] = -np.inf


def reference_worker(args: argparse.Namespace) -> dict[str, Any]:
    x, quality, complexity = load_data(Path(args.data), args.ref_n)
    n, budget, cfg = len(x), args.ref_budget, config(args)
    out: dict[str, Any] = {"n": n, "budget": budget, "load_average_1m": load_average()}

    def scalable(name: str) -> tuple[np.ndarray, float]:
        t0 = time.perf_counter()
        inputs = SelectionInputs.build(quality, complexity, x, exact_below=cfg.exact_below,
                                       min_cell=cfg.min_cell, max_cells=cfg.max_cells)
        chosen = STRATEGIES.get(name)(cfg).select(inputs, budget, args.seed).chosen
        return chosen, time.perf_counter() - t0

    chosen, t_fast = scalable("qdit")
    t0 = time.perf_counter()
    exact = exact_facility_location(x, quality, budget, args.alpha, args.seed)
    t_exact = time.perf_counter() - t0
    f_fast = facility_location_value(x, quality, chosen, args.alpha, budget)
    f_exact = facility_location_value(x, quality, exact, args.alpha, budget)
    out["qdit"] = {"objective": "facility location, higher is better", "scalable_seconds": round(t_fast, 2),
                   "exact_seconds": round(t_exact, 2), "speedup": round(t_exact / t_fast, 1),
                   "scalable_objective": round(f_fast, 3), "exact_objective": round(f_exact, 3),
                   "ratio": round(f_fast / f_exact, 4)}

    chosen, t_fast = scalable("kcenter")
    t0 = time.perf_counter()
    exact_inputs = SelectionInputs.build(quality, complexity, x, exact_below=n + 1)
    exact = STRATEGIES.get("kcenter")(cfg).select(exact_inputs, budget, args.seed).chosen
    t_exact = time.perf_counter() - t0
    r_fast, r_exact = kcenter_radius(x, chosen), kcenter_radius(x, exact)
    out["kcenter"] = {"objective": "covering radius, lower is better", "scalable_seconds": round(t_fast, 2),
                      "exact_seconds": round(t_exact, 2), "speedup": round(t_exact / t_fast, 1),
                      "scalable_radius": round(r_fast, 4), "exact_radius": round(r_exact, 4),
                      "ratio": round(r_exact / r_fast, 4)}
    out["peak_rss_gb"] = round(peak_rss_gb(), 2)
    return out


# ------------------------------------------------------------------------------------------------
# driver


def run_worker(kind: str, args: argparse.Namespace, folder: Path, **extra: object) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--worker", kind, "--data", str(folder)]
    for key in ("n", "dim", "budget", "clusters", "seed", "alpha", "ref_n", "ref_budget"):
        cmd += [f"--{key.replace('_', '-')}", str(getattr(args, key))]
    for key, value in extra.items():
        cmd += [f"--{key}", str(value)]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
    if args.threads:
        env.update(OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads))
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="candidates")
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--budget", type=int, default=100_000)
    ap.add_argument("--clusters", type=int, default=0, help="Gaussian clusters (default n / 1000, at least 10)")
    ap.add_argument("--spread", type=float, default=1.0, help="cluster noise norm (1.0: cosine ~0.5 inside a cluster)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--alpha", type=float, default=0.5, help="qdit quality weight")
    ap.add_argument("--strategies", default=",".join(STRATEGIES.names()))
    ap.add_argument("--ref-n", type=int, default=50_000, help="candidates for the exact-greedy comparison (0: skip)")
    ap.add_argument("--ref-budget", type=int, default=0, help="default: the same fraction as --budget / --n")
    ap.add_argument("--threads", type=int, default=0, help="OpenMP/BLAS threads per run (default: library default)")
    ap.add_argument("--worker", choices=["strategy", "reference"], help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--name", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.clusters = args.clusters or max(10, args.n // 1000)
    args.ref_n = min(args.ref_n, args.n)
    args.ref_budget = args.ref_budget or max(1, round(args.ref_n * args.budget / args.n))
    if args.worker == "strategy":
        print(json.dumps(strategy_worker(args)))
        return
    if args.worker == "reference":
        print(json.dumps(reference_worker(args)))
        return

    names = [s for s in args.strategies.split(",") if s]
    for name in names:
        STRATEGIES.get(name)
    report: dict[str, Any] = {
        "data": {"n": args.n, "dim": args.dim, "clusters": args.clusters, "spread": args.spread, "budget": args.budget,
                 "seed": args.seed, "qdit_alpha": args.alpha},
        "machine": {"cpus": os.cpu_count(), "threads": args.threads or "default"},
        "strategies": {},
    }
    with tempfile.TemporaryDirectory(prefix="qdc-bench-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        make_data(args, folder)
        report["data"]["generate_seconds"] = round(time.perf_counter() - t0, 2)
        for name in names:
            load = load_average()
            report["strategies"][name] = {**run_worker("strategy", args, folder, name=name), "load_average_1m": load}
        if args.ref_n:
            report["reference"] = run_worker("reference", args, folder)
    timed = [v["seconds"] for v in report["strategies"].values() if "seconds" in v]
    ref = report.get("reference", {})
    report["goals"] = {
        "every_strategy_within_60s": bool(timed) and max(timed) <= 60,
        "slowest_strategy_seconds": max(timed) if timed else None,
        **{f"{k}_speedup_at_least_20x": ref[k]["speedup"] >= 20 for k in ("qdit", "kcenter") if k in ref},
        **{f"{k}_ratio_at_least_0.98": ref[k]["ratio"] >= 0.98 for k in ("qdit", "kcenter") if k in ref},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
