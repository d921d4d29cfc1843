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
    assert summary["quality_rescaling"].startswith("rank")


@pytest.mark.parametrize("case", ["missing_field", "empty", "budget", "not_json", "unknown_strategy", "bad_quality"])
def test_bad_input_is_one_clear_error_and_leaves_nothing(tmp_path: Path, case: str) -> None:
    good = [{"text": f"row {i}", "score": i} for i in range(5)]
    src = tmp_path / "in.jsonl"
    args: list[object] = ["--strategy", "random", "--budget", 2, "--text-field", "text"]
    if case == "missing_field":
        write_jsonl(src, good[:3] + [{"other": 1}] + good[3:])
        expect = f"{src}:4: needs text in field 'text' (--text-field), has nothing"
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
        expect = f"{src}:3: needs a finite number in field 'score' (--quality-field), has 'high'"
    out = tmp_path / "kept.jsonl"
    done = qdc(src, *args, "--out", out)
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and expect in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


# -- issue 14: output never clobbers input; per-record errors; robust quality ----------------------


def one_line_error(done: subprocess.CompletedProcess[str], *expect: str) -> None:
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert len(done.stderr.strip().splitlines()) == 1 and len(done.stderr) < 600
    for e in expect:
        assert e in done.stderr, done.stderr


def scored_rows(n: int = 30) -> list[dict]:
    return [{"text": f"row {i} " + "ab" * (i % 7), "score": i} for i in range(n)]


