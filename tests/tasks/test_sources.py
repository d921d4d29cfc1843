"""Task data sources: files, globs, folders through `datasets`, and refusals that name file and line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from system.tasks.base import TaskDataError
from system.tasks.config import ColumnsConfig, SourceConfig
from system.tasks.sources import as_level, check_columns, load_rows

COLUMNS = ColumnsConfig(prompt="question", answer="answer", solution="solution", difficulty="difficulty")


@pytest.fixture(autouse=True)
def datasets_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """datasets writes its arrow cache under the test's folder, not the user's home."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf_cache")


def problem(i: int, **extra: Any) -> dict[str, Any]:
    return {"question": f"What is {i} + 1?", "answer": str(i + 1), "solution": f"{i} + 1 = {i + 1}\n#### {i + 1}",
            "difficulty": 1 + i % 3, **extra}


def write_jsonl(path: Path, records: list[Any], blank_after: int | None = None) -> Path:
    lines = [json.dumps(r) for r in records]
    if blank_after is not None:
        lines.insert(blank_after, "")
    path.write_text("\n".join(lines) + "\n")
    return path


def rows_of(path: str | Path, split: str = "train", **kw: Any) -> list[Any]:
    return load_rows(SourceConfig(path=str(path), **kw), default_split=split)


def test_jsonl_rows_keep_file_and_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", [problem(i) for i in range(3)], blank_after=1)
    rows = rows_of(path)
    assert [r["answer"] for r in rows] == ["1", "2", "3"]
    assert [r.where for r in rows] == [f"{path}:1", f"{path}:3", f"{path}:4"]  # line 2 is blank
    check_columns(rows, COLUMNS, "task.train")


def test_a_broken_jsonl_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps(problem(0)) + "\n{not json\n")
    with pytest.raises(TaskDataError, match=rf"^{path}:2: not a JSON line"):
        rows_of(path)


def test_a_missing_column_is_refused_with_file_and_line(tmp_path: Path) -> None:
    records = [problem(0), problem(1), {"question": "What is 5 + 1?", "solution": "5 + 1 = 6", "difficulty": 1}]
    rows = rows_of(write_jsonl(tmp_path / "train.jsonl", records))
    with pytest.raises(TaskDataError, match=r"train\.jsonl:3: no column 'answer' \(task\.columns\.answer\); "
                                            r"the row has: question, solution, difficulty$"):
        check_columns(rows, COLUMNS, "task.train")
    check_columns(rows[:2], COLUMNS, "task.train")


@pytest.mark.parametrize(("bad", "message"), [
    ({"difficulty": "hard"}, r"train\.jsonl:2: column 'difficulty' \(task\.columns\.difficulty\) is 'hard', not an integer"),
    ({"question": "  "}, r"train\.jsonl:2: column 'question' \(task\.columns\.prompt\) is empty"),
    ({"question": ["a"]}, r"column 'question' \(task\.columns\.prompt\) is \['a'\], not text"),
    ({"answer": None}, r"train\.jsonl:2: column 'answer' \(task\.columns\.answer\) is null"),
    ({"solution": 5}, r"column 'solution' \(task\.columns\.solution\) is 5, not text"),
])
def test_unusable_values_are_refused_with_file_and_line(tmp_path: Path, bad: dict[str, Any], message: str) -> None:
    rows = rows_of(write_jsonl(tmp_path / "train.jsonl", [problem(0), {**problem(1), **bad}]))
    with pytest.raises(TaskDataError, match=message):
        check_columns(rows, COLUMNS, "task.train")


def test_messages_instead_of_a_prompt(tmp_path: Path) -> None:
    chat = ColumnsConfig(prompt=None, messages="messages", answer="answer")
    good = {"messages": [{"role": "user", "content": "2+2?"}], "answer": 4}
    rows = rows_of(write_jsonl(tmp_path / "chat.jsonl", [good, {"messages": "2+2?", "answer": 4}]))
    check_columns(rows[:1], chat, "task.train")
    with pytest.raises(TaskDataError, match=r"chat\.jsonl:2: column 'messages' .* not a list of \{role, content\}"):
        check_columns(rows, chat, "task.train")


def test_an_empty_file_is_refused_naming_it(tmp_path: Path) -> None:
    for name in ("empty.jsonl", "empty.csv", "empty.json"):
        (tmp_path / name).write_text("\n" if name.endswith("jsonl") else "")
        with pytest.raises(TaskDataError, match=rf"^{tmp_path / name}: no rows \(empty file\)$"):
            rows_of(tmp_path / name)
    with pytest.raises(TaskDataError, match=r"^task\.eval\.id: no rows$"):
        check_columns([], COLUMNS, "task.eval.id")


