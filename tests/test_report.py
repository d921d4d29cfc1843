"""`qdc report`: a run directory written by the loop's own writers (candidates, verdicts, the QDC filter's
selection with its reasons, the prober's evaluation, metrics.jsonl), rendered without training."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from system.loop import artifacts
from system.loop.evaluation import metrics_row, probe_outputs
from system.qdc.config import FilterConfig
from system.report import ReportError, build_report
from system.report.loop_plots import accuracy_by_level, diversity_panels
from system.report.samples import COMPLETION_CHARS, reason_kind, text
from system.report.tables import summary_table
from system.store import RunDir
from system.tasks.tint_family import TintFamily
from system.tint import clean_record, get_task
from tests.measure.conftest import write_run_dir

SECTIONS = ("summary", "plots", "metrics", "samples", "recipe")


def add_metrics(run_path: Path, iterations: tuple[int, ...]) -> list[dict]:
    """eval.json and metrics.jsonl as the controller writes them: the prober's verdicts on greedy answers
    (the reference trace for every other prompt, a wrong one for the rest) and the diversity of samples."""
    run, family = RunDir(run_path), TintFamily.default()
    sets = family.eval_sets(seed=0, n=6)
    greedy = [clean_record(get_task(p.task), list(p.fields["input"]), "x")["completion"] if k % 2 else " 1+1=2 #2"
              for k, p in enumerate(q for split in sets.values() for q in split)]
    div_prompts = sets["id"][:3]  # 4 samples each: two the same, two different
    samples = [[f" {k}+{k}={2 * k} #{2 * k}"] * 2 + [f" {k}+1={k + 1} #{k + 1}", " #0"] for k in range(3)]
    for i in iterations:
        result = probe_outputs(family, sets, greedy, div_prompts, samples, FilterConfig())
        frontiers = run.read_json(i, "curriculum.json")["frontiers"] if i else None
        row = metrics_row(family, i, result, run, {"generate_s": 3.0, "learn_s": 5.0}, 9.0, frontiers)
        run.write_json(i, "eval.json", {**result, "row": row})
        artifacts.write_metrics(run)
    run.mark_run_done()
    return run.metrics()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = write_run_dir(tmp_path_factory.mktemp("report"), iterations=(1, 2, 3), prompts=12, k=4)
    add_metrics(path, (0, 1, 2, 3))
    return path


class Page(HTMLParser):
    """Section ids, image sources, and the text of each samples-table row."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.images: list[str] = []
        self.sample_rows: list[list[str]] = []
        self._in_samples = self._in_row = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section" and a.get("id"):
            self.ids.append(a["id"])
        if tag == "img":
            self.images.append(a["src"] or "")
        if tag == "table":
            self._in_samples = a.get("class") == "samples"
        if tag == "tr" and self._in_samples:
            self._in_row = True
            self.sample_rows.append([])

    def handle_endtag(self, tag: str) -> None:
        if tag == "tr":
            self._in_row = False

    def handle_data(self, data: str) -> None:
        if self._in_row:
            self.sample_rows[-1].append(data)


def parse(page: str) -> Page:
    p = Page()
    p.feed(page)
    return p


def test_report_has_every_section_and_every_image_it_references(run_dir: Path) -> None:
    out = build_report(run_dir)
    page = parse(out.read_text())
    assert [s for s in page.ids if s in SECTIONS] == list(SECTIONS)
    assert {"accuracy.png", "diversity.png", "stage_seconds.png"} <= set(page.images)
    for src in page.images:
        assert (run_dir / src).is_file() and (run_dir / src).stat().st_size > 5_000, src
    assert not list(run_dir.glob(".report.*")) and not list(run_dir.glob(".*.tmp*"))
    assert "seed model and 3 self-improvement iterations recorded" in out.read_text()


def test_samples_show_kept_and_rejected_candidates_with_their_reasons(run_dir: Path) -> None:
    html = build_report(run_dir).read_text()
    samples = html[html.index("<section id='samples'>"):html.index("<section id='recipe'>")]
    headings = re.findall(r"<h4>Iteration (\d+), task (\w+): kept (\d+) of (\d+) candidates</h4>", samples)
    assert {(it, task) for it, task, _, _ in headings} == {(i, t) for i in ("1", "3") for t in ("sum", "max")}
    rows = [r for r in parse(samples).sample_rows if r and r[0] in ("kept", "rejected")]
    for iteration in (1, 3):
        table = pq.read_table(run_dir / f"iter_{iteration:03d}" / "samples.parquet").to_pylist()
        for task in ("sum", "max"):
            mine = [c for c in table if c["task"] == task]
            n_kept = sum(c["selected"] for c in mine)
            assert (str(iteration), task, str(n_kept), str(len(mine))) in headings
            kinds = {reason_kind(c["reason"]) for c in mine if not c["selected"]}
            for kind in kinds:  # every kind of reason counted once, without the item it points at
                assert f"&times; {kind}</li>" in samples.replace("&#x27;", "'"), kind
    listed = re.findall(r"<li>\d+ &times; ([^<]*)</li>", samples)
    assert listed and not any("(#" in item for item in listed)
    shown = {(r[0], r[-1]) for r in rows}
    all_reasons = {c["reason"] for i in (1, 3) for c in pq.read_table(
        run_dir / f"iter_{i:03d}" / "samples.parquet").to_pylist()}
    assert {k for k, _ in shown} == {"kept", "rejected"}
    assert {reason for _, reason in shown} <= all_reasons
    assert len({reason for kind, reason in shown if kind == "rejected"}) >= 2  # one per reason in turn
    for row in rows:  # each shows a verdict next to the completion
        assert "verdict_quality" in row and "steps_valid" in row and "noise_kind" in row


