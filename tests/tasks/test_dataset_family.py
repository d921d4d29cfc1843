"""The `dataset` family on a tiny JSONL task: curriculum over difficulty, seed pool, evaluation sets,
verdicts, and data refused before anything starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from system.config import validate_recipe
from system.models.chat import PromptFormat
from system.tasks import family_for
from system.tasks.dataset_family import DatasetFamily
from tests.tasks.conftest import dataset_recipe

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def family(task_files: dict[str, Path]) -> DatasetFamily:
    f = family_for(validate_recipe(dataset_recipe(task_files)))
    assert isinstance(f, DatasetFamily)
    f.check()
    return f


def test_recipe_defaults_come_from_the_family(task_files: dict[str, Path]) -> None:
    r = validate_recipe(dataset_recipe(task_files))
    assert r.filter.quality_scorers == {"verifier": 1.0}
    assert r.filter.complexity_scorers == {"text_length": 1.0, "solution_lines": 1.0}


def test_seed_pool_is_below_the_start_level_and_prompts_are_at_the_frontier(family: DatasetFamily) -> None:
    seeds = family.seed_records(0, n=50)
    assert len(seeds) == 50 and all(r.completion.rstrip().split("#### ")[-1].isdigit() for r in seeds)
    assert all(r.prompt.count("She gets") <= 2 for r in seeds)  # levels 1-2 only (start is 3)
    assert family.first_curriculum() == {"difficulty": 3}
    prompts = family.iteration_prompts({"difficulty": 3}, 12, seed=5, iteration=1)
    assert len(prompts) == 12 and {p.level for p in prompts} == {3}
    assert len({p.prompt for p in prompts}) == 12 and prompts[0].prompt_id == "1:0"
    assert family.iteration_prompts({"difficulty": 3}, 12, seed=5, iteration=1) == prompts
    # the highest level in the data is 3: the frontier stays
    assert family.advance({"difficulty": 3}, {"difficulty": 1.0}) == {"difficulty": 3}


def test_eval_sets_are_capped_and_fixed(family: DatasetFamily) -> None:
    sets = family.eval_sets(0)
    assert list(sets) == ["id", "ood"] and all(len(v) == 12 for v in sets.values())
    assert sets == family.eval_sets(0)
    assert family.summary_accuracy({"id": 0.8, "ood": 0.2}) == (0.8, 0.2)


def test_verdicts_from_the_gsm8k_verifier(family: DatasetFamily) -> None:
    p = family.eval_sets(0)["id"][0]
    right = f"1 + 1 = 2\n#### {p.answer}"
    v_right, v_wrong, v_none = family.verify([p] * 3, [right, "#### 99999", "no idea"])
    assert (v_right.correct, v_right.quality, v_right.answer) == (True, 1.0, str(p.answer))
    assert (v_wrong.correct, v_wrong.quality) == (False, 0.0)
    assert v_none.answer is None and v_right.complexity["solution_lines"] == 2.0
    row = json.loads(p.fields["row_json"])  # the whole row travels with the prompt (verl's extra_info)
    assert row["question"] == p.prompt and row["answer"] == p.answer and set(row) >= {"uid", "solution"}


def test_scratch_tokenizer_splits_digits_and_round_trips(family: DatasetFamily) -> None:
    tok = family.scratch_tokenizer(0, 160)
    text = "Ann has 12 apples. 12 + 34 = 46\n#### 46"
    assert tok.decode(tok(text)["input_ids"], skip_special_tokens=True) == text
    pieces = tok.convert_ids_to_tokens(tok("1234")["input_ids"])[1:]
    assert pieces == ["1", "2", "3", "4"]


def test_chat_template_wraps_prompts_for_generation_and_sft(family: DatasetFamily, tmp_path: Path) -> None:
    tok = family.scratch_tokenizer(0, 160)
    tok.chat_template = ("{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}"
                         "{% if add_generation_prompt %}<assistant>{% endif %}")
    fmt = PromptFormat(tok)
    assert fmt.text("What is 2 + 2?") == "<user>What is 2 + 2?\n<assistant>"
    rows = fmt.sft_rows([{"prompt": "Q?", "completion": "#### 4"}])
    assert rows == [{"prompt": "<user>Q?\n<assistant>", "completion": "#### 4"}]
    tok.save_pretrained(tmp_path / "tok")
    assert PromptFormat.for_model(tmp_path / "tok", "auto").chat
    assert not PromptFormat.for_model(tmp_path / "tok", "none").chat


def _qdc_run(recipe: dict, tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return subprocess.run([sys.executable, "-m", "system.cli", "run", str(path), "--set", f"run.dir={tmp_path / 'run'}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("case", ["missing_column", "empty_file", "broken_line", "no_solutions"])
def test_unusable_data_is_refused_before_anything_starts(case: str, task_files: dict[str, Path],
                                                         tmp_path: Path) -> None:
    train = tmp_path / "train.jsonl"
    lines = task_files["train"].read_text().splitlines()
    expected = {"missing_column": f"{train}:3", "empty_file": f"{train}", "broken_line": f"{train}:2",
                "no_solutions": "solution"}[case]
    if case == "missing_column":
        row = json.loads(lines[2])
        del row["answer"]
        lines[2] = json.dumps(row)
    elif case == "broken_line":
        lines[1] = lines[1][:20]
    elif case == "no_solutions":
        lines = [json.dumps({**json.loads(x), "solution": ""}) for x in lines]
    train.write_text("" if case == "empty_file" else "\n".join(lines) + "\n")
    proc = _qdc_run(dataset_recipe({**task_files, "train": train}), tmp_path)
    assert proc.returncode == 2, proc.stderr[-2000:]
    message = proc.stderr.strip().splitlines()
    assert len(message) == 1 and message[0].startswith("error: ") and expected in message[0], proc.stderr
    assert not (tmp_path / "run").exists()  # refused before the run directory (and Ray) started