def test_out_that_is_the_input_is_refused_and_the_input_kept(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", scored_rows())
    before = src.read_bytes()
    for out in (src, tmp_path / "." / "in.jsonl"):
        done = qdc(src, "--strategy", "top_quality", "--budget", 3, "--text-field", "text", "--quality-field", "score",
                   "--out", out)
        one_line_error(done, "--out", "is (or holds) the input")
    assert src.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_out_onto_an_existing_file_whose_write_fails_keeps_that_file(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", scored_rows())
    out = tmp_path / "kept.jsonl"
    out.write_text("an earlier selection\n")
    (tmp_path / "kept.jsonl.summary.json").mkdir()  # the summary cannot be written there
    done = qdc(src, "--strategy", "top_quality", "--budget", 3, "--text-field", "text", "--quality-field", "score",
               "--out", out)
    one_line_error(done, "kept.jsonl.summary.json: is a folder")
    assert out.read_text() == "an earlier selection\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "kept.jsonl", "kept.jsonl.summary.json"]


def test_a_rerun_replaces_both_output_files(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", scored_rows())
    out = tmp_path / "kept.jsonl"
    for budget in (3, 5):
        done = qdc(src, "--strategy", "top_quality", "--budget", budget, "--text-field", "text", "--quality-field",
                   "score", "--out", out)
        assert done.returncode == 0, done.stderr
    assert len(out.read_text().splitlines()) == 5
    assert json.loads((tmp_path / "kept.jsonl.summary.json").read_text())["n_selected"] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl", "kept.jsonl", "kept.jsonl.summary.json"]


def test_one_malformed_tint_record_is_an_error_not_a_switch_to_uniform_quality(tmp_path: Path) -> None:
    records = tint_candidates(k=2, prompts_per_task=4)[:8]
    records[3] = {**records[3], "task": "nosuchtask"}
    src = write_jsonl(tmp_path / "in.jsonl", records)
    done = qdc(src, "--strategy", "top_quality", "--budget", 4)
    one_line_error(done, f"{src}:4: not a TInt record: has task 'nosuchtask'", "--skip-bad")
    clean = [r for r in records if r["task"] != "nosuchtask" and not r["noise"]["noised"]]
    assert len(clean) == 3 and len(records) - len(clean) == 5
    done = qdc(src, "--strategy", "top_quality", "--budget", 3, "--skip-bad")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stderr)
    assert summary["quality"] == "TInt verifier" and summary["tint_records"] is True
    assert summary["skipped"] == {"count": 1, "lines": [4]} and summary["n_candidates"] == 7
    kept = [json.loads(line) for line in done.stdout.splitlines()]
    assert kept == clean  # the verifier still scores every good record: the clean ones rank first


def test_records_without_tint_fields_get_uniform_quality_and_the_summary_says_why(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", [{"completion": f"text {i}"} for i in range(6)])
    done = qdc(src, "--strategy", "random", "--budget", 2)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stderr)
    assert summary["tint_records"] is False and summary["quality"].startswith("uniform")
    assert "no record has the TInt fields" in summary["quality"]


def test_an_outlier_quality_does_not_collapse_the_others(tmp_path: Path) -> None:
    rows = [{"text": f"row {i} " + "x" * i, "q": float(i)} for i in range(10)]
    rows[0]["q"] = -1e20
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    done = qdc(src, "--strategy", "top_quality", "--budget", 5, "--text-field", "text", "--quality-field", "q")
    assert done.returncode == 0, done.stderr
    assert sorted(json.loads(line)["q"] for line in done.stdout.splitlines()) == [5.0, 6.0, 7.0, 8.0, 9.0]


def test_qualities_at_the_float_limits_give_a_summary_without_nan(tmp_path: Path) -> None:
    rows = [{"text": f"row {i}", "q": float(i)} for i in range(10)]
    rows[0]["q"], rows[1]["q"] = -1.7e308, 1.7e308
    src = write_jsonl(tmp_path / "in.jsonl", rows)
    out = tmp_path / "kept.jsonl"
    done = qdc(src, "--strategy", "top_quality", "--budget", 5, "--text-field", "text", "--quality-field", "q",
               "--out", out)
    assert done.returncode == 0, done.stderr

    def no_constant(name: str) -> float:
        raise AssertionError(f"{name} in the summary")

    summary = json.loads((tmp_path / "kept.jsonl.summary.json").read_text(), parse_constant=no_constant)
    assert summary["scores"]["quality"]["mean_selected"] > summary["scores"]["quality"]["mean_all"]
    assert sorted(json.loads(line)["q"] for line in out.read_text().splitlines()) == [6.0, 7.0, 8.0, 9.0, 1.7e308]


@pytest.mark.parametrize("case", ["quality_10_400", "nested_100k", "nan_quality"])
def test_unreadable_values_are_one_line_errors_naming_the_line(tmp_path: Path, case: str) -> None:
    src = tmp_path / "in.jsonl"
    good = "".join(json.dumps({"text": f"r{i}", "q": i}) + "\n" for i in range(4))
    if case == "quality_10_400":
        src.write_text(good + '{"text": "big", "q": 1' + "0" * 400 + "}\n")
        expect = f"{src}:5: needs a finite number in field 'q'"
    elif case == "nested_100k":
        src.write_text(good + '{"text": "deep", "q": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
        expect = f"{src}:5: JSON nested too deeply"
    else:
        src.write_text(good + '{"text": "nan", "q": NaN}\n')
        expect = f"{src}:5: needs a finite number in field 'q'"
    done = qdc(src, "--strategy", "top_quality", "--budget", 2, "--text-field", "text", "--quality-field", "q",
               "--out", tmp_path / "kept.jsonl")
    one_line_error(done, expect)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def _chosen(done: subprocess.CompletedProcess[str]) -> list[str]:
    assert done.returncode == 0, done.stderr
    return [json.loads(line)["completion"] for line in done.stdout.splitlines()]


def test_alpha_sets_qdit_quality_weight(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", tint_candidates(k=2, prompts_per_task=10))
    args = (src, "--strategy", "qdit", "--budget", 12)
    quality_only, coverage_only = _chosen(qdc(*args, "--alpha", 1.0)), _chosen(qdc(*args, "--alpha", 0.0))
    assert quality_only != coverage_only
    assert _chosen(qdc(*args)) == _chosen(qdc(*args, "--alpha", 0.5))  # the default is filter.qdit_alpha's
    one_line_error(qdc(*args, "--alpha", 1.5), "--alpha must be in [0, 1], got 1.5")


def test_threshold_sets_deitas_distance(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", tint_candidates(k=2, prompts_per_task=10))
    args = (src, "--strategy", "deita", "--budget", 12)
    assert _chosen(qdc(*args, "--threshold", 0.0)) != _chosen(qdc(*args, "--threshold", 0.6))
    one_line_error(qdc(*args, "--threshold", 2.5), "--threshold must be in [0, 2], got 2.5")
