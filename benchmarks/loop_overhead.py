"""Where a run's time goes: the seed stage, each iteration's stages, and the share of the loop's wall
time spent outside generate / learn / eval. Prints JSON.

    python benchmarks/loop_overhead.py RUN_DIR                  # analyse a finished run
    python benchmarks/loop_overhead.py --recipe R [--set k=v]   # run R (into a temp dir) first

Overhead is everything else inside an iteration: the filter (scoring, embedding, selection), the
weight sync, and the controller's own bookkeeping (parquet/JSON writes, Ray calls). Ray start-up and
actor/engine start happen once per run and are reported separately.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

WORK = ("generate_s", "learn_s", "eval_s")


def analyse(run_dir: Path) -> dict:
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines() if x.strip()]
    loop_rows = [r for r in rows if r["iteration"] > 0]
    wall = sum(r["wall_s"] for r in loop_rows)
    work = sum(r[k] for r in loop_rows for k in WORK)
    per_iteration = [
        {"iteration": r["iteration"], "wall_s": r["wall_s"], "overhead_share": round(1 - sum(r[k] for k in WORK) / r["wall_s"], 4),
         **{k: r[k] for k in ("generate_s", "filter_s", "learn_s", "sync_s", "eval_s")}}
        for r in loop_rows
    ]
    seed = next((r for r in rows if r["iteration"] == 0), None)
    stages = ("generate_s", "filter_s", "learn_s", "sync_s", "eval_s")
    return {
        "benchmark": "loop_overhead",
        "run_dir": str(run_dir),
        "seed_stage": None if seed is None else {k: seed[k] for k in ("wall_s", "learn_s", "eval_s")},
        "stage_totals_s": {k: round(sum(r[k] for r in rows), 3) for k in stages},
        "run_wall_s": round(sum(r["wall_s"] for r in rows), 3),
        "iterations": len(loop_rows),
        "loop_wall_s": round(wall, 3),
        "overhead_share": round(1 - work / wall, 4) if wall else None,
        "goal_overhead_share": 0.05,
        "filter_s": round(sum(r["filter_s"] for r in loop_rows), 3),
        "sync_s": round(sum(r["sync_s"] for r in loop_rows), 3),
        "per_iteration": per_iteration,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir", nargs="?", type=Path)
    ap.add_argument("--recipe", type=Path)
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    args = ap.parse_args()
    if args.run_dir is None and args.recipe is None:
        ap.error("give a RUN_DIR or --recipe")
    extra = {}
    if args.recipe is not None:
        from actors.driver import run_loop
        from system.config import dump_recipe, load_recipe

        out = Path(tempfile.mkdtemp(prefix="qdc-overhead-")) / "run"
        recipe = load_recipe(args.recipe, [*args.overrides, f"run.dir={out}"])
        start = time.perf_counter()
        run_loop(recipe, dump_recipe(recipe))
        extra["total_s"] = round(time.perf_counter() - start, 3)
        args.run_dir = out
    result = analyse(args.run_dir)
    rows = [json.loads(x) for x in (args.run_dir / "metrics.jsonl").read_text().splitlines() if x.strip()]
    if extra:
        loop_total = sum(r["wall_s"] for r in rows)
        extra["startup_and_shutdown_s"] = round(extra["total_s"] - loop_total, 3)
    json.dump({**result, **extra}, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
