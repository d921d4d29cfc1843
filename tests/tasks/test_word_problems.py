"""Word problems: seeded, from 24 + 8 templates, every worked solution's arithmetic right, eval sets
disjoint from train; the committed set is what its README's command writes."""

from __future__ import annotations

import json
import operator
import re
from dataclasses import astuple
from pathlib import Path

import pytest
from typer.testing import CliRunner

from system.cli import app
from system.tasks.word_problems import HELDOUT_TEMPLATES, PEOPLE, TRAIN_TEMPLATES, WordProblem, generate

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "data" / "word_problems"
COMMAND = "qdc data word-problems --out data/word_problems --n 5000 --seed 0"
LINE = re.compile(r"^(\d+) ([-+*/]) (\d+) = (\d+)$")
OPS = {"+": operator.add, "-": operator.sub, "*": operator.mul}


def check_solution(p: WordProblem) -> None:
    """Parse the worked solution, redo its arithmetic (no eval), and check that it chains through the
    question's numbers in order and ends in the answer."""
    *steps, last = p.solution.split("\n")
    assert last == f"#### {p.answer}" and len(steps) == p.difficulty
    used, previous = [], None
    for step in steps:
        m = LINE.match(step)
        assert m, step
        a, op, b, c = int(m[1]), m[2], int(m[3]), int(m[4])
        if op == "/":
            assert b and a % b == 0 and a // b == c, step  # exact divisions only
        else:
            assert OPS[op](a, b) == c, step
        assert previous is None or a == previous, f"{step} does not use the previous result {previous}"
        assert 0 <= c <= 99 and 2 <= b <= 25
        used += [a, b] if previous is None else [b]
        previous = c
    assert [int(x) for x in re.findall(r"\d+", p.question)] == used  # the question's numbers, in order
    assert str(previous) == p.answer


@pytest.fixture(scope="module")
def splits() -> dict[str, list[WordProblem]]:
    return generate(600, seed=5, n_eval=120)


def test_template_counts_and_distinct_wording() -> None:
    assert len(TRAIN_TEMPLATES) >= 24 and len(HELDOUT_TEMPLATES) >= 8
    names = [t.name for t in TRAIN_TEMPLATES + HELDOUT_TEMPLATES]
    assert len(set(names)) == len(names)
    sentences = [s for t in TRAIN_TEMPLATES + HELDOUT_TEMPLATES for s in astuple(t)[1:]]
    assert len(set(sentences)) == len(sentences)  # no two templates share a sentence
    assert not any(re.search(r"\d", s) for s in sentences + [name for name, _ in PEOPLE])


def test_splits_use_the_right_templates_and_levels(splits: dict[str, list[WordProblem]]) -> None:
    train_names = {t.name for t in TRAIN_TEMPLATES}
    expected = {"train": (train_names, set(range(1, 7))), "id": (train_names, {1, 2, 3}),
                "ood_steps": (train_names, {4, 5, 6}), "ood_templates": ({t.name for t in HELDOUT_TEMPLATES}, {1, 2, 3})}
    assert [len(splits[s]) for s in expected] == [600, 120, 120, 120]
    for split, (templates, levels) in expected.items():
        assert {p.template for p in splits[split]} == templates, split
        assert {p.difficulty for p in splits[split]} == levels, split


def test_every_solution_checks_out(splits: dict[str, list[WordProblem]]) -> None:
    for problems in splits.values():
        for p in problems:
            check_solution(p)


def test_eval_questions_are_distinct_from_train_and_each_other(splits: dict[str, list[WordProblem]]) -> None:
    questions = [p.question for problems in splits.values() for p in problems]
    assert len(set(questions)) == len(questions)


def test_generation_is_seeded() -> None:
    assert generate(100, seed=1) == generate(100, seed=1)
    assert generate(100, seed=1)["train"] != generate(100, seed=2)["train"]


def test_the_cli_writes_the_four_files(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["data", "word-problems", "--out", str(tmp_path), "--n", "60", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["files"] == {"train.jsonl": 60, "id.jsonl": 6, "ood_steps.jsonl": 6,
                                                  "ood_templates.jsonl": 6}
    rows = [json.loads(line) for line in (tmp_path / "train.jsonl").read_text().splitlines()]
    assert list(rows[0]) == ["question", "answer", "solution", "difficulty", "template"]
    assert [WordProblem(**r) for r in rows] == generate(60, seed=3)["train"]


def test_the_committed_set_is_what_its_command_writes(tmp_path: Path) -> None:
    assert COMMAND in (COMMITTED / "README.md").read_text()
    args = COMMAND.split()[3:]
    args[args.index("--out") + 1] = str(tmp_path)
    assert CliRunner().invoke(app, ["data", "word-problems", *args]).exit_code == 0
    for name in ("train.jsonl", "id.jsonl", "ood_steps.jsonl", "ood_templates.jsonl"):
        assert (tmp_path / name).read_bytes() == (COMMITTED / name).read_bytes(), name
    assert sum((COMMITTED / n).stat().st_size for n in ("train.jsonl", "id.jsonl", "ood_steps.jsonl",
                                                        "ood_templates.jsonl")) < 4_000_000


def test_the_committed_files_load_and_every_solution_passes_the_gsm8k_verifier() -> None:
    from system.tasks.config import ColumnsConfig, SourceConfig, VerifierConfig
    from system.tasks.sources import check_columns, load_rows
    from system.tasks.verifiers import VerifyItem, build_verifier

    columns = ColumnsConfig(prompt="question", answer="answer", solution="solution", difficulty="difficulty",
                            task="template")
    verifier = build_verifier(VerifierConfig(name="gsm8k"))
    for name in ("train.jsonl", "id.jsonl", "ood_steps.jsonl", "ood_templates.jsonl"):
        rows = load_rows(SourceConfig(path=str(COMMITTED / name)), default_split="train")
        check_columns(rows, columns, name)
        verdicts = verifier.judge([VerifyItem(r["question"], r["solution"], r["answer"]) for r in rows])
        assert all(v.correct for v in verdicts), name
        wrong = verifier.judge([VerifyItem(r["question"], r["solution"], int(r["answer"]) + 1) for r in rows[:50]])
        assert not any(v.correct for v in wrong)
