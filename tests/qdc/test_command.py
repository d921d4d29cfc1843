"""``qdc filter`` end to end, through the real command line in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.qdc.conftest import tint_candidates

ROOT = Path(__file__).resolve().parents[2]


def qdc(*args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "system.cli", "filter", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_filter_tint_candidates_to_files(tmp_path: Path) -> None:
    records = tint_candidates(k=2, prompts_per_task=20)
    src = write_jsonl(tmp_path / "cands.jsonl", records)
    out = tmp_path / "out" / "kept.jsonl"
    done = qdc(src, "--strategy", "qdit", "--budget", 30, "--seed", 2, "--out", out)
    assert done.returncode == 0, done.stderr
    kept = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(kept) == 30 and all(r in records for r in kept)
    summary = json.loads((tmp_path / "out" / "kept.jsonl.summary.json").read_text())
    assert summary["strategy"] == "qdit" and summary["n_candidates"] == len(records) and summary["n_selected"] == 30
    assert summary["quality"] == "TInt verifier" and summary["tint_records"] is True
    assert set(summary["metrics"]) == {"candidates", "selection"}
    assert summary["metrics"]["selection"]["quality_mean"] > summary["metrics"]["candidates"]["quality_mean"]
    assert sum(summary["reasons"].values()) == len(records)
    assert sorted(p.name for p in out.parent.iterdir()) == ["kept.jsonl", "kept.jsonl.summary.json"]


def test_filter_any_jsonl_to_stdout(tmp_path: Path) -> None:
    rows = [{"instruction": f"write a poem about topic {i % 7} number {i}", "score": i % 5} for i in range(40)]
    src = write_jsonl(tmp_path / "instr.jsonl", rows)
    done = qdc(src, "--strategy", "top_quality", "--budget", 8, "--text-field", "instruction",
               "--quality-field", "score")
    assert done.returncode == 0, done.stderr
    kept = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(kept) == 8 and all(r["score"] == 4 for r in kept)
    summary = json.loads(done.stderr)
    assert summary["quality"] == "field 'score'" and summary["n_selected"] == 8


@pytest.mark.parametrize("case", ["missing_field", "empty", "budget", "not_json", "unknown_strategy", "bad_quality"])
def test_bad_input_is_one_clear_error_and_leaves_nothing(tmp_path: Path, case: str) -> None:
    good = [{"text": f"row {i}", "score": i} for i in range(5)]
    src = tmp_path / "in.jsonl"
    args: list[object] = ["--strategy", "random", "--budget", 2, "--text-field", "text"]
    if case == "missing_field":
        write_jsonl(src, good[:3] + [{"other": 1}] + good[3:])
        expect = "needs field 'text' on every record; " + f"{src}:4 has none"
    elif case == "empty":
        src.write_text("\n")
        expect = "no records"
    elif case == "budget":
        write_jsonl(src, good)
        args[3] = 6
        expect = "--budget 6 is more than the 5 records"
    elif case == "not_json":
        src.write_text(json.dumps(good[0]) + "\n" + json.dumps(good[1]) + "\n{oops\n")
        expect = f"{src}:3: not a JSON line"
    elif case == "unknown_strategy":
        write_jsonl(src, good)
        args[1] = "diversity"
        expect = ("--strategy 'diversity' is unknown; known: deita, kcenter, none, qdit, quality_threshold, "
                  "random, semdedup, top_quality")
    else:
        write_jsonl(src, good[:2] + [{"text": "x", "score": "high"}])
        args += ["--quality-field", "score"]
        expect = f"{src}:3 has 'high'"
    out = tmp_path / "kept.jsonl"
    done = qdc(src, *args, "--out", out)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and expect in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]
