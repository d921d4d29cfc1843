"""Per-iteration results of one recipe over several seeds: mean, standard deviation and range of each
accuracy across the runs, and the gain of every run from its seed model. Prints JSON; `--plot F.png`
draws the per-iteration mean with a band (min-max over seeds) and each run as a thin line.

    python benchmarks/seed_spread.py RUN_DIR [RUN_DIR ...] [--level 6] [--plot docs/quickstart_accuracy.png]

The runs are `qdc run` directories of the same recipe with different `seed`s. `--level` picks the
curriculum level (TInt: list length; dataset family: difficulty) whose accuracy is followed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any


def rows_of(run: Path) -> list[dict[str, Any]]:
    path = run / "metrics.jsonl"
    if not path.is_file():
        raise SystemExit(f"{path}: no metrics.jsonl (not a run directory, or the run has not started)")
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def series(rows: list[dict[str, Any]], level: str) -> dict[str, list[float | None]]:
    """The accuracies followed, one value per iteration."""
    level_key = f"accuracy_by_{rows[0].get('level_name', 'length')}"
    out: dict[str, list[float | None]] = {"id": [], "ood": [], f"level_{level}": []}
    splits = sorted({s for r in rows for s in r.get("accuracy_by_split", {})})
    for s in splits:
        out[f"split_{s}"] = []
    for r in rows:
        out["id"].append(r["id_accuracy"])
        out["ood"].append(r["ood_accuracy"])
        out[f"level_{level}"].append(r.get(level_key, {}).get(level))
        for s in splits:
            out[f"split_{s}"].append(r.get("accuracy_by_split", {}).get(s))
    return out


def spread(values: list[float]) -> dict[str, float]:
    return {"mean": round(statistics.fmean(values), 4),
            "std": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
            "min": round(min(values), 4), "max": round(max(values), 4)}


def summarise(runs: list[Path], level: str) -> dict[str, Any]:
    per_run = [series(rows_of(run), level) for run in runs]  # in the order given (a run may repeat)
    n_iter = min(len(s["id"]) for s in per_run)
    keys = list(per_run[0])
    table = []
    for i in range(n_iter):
        row: dict[str, Any] = {"iteration": i}
        for key in keys:
            values = [s[key][i] for s in per_run if key in s and s[key][i] is not None]
            if values:
                row[key] = spread(values)
        table.append(row)
    gains = {}
    for key in keys:
        runs_gain = [s[key][n_iter - 1] - s[key][0] for s in per_run
                     if key in s and s[key][0] is not None and s[key][n_iter - 1] is not None]
        if runs_gain:
            gains[key] = {**spread(runs_gain), "per_run": [round(g, 4) for g in runs_gain]}
    return {"benchmark": "seed_spread", "runs": [str(run) for run in runs], "level": level, "iterations": n_iter - 1,
            "per_iteration": table, "gain_last_vs_seed_model": gains, "per_run": per_run}


def plot(summary: dict[str, Any], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [k for k in summary["per_iteration"][0] if k != "iteration" and not k.startswith("split_")]
    keys += [k for k in summary["per_iteration"][0] if k.startswith("split_") and k not in ("split_id",)]
    fig, ax = plt.subplots(figsize=(7, 4))
    xs = [r["iteration"] for r in summary["per_iteration"]]
    for key in dict.fromkeys(keys):
        if key == "ood" and any(k.startswith("split_") for k in keys):
            continue  # the OOD splits are drawn one by one
        mean = [r[key]["mean"] for r in summary["per_iteration"]]
        line, = ax.plot(xs, mean, marker="o", label=key.replace("split_", "").replace("level_", "level "))
        ax.fill_between(xs, [r[key]["min"] for r in summary["per_iteration"]],
                        [r[key]["max"] for r in summary["per_iteration"]], color=line.get_color(), alpha=0.15)
        for run in summary["per_run"]:
            ax.plot(xs, run[key][:len(xs)], color=line.get_color(), alpha=0.35, linewidth=0.8)
    ax.set_xlabel("iteration (0 = seed model)")
    ax.set_ylabel("greedy accuracy")
    ax.set_xticks(xs)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--level", default="6", help="curriculum level whose accuracy is followed")
    ap.add_argument("--plot", type=Path, help="write the figure here")
    ap.add_argument("--title", default="mean over seeds; band: min-max; thin lines: each seed")
    args = ap.parse_args()
    summary = summarise(args.runs, args.level)
    if args.plot:
        plot(summary, args.plot, args.title)
    json.dump(summary, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
