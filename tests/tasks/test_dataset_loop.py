"""The closed loop on the `dataset` family end to end: a scratch model with its BPE tokenizer and a
user verifier, a saved model with a chat template, a verifier too slow for its timeout, and a tiny
ablation over two strategies."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml

from tests.tasks.conftest import dataset_recipe

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def qdc(verb: str, recipe: dict[str, Any], tmp_path: Path, *args: str, timeout: float = 900
        ) -> subprocess.CompletedProcess:
    path = tmp_path / f"{verb}.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return subprocess.run([sys.executable, "-m", "system.cli", verb, str(path), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def metrics(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def test_scratch_bpe_model_with_a_verl_verifier_that_returns_dicts_and_sometimes_raises(
        task_files: dict[str, Path], user_verifiers: Path, tmp_path: Path) -> None:
    recipe = dataset_recipe(task_files, task={**dataset_recipe(task_files)["task"],
                                              "verifier": {"name": "python", "function": f"{user_verifiers}:verl_dict"}})
    run = tmp_path / "run"
    proc = qdc("run", recipe, tmp_path, "--set", f"run.dir={run}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = metrics(run)
    assert [r["iteration"] for r in rows] == [0, 1]
    assert set(rows[1]["accuracy_by_split"]) == {"id", "ood"} and rows[1]["level_name"] == "difficulty"
    assert "accuracy_by_difficulty" in rows[1]
    samples = pq.read_table(run / "iter_001" / "samples.parquet").to_pylist()
    assert len(samples) == 12 * 2
    raised = [s for s in samples if s["verify_error"]]
    assert raised and all(s["verdict_quality"] == 0.0 and "ValueError" in s["verify_error"] for s in raised)
    assert rows[1]["verify_errors"] == len(raised)
    judged = [s for s in samples if not s["verify_error"]]
    assert judged and all(s["verifier_length"] == len(s["completion"]) for s in judged)
    assert all(s["verifier_source_ok"] for s in judged)
    assert "verifier raised on" in proc.stderr and "prompt 1:" in proc.stderr
    # the scratch model carries the BPE tokenizer trained on the task's seed text
    tok = json.loads((run / "iter_000" / "model" / "tokenizer.json").read_text())
    assert tok["model"]["type"] == "BPE" and (run / "tokenizer" / "tokenizer.json").is_file()


@pytest.fixture(scope="module")
def chat_model(task_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small saved model whose tokenizer has a chat template, as a user's pretrained folder would be."""
    from system.config import validate_recipe
    from system.models.factory import build_scratch, save_checkpoint
    from system.tasks import family_for

    recipe = validate_recipe(dataset_recipe(task_files))
    folder = tmp_path_factory.mktemp("chat_model")
    tok = family_for(recipe).scratch_tokenizer(0, 256)
    tok.chat_template = ("{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}"
                         "{% if add_generation_prompt %}<assistant>{% endif %}")
    tok.save_pretrained(folder / "tok")
    model, tok = build_scratch(recipe.model.model_copy(update={"max_positions": 256}), 0, folder / "tok")
    tok.chat_template = ("{% for m in messages %}<{{ m.role }}>{{ m.content }}\n{% endfor %}"
                         "{% if add_generation_prompt %}<assistant>{% endif %}")
    return save_checkpoint(model, tok, folder / "model")


def test_pretrained_folder_with_a_chat_template_and_a_trl_verifier(
        task_files: dict[str, Path], user_verifiers: Path, chat_model: Path, tmp_path: Path) -> None:
    base = dataset_recipe(task_files)
    recipe = dataset_recipe(task_files, model={"path": str(chat_model), "init": "pretrained"},
                            task={**base["task"], "verifier": {"name": "python",
                                                               "function": f"{user_verifiers}:trl_batch"}})
    recipe["model"] = {"path": str(chat_model)}
    run = tmp_path / "run"
    proc = qdc("run", recipe, tmp_path, "--set", f"run.dir={run}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = metrics(run)
    assert [r["iteration"] for r in rows] == [0, 1] and rows[1]["verify_errors"] == 0
    learn = json.loads((run / "iter_001" / "learn.json").read_text())
    assert learn["n_train"] > 0 and learn["steps"] == 10
    # the checkpoint keeps the user's tokenizer and its template
    saved = json.loads((run / "iter_001" / "model" / "tokenizer_config.json").read_text())
    assert "<assistant>" in (saved.get("chat_template") or (run / "iter_001" / "model" / "chat_template.jinja").read_text())


def test_a_verifier_slower_than_its_timeout_fails_the_stage_naming_it(
        task_files: dict[str, Path], user_verifiers: Path, chat_model: Path, tmp_path: Path) -> None:
    base = dataset_recipe(task_files)
    recipe = dataset_recipe(task_files, task={**base["task"], "verifier": {
        "name": "python", "function": f"{user_verifiers}:too_slow", "timeout_s": 2}},
        loop={**base["loop"], "seed_training": False})
    recipe["model"] = {"path": str(chat_model)}
    proc = qdc("run", recipe, tmp_path, "--set", f"run.dir={tmp_path / 'run'}")
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "too_slow" in last and "2" in last, proc.stderr[-2000:]


def test_tiny_ablation_over_two_strategies(task_files: dict[str, Path], tmp_path: Path) -> None:
    base = dataset_recipe(task_files)
    recipe = dataset_recipe(task_files, ablate={"strategies": ["top_quality", "random"], "seeds": [0],
                                                "share_seed_stage": True})
    recipe["loop"] = {**base["loop"], "iterations": 1}
    proc = qdc("ablate", recipe, tmp_path, "--set", f"run.dir={tmp_path / 'ablation'}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    comparison = json.loads((tmp_path / "ablation" / "comparison.json").read_text())
    assert {row["strategy"] for row in comparison["rows"]} >= {"top_quality", "random"}
