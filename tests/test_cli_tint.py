"""The `qdc tint` verbs as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QDC = [sys.executable, "-m", "system.cli"]


def qdc(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(QDC + list(args), capture_output=True, text=True, cwd=ROOT)


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_tasks_lists_every_required_task_with_splits() -> None:
    rows = {r["task"]: r for r in lines(qdc("tint", "tasks").stdout)}
    required = {"add", "mul", "median", "sum", "max", "min", "range", "sort", "mean", "mode", "prefix_sum", "second_largest"}
    assert required <= set(rows)
    assert set(rows["sum"]["splits"]) == {"id", "ood_length", "ood_digits", "ood_task"}
    assert "ood_length" not in rows["add"]["splits"]


def test_sample_then_verify(tmp_path: Path) -> None:
    out = tmp_path / "s.jsonl"
    proc = qdc("tint", "sample", "--task", "sum", "--split", "ood_length", "--n", "40", "--seed", "3",
               "--noise", "dynamic", "--contamination", "0.5", "--intensity", "0.2", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    records = lines(out.read_text())
    assert len(records) == 40
    for r in records:
        assert {"task", "input", "prompt", "completion", "answer", "noise"} <= set(r)
        assert set(r["noise"]) >= {"kind", "noised", "steps"}
        assert 6 <= len(r["input"]) <= 8
    assert sum(r["noise"]["noised"] for r in records) == 20
    verified = lines(qdc("tint", "verify", str(out)).stdout)
    assert len(verified) == 40
    for r in verified:
        v = r["verdict"]
        assert set(v) >= {"parsed", "answer_correct", "steps_valid", "chain_consistent", "first_bad_step", "noise_kind"}
        assert v["answer_correct"] == (not r["noise"]["noised"])
        assert v["noise_kind"] == ("dynamic" if r["noise"]["noised"] else "none")


def test_verify_reads_another_field(tmp_path: Path) -> None:
    src = tmp_path / "m.jsonl"
    src.write_text(json.dumps({"task": "max", "input": [3, 9], "output": " 9>3=1 #9"}) + "\n")
    (r,) = lines(qdc("tint", "verify", str(src), "--field", "output").stdout)
    assert r["verdict"]["answer_correct"] is True and r["verdict"]["noise_kind"] == "none"
    (r,) = lines(qdc("tint", "verify", str(src)).stdout)  # no `completion` field: a verdict, not a crash
    assert r["verdict"]["parsed"] is False and r["verdict"]["noise_kind"] == "malformed"


@pytest.mark.parametrize(
    "bad_line,message",
    [
        ("not json at all", ":3: not a JSON line"),
        (json.dumps({"input": [1, 2], "completion": " #3"}), ":3: not a TInt record: no 'task'"),
        (json.dumps({"task": "sum", "completion": " #3"}), ":3: not a TInt record: no 'input'"),
        (json.dumps({"task": "fly", "input": [1, 2]}), ":3: unknown TInt task 'fly'"),
        (json.dumps({"task": "sum", "input": [1, "2"]}), ":3: 'input' must be a non-empty list of integers"),
        (json.dumps({"task": "add", "input": [1, 2, 3]}), ":3: task 'add' needs 2 input numbers"),
        (json.dumps({"task": "add", "input": [-3, 5]}), ":3: task 'add' cannot run on input [-3, 5]"),
        (json.dumps({"task": "sum", "input": list(range(200_000))}), ":3: input has 200,000 numbers"),
        (json.dumps({"task": "range", "input": list(range(3000))}), ":3: task 'range' cannot run on input [0, 1, 2, 3, 4, 5, ...]"),
        ('{"task": "sum", "input": ' + "[" * 100_000 + "]" * 100_000 + "}", ":3: JSON nested too deeply"),
    ],
)
def test_verify_bad_line_names_it_and_writes_nothing(tmp_path: Path, bad_line: str, message: str) -> None:
    good = json.dumps({"task": "sum", "input": [1, 2], "completion": " 1+2=3 #3"})
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join([good, good, bad_line, good]) + "\n")
    out = tmp_path / "out.jsonl"
    proc = qdc("tint", "verify", str(src), "--out", str(out))
    assert proc.returncode == 2 and proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and len(proc.stderr) < 400  # inputs are cut, never echoed whole
    assert message in proc.stderr
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [src]


def test_verify_skip_bad_drops_and_counts_what_cannot_be_verified(tmp_path: Path) -> None:
    good = json.dumps({"task": "sum", "input": [1, 2], "completion": " 1+2=3 #3"})
    bad = [json.dumps({"task": "add", "input": [-3, 5]}), json.dumps({"task": "fly", "input": [1, 2]})]
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join([good, bad[0], good, bad[1], good]) + "\n")
    proc = qdc("tint", "verify", str(src), "--skip-bad")
    assert proc.returncode == 0, proc.stderr
    assert [r["verdict"]["answer_correct"] for r in lines(proc.stdout)] == [True, True, True]
    assert json.loads(proc.stderr) == {"verified": 3, "skipped": 2, "skipped_lines": [2, 4]}


def test_verify_refuses_out_equal_to_its_input(tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"task": "sum", "input": [1, 2], "completion": " 1+2=3 #3"}) + "\n")
    before = src.read_bytes()
    proc = qdc("tint", "verify", str(src), "--out", str(src))
    assert proc.returncode == 2 and "is (or holds) the input" in proc.stderr and src.read_bytes() == before


@pytest.mark.parametrize(
    "args,message",
    [
        (["--task", "fly"], "unknown TInt task 'fly'"),
        (["--task", "add", "--split", "ood_length"], "--split 'ood_length'"),
        (["--task", "sum", "--noise", "loud"], "--noise 'loud'"),
        (["--task", "sum", "--intensity", "1.5"], "--intensity must be in [0, 1]"),
        (["--task", "sum", "--static-draw", "gaussian"], "--static-draw 'gaussian'"),
        (["--task", "sum", "--dynamic-unit", "bit"], "--dynamic-unit 'bit'"),
    ],
)
def test_sample_rejects_bad_flags(args: list[str], message: str) -> None:
    proc = qdc("tint", "sample", *args)
    assert proc.returncode == 2 and message in proc.stderr and proc.stdout == ""


def test_sample_is_seeded() -> None:
    a = qdc("tint", "sample", "--task", "mode", "--n", "20", "--seed", "4", "--noise", "static").stdout
    b = qdc("tint", "sample", "--task", "mode", "--n", "20", "--seed", "4", "--noise", "static").stdout
    c = qdc("tint", "sample", "--task", "mode", "--n", "20", "--seed", "5", "--noise", "static").stdout
    assert a == b != c


def test_sample_noise_definition_flags() -> None:
    """The study's definitions by default (uniform static draw, dynamic noise per digit); today's
    earlier ones by flag. Each record says which it carries."""
    base = ["tint", "sample", "--task", "sum", "--n", "5", "--seed", "2"]
    static = lines(qdc(*base, "--noise", "static").stdout)
    assert all(r["noise"]["draw"] == "uniform" for r in static)
    different = lines(qdc(*base, "--noise", "static", "--static-draw", "different").stdout)
    assert all(r["noise"]["draw"] == "different" for r in different) and different != static
    dynamic = lines(qdc(*base, "--noise", "dynamic").stdout)
    step = lines(qdc(*base, "--noise", "dynamic", "--dynamic-unit", "step").stdout)
    assert {r["noise"]["unit"] for r in dynamic} == {"digit"} and {r["noise"]["unit"] for r in step} == {"step"}