def test_text_is_escaped_made_visible_and_cut() -> None:
    assert text("<script>x</script>\x1b", 100) == "&lt;script&gt;x&lt;/script&gt;\\x1b"
    long = text("7" * (COMPLETION_CHARS + 40), COMPLETION_CHARS)
    assert long.startswith("7" * COMPLETION_CHARS) and "40 more characters" in long


def test_metrics_table_keeps_key_columns_visible_and_the_rest_collapsed(run_dir: Path) -> None:
    html = build_report(run_dir).read_text()
    metrics = html[html.index("<section id='metrics'>"):html.index("<section id='samples'>")]
    visible, collapsed = metrics.split("<details>", 1)
    assert visible.count("<th") <= 9 and "ID acc." in visible and "accuracy_by_length" not in visible
    for key in ("accuracy_by_length/5", "accuracy_by_task/id/sum", "frontiers/max", "generate_s", "selection_diversity"):
        assert f"<code>{key}</code>" in collapsed, key
    assert "<details><summary>recipe.yaml" in html


def test_diversity_gets_one_axis_per_scale() -> None:
    rows = [{"iteration": i, "output_diversity": 12.0 + i, "selection_diversity": 20.0, "distinct_ngrams": 0.9,
             "mean_pairwise_distance": 0.7, "distinct_per_prompt": {"sum": 0.5, "max": 0.25},
             "pass_at_k_gap": 0.1, "edit_distance_per_prompt": 7.5 + i} for i in range(3)]
    panels = {title: ([name for name, _ in curves], unit) for title, curves, unit in diversity_panels(rows)}
    vendi = next(t for t in panels if t.startswith("Vendi"))
    assert panels[vendi] == (["model's samples", "selected data"], False)
    assert panels["Measures in [0, 1]"] == (["distinct 2-grams of samples", "mean pairwise cosine distance",
                                            "distinct samples per prompt: max", "distinct samples per prompt: sum",
                                            "pass@k - pass@1"], True)
    assert panels["edit distance within a prompt"] == (["edit distance within a prompt"], False)


def test_dataset_runs_read_accuracy_through_level_name(run_dir: Path) -> None:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    for r in rows:
        r["level_name"] = "difficulty"
        r["accuracy_by_difficulty"] = {"1": 0.5, "2": 0.25, "10": 0.0}
    assert accuracy_by_level(rows) == ("accuracy_by_difficulty", ["1", "2", "10"])
    assert "accuracy at difficulty 10" in summary_table(rows)


def test_a_report_that_cannot_finish_writes_nothing(run_dir: Path, tmp_path: Path, monkeypatch) -> None:
    import shutil

    import system.report as report

    run = tmp_path / "run"
    shutil.copytree(run_dir, run, ignore=shutil.ignore_patterns("*.png", "report.html"))
    before = sorted(p.name for p in run.iterdir())

    def broken(_: Path) -> str:
        raise RuntimeError("a section failed")

    monkeypatch.setattr(report, "_EXTRA_SECTIONS", [*report._EXTRA_SECTIONS, broken])
    with pytest.raises(RuntimeError, match="a section failed"):
        build_report(run)
    assert sorted(p.name for p in run.iterdir()) == before  # no PNG, no report.html, no temp folder
    monkeypatch.undo()
    with pytest.raises(ReportError, match="no such run directory"):
        build_report(tmp_path / "missing")


def test_a_round_without_learning_is_flagged_in_its_row_and_on_the_terminal(tmp_path: Path) -> None:
    from rich.console import Console

    from system.loop.progress import Progress

    path = write_run_dir(tmp_path, iterations=(1, 2), prompts=12, k=4)
    run = RunDir(path)
    run.write_json(1, "learn.json", {"steps": 10, "n_selected": 40})
    run.write_json(2, "learn.json", {"skipped": "3 selected < loop.min_train_records", "n_selected": 3})
    rows = add_metrics(path, (0, 1, 2))
    assert [r["learn_skipped"] for r in rows] == [False, False, True]
    console = Console(record=True, width=300)
    progress = Progress(console=console)
    progress.iteration_done(rows[1])
    assert "no learning" not in console.export_text()
    progress.iteration_done(rows[2])
    assert "no learning" in console.export_text()
