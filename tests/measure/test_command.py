"""``qdc measure`` through the command line: run directories end to end, the report, bad inputs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from system.cli import app
from tests.measure.conftest import distinct_sentences, write_jsonl, write_run_dir, write_texts


def qdc_measure(*args: object):
    return CliRunner().invoke(app, ["measure", *map(str, args)])


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_run_dir(tmp_path_factory.mktemp("runs"))


def test_run_directory_iterations_end_to_end(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "measured"
    done = qdc_measure(run_dir, "--iterations", "1,5", "--name", f"{run_dir}=tiny", "--out", out)
    assert done.exit_code == 0, done.output
    result = json.loads((out / "measure.json").read_text())
    labels = [d["label"] for d in result["datasets"]]
    assert labels == ["tiny iter 1 candidates", "tiny iter 1 selection", "tiny iter 5 candidates",
                      "tiny iter 5 selection"]
    for d in result["datasets"]:
        rows = pq.read_table(run_dir / f"iter_{d['iteration']:03d}" / "samples.parquet").to_pylist()
        expected = rows if d["part"] == "candidates" else [r for r in rows if r["selected"]]
        assert d["n_records"] == d["n_measured"] == len(expected)
        assert d["family"] == "tint" and d["quality"]["source"] == "TInt verifier"
    cands, sel = result["datasets"][0], result["datasets"][1]
    # the loop kept only candidates of verifier quality >= 0.5, and a quarter of them at most
    assert sel["quality"]["min"] >= 0.5 > cands["quality"]["min"]
    assert sel["quality"]["mean"] > cands["quality"]["mean"]
    # iteration 5 prompts have longer lists (frontier 10 vs 6)
    assert result["datasets"][2]["complexity"]["list_length"]["mean"] > cands["complexity"]["list_length"]["mean"]
    assert "QDC makeup" in done.stdout and "tiny iter 5" in done.stdout  # the printed table

    page = (out / "measure.html").read_text()
    srcs = re.findall(r"<img src='([^']+)'", page)
    expected_plots = {"quality.png", "diversity.png", "cells.png", "complexity_chars.png", "complexity_tokens.png",
                      "complexity_trace_steps.png", "complexity_list_length.png", "complexity_digits.png"}
    assert set(srcs) == expected_plots
    for src in srcs:
        png = out / src
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.iterdir()) == sorted(expected_plots | {"measure.json", "measure.html"})
    for d in result["datasets"]:
        assert d["label"] in page


def test_all_iterations_by_default_and_a_rerun_replaces_the_output(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    assert qdc_measure(run_dir, "--out", out, "--sample", 8).exit_code == 0
    first = json.loads((out / "measure.json").read_text())
    assert [d["iteration"] for d in first["datasets"]] == [1, 1, 5, 5]
    assert all(d["n_measured"] == 8 for d in first["datasets"]) and first["sample"] == 8
    done = qdc_measure(run_dir, "--iterations", "5", "--out", out)
    assert done.exit_code == 0, done.output
    assert [d["iteration"] for d in json.loads((out / "measure.json").read_text())["datasets"]] == [5, 5]


def _no_leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("case", [
    "not_json", "missing_text", "bad_quality", "empty", "missing_file", "out_is_input", "out_holds_input",
    "out_foreign", "sample_too_large", "unknown_name", "bad_name", "missing_iteration", "iterations_without_run",
    "not_a_run", "unknown_embedder", "same_labels",
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path: Path, run_dir: Path, case: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    a = write_texts(data / "a.jsonl", distinct_sentences(6), score=[1, 2, 3, 4, 5, 6])
    b = write_texts(data / "b.jsonl", distinct_sentences(4, 1), score=[1, 2, 3, 4])
    out = tmp_path / "out"
    inputs: list[object] = [a, b]
    flags: list[object] = ["--text-field", "text"]
    if case == "not_json":
        b.write_text(b.read_text() + "{oops\n")
        expect = f"{b}:5: not a JSON line"
    elif case == "missing_text":
        write_jsonl(b, [{"text": "x"}, {"text": "y"}, {"other": 1}])
        expect = f"{b}:3: --text-field 'text' needs text on every record; this one has none"
    elif case == "bad_quality":
        write_jsonl(b, [{"text": "x", "score": 1}, {"text": "y", "score": "high"}])
        flags += ["--quality-field", "score"]
        expect = f"{b}:2: --quality-field 'score' needs a finite number; this one has 'high'"
    elif case == "empty":
        b.write_text("\n")
        expect = f"{b}: no records"
    elif case == "missing_file":
        inputs.append(data / "c.jsonl")
        expect = f"{data / 'c.jsonl'}: file not found"
    elif case == "out_is_input":
        out = b
        expect = f"--out {b}: would overwrite the input {b}"
    elif case == "out_holds_input":
        out = data
        expect = f"--out {data}: would overwrite the input {a}"
    elif case == "out_foreign":
        out.mkdir()
        (out / "notes.txt").write_text("mine")
        expect = "a folder with other files in it"
    elif case == "sample_too_large":
        flags += ["--sample", 5]
        expect = "--sample 5 is more than the 4 records of 'b'"
    elif case == "unknown_name":
        flags += ["--name", "c.jsonl=C"]
        expect = "--name 'c.jsonl=C': 'c.jsonl' is not one of the inputs"
    elif case == "bad_name":
        flags += ["--name", f"{a}"]
        expect = "expected INPUT=label"
    elif case == "missing_iteration":
        inputs = [run_dir]
        flags = ["--iterations", "1,3"]
        expect = f"{run_dir / 'iter_003' / 'samples.parquet'}: not found (iterations with samples: 1, 5)"
    elif case == "iterations_without_run":
        flags += ["--iterations", "1"]
        expect = "--iterations applies to run directories, and no input is one"
    elif case == "not_a_run":
        inputs = [data]
        expect = f"{data}: a folder but not a run directory"
    elif case == "unknown_embedder":
        flags += ["--embedder", "bert"]
        expect = "--embedder 'bert' is not one of hashed, minilm"
    else:
        flags += ["--name", f"{b}=a"]
        expect = "two datasets are labelled 'a'"
    before = {p: p.read_bytes() for p in data.iterdir()}
    done = qdc_measure(*inputs, *flags, "--out", out)
    assert done.exit_code == 2, done.output
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expect in lines[0], done.stderr
    assert {p: p.read_bytes() for p in data.iterdir()} == before
    if case == "out_foreign":
        assert _no_leftovers(out) == ["notes.txt"]
    elif case not in ("out_is_input", "out_holds_input"):
        assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left


def test_a_failure_while_writing_leaves_no_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import system.measure.command as command

    src = write_texts(tmp_path / "a.jsonl", distinct_sentences(20))
    out = tmp_path / "out"

    def broken(*args: object) -> str:
        raise RuntimeError("disk full")

    monkeypatch.setattr(command, "render_html", broken)
    with pytest.raises(RuntimeError):
        command.measure_command([src], text_field="text", out=out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl"]
