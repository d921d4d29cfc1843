"""benchmarks/gpu_smoke.py at small sizes on CPU: the checks it runs on a GPU machine all pass here too."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def test_gpu_smoke_runs_on_cpu_at_small_sizes() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_smoke.py"), "--small"], cwd=ROOT,
                          capture_output=True, text=True, timeout=1200)
    report = json.loads(proc.stdout)
    assert proc.returncode == 0 and report["ok"], [s.get("error") or s["checks"] for s in report["stages"]]
    assert [s["zero_stage"] for s in report["stages"]] == [0, 2, 3]
    for stage in report["stages"]:
        assert len(stage["rounds"]) == 3 and all(len(r["losses"]) == report["job"]["steps"] for r in stage["rounds"])
        assert stage["sender"]["chunks"] > 1 and stage["sender"]["nccl_source"]["metadata_matches_stream"]
        assert stage["hf_backend"]["device"] == "cpu"
    # the same data and seed: every stage learns the same first round
    first = [s["rounds"][0]["losses"] for s in report["stages"]]
    assert all(abs(a - b) < 1e-3 for other in first[1:] for a, b in zip(first[0], other))