def test_a_csv_file(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text('question,answer,solution,difficulty\n"What is 1, plus 1?",2,"1 + 1 = 2\n#### 2",1\n'
                    "What is 2 + 2?,4,2 + 2 = 4,2\n")
    rows = rows_of(path)
    assert [r.values for r in rows] == [
        {"question": "What is 1, plus 1?", "answer": "2", "solution": "1 + 1 = 2\n#### 2", "difficulty": "1"},
        {"question": "What is 2 + 2?", "answer": "4", "solution": "2 + 2 = 4", "difficulty": "2"}]
    assert [r.where for r in rows] == [f"{path}:row 1", f"{path}:row 2"]
    check_columns(rows, COLUMNS, "task.train")
    path.write_text("question,answer\nWhat is 1 + 1?,2\nWhat is 2 + 2?,4,extra\n")
    with pytest.raises(TaskDataError, match=rf"^{path}:row 2 \(line 3\): 3 fields, the header has 2$"):
        rows_of(path)


def test_a_glob_of_jsonl_files_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "shards").mkdir()
    write_jsonl(tmp_path / "shards" / "b.jsonl", [problem(2), problem(3)])
    write_jsonl(tmp_path / "shards" / "a.jsonl", [problem(0), problem(1)])
    (tmp_path / "shards" / "notes.txt").write_text("not data")
    rows = rows_of(tmp_path / "shards" / "*.jsonl")
    assert [r["answer"] for r in rows] == ["1", "2", "3", "4"]
    assert rows[2].where == f"{tmp_path / 'shards' / 'b.jsonl'}:1"
    with pytest.raises(TaskDataError, match=r"no .* file matches"):
        rows_of(tmp_path / "shards" / "*.parquet")


def test_json_arrays(tmp_path: Path) -> None:
    (tmp_path / "list.json").write_text(json.dumps([problem(0), problem(1)]))
    (tmp_path / "wrapped.json").write_text(json.dumps({"version": 1, "data": [problem(0)]}))
    (tmp_path / "lines.json").write_text(json.dumps(problem(0)) + "\n" + json.dumps(problem(1)) + "\n")
    assert [r.where for r in rows_of(tmp_path / "list.json")] == [f"{tmp_path / 'list.json'}:row {n}" for n in (1, 2)]
    assert rows_of(tmp_path / "wrapped.json")[0]["answer"] == "1"
    assert [r.where for r in rows_of(tmp_path / "lines.json")][-1] == f"{tmp_path / 'lines.json'}:2"
    (tmp_path / "bad.json").write_text('[{"a": 1}, 3]')
    with pytest.raises(TaskDataError, match=r"bad\.json:row 2: expected a JSON object, got int"):
        rows_of(tmp_path / "bad.json")


def test_a_parquet_file(tmp_path: Path) -> None:
    path = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pylist([problem(i) for i in range(4)]), path)
    rows = rows_of(path)
    assert [r["difficulty"] for r in rows] == [1, 2, 3, 1] and rows[3].where == f"{path}:row 4"
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(TaskDataError, match=r"broken\.parquet: not a readable parquet file"):
        rows_of(tmp_path / "broken.parquet")


def test_a_parquet_folder_through_datasets(tmp_path: Path) -> None:
    """A folder laid out like a hub dataset: split names in the file names."""
    folder = tmp_path / "gsm_like" / "main"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([problem(i) for i in range(5)]), folder / "train-00000-of-00001.parquet")
    pq.write_table(pa.Table.from_pylist([problem(i) for i in range(10, 13)]), folder / "test-00000-of-00001.parquet")
    train = rows_of(folder, split="train")
    test = rows_of(folder, split="test")
    assert [r["answer"] for r in train] == [str(i + 1) for i in range(5)]
    assert [r["answer"] for r in test] == ["11", "12", "13"] and test[0].where == f"{folder}[test]:row 1"
    check_columns(test, COLUMNS, "task.eval.id")
    assert [r["answer"] for r in rows_of(folder, split="test", hf_split="train")] == [r["answer"] for r in train]
    with pytest.raises(TaskDataError, match=r"datasets cannot load it: .*validation"):
        rows_of(folder, hf_split="validation")


def test_a_folder_with_one_split_serves_any_default_split(tmp_path: Path) -> None:
    folder = tmp_path / "shards"
    folder.mkdir()
    for k in range(2):
        pq.write_table(pa.Table.from_pylist([problem(2 * k), problem(2 * k + 1)]), folder / f"part{k}.parquet")
    rows = rows_of(folder, split="test")  # datasets calls the only split train
    assert sorted(r["answer"] for r in rows) == ["1", "2", "3", "4"] and rows[0].where.startswith(f"{folder}[train]")


def test_a_folder_with_a_broken_jsonl_line_names_it(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    write_jsonl(folder / "a.jsonl", [problem(0)])
    (folder / "b.jsonl").write_text(json.dumps(problem(1)) + "\n" + '{"question": "x", \n')
    with pytest.raises(TaskDataError, match=rf"^{folder / 'b.jsonl'}:2: not a JSON line"):
        rows_of(folder)


def test_paths_that_are_not_there(tmp_path: Path) -> None:
    with pytest.raises(TaskDataError, match=r"missing\.jsonl: file not found"):
        rows_of(tmp_path / "missing.jsonl")
    with pytest.raises(TaskDataError, match=r"^someone/no-such-dataset-xyz: datasets cannot load it"):
        rows_of("someone/no-such-dataset-xyz")  # a hub id; offline here
    write_jsonl(tmp_path / "t.jsonl", [problem(0)])
    with pytest.raises(TaskDataError, match=r"hf_config and hf_split apply to a datasets id or a folder"):
        rows_of(tmp_path / "t.jsonl", hf_split="test")
    (tmp_path / "t.txt").write_text("x")
    with pytest.raises(TaskDataError, match=r"unknown data file type \.txt"):
        rows_of(tmp_path / "t.txt")


def test_levels() -> None:
    assert [as_level(v) for v in (3, 3.0, "3", " 4 ", "-1", True, 2.5, "hard", None)] == [3, 3, 3, 4, -1, None, None, None, None]
