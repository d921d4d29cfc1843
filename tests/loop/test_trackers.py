"""`run.trackers`: the rows of a real metrics.jsonl (tests/loop/data, from a tiny `qdc run`) through the
tracker module into TensorBoard, an offline W&B run and an MLflow file store, read back with the
libraries' own record types and client; a resumed run continues the same tracker runs; one slow tiny
loop run end to end."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from system.config import RecipeError, dump_recipe, load_recipe, validate_recipe
from system.loop import trackers
from system.loop.config import TrackerName
from system.loop.trackers import TRACKERS, flatten_metrics, flatten_recipe, log_row, wandb_logged_in, wandb_mode
from tests.loop.conftest import TINY

DATA = Path(__file__).parent / "data" / "tiny_metrics.jsonl"
ROWS = [json.loads(line) for line in DATA.read_text().splitlines() if line.strip()]


# -- readers: W&B's offline run file (LevelDB log blocks of W&B's own protobuf records), MLflow's client --
def wandb_records(path: Path) -> Iterator[Any]:
    """The records of an offline ``run-<id>.wandb`` file: a 7-byte header, then 32 KiB blocks of chunks
    (crc32 4 bytes, length 2, type 1: full, first, middle, last), each record a `wandb_internal_pb2.Record`."""
    from wandb.proto import wandb_internal_pb2

    data, block, pos, parts = path.read_bytes(), 32768, 7, b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 0:  # block padding
            pos += left - 7 - length
            continue
        parts = chunk if kind in (1, 2) else parts + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(parts)
            yield record


def wandb_offline_runs(run_dir: Path) -> list[dict[str, Any]]:
    """Each offline-run folder: its run id, config and history (step -> {key: value})."""
    out = []
    for folder in sorted((run_dir / "wandb").glob("offline-run-*")):
        (file,) = folder.glob("run-*.wandb")
        run: dict[str, Any] = {"history": {}}
        for record in wandb_records(file):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                run["id"] = record.run.run_id
                run["config"] = {u.key: json.loads(u.value_json) for u in record.run.config.update}
            elif kind == "history":
                items = {"/".join(i.nested_key) or i.key: json.loads(i.value_json) for i in record.history.item}
                run["history"][record.history.step.num] = {k: v for k, v in items.items() if not k.startswith("_")}
        out.append(run)
    return out


def mlflow_runs(run_dir: Path) -> tuple[list[Any], Any]:
    from mlflow.tracking import MlflowClient

    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # MLflow 3 reads its file store only with this opt-in
    client = MlflowClient(tracking_uri=(run_dir / "mlruns").resolve().as_uri())
    experiment = client.get_experiment_by_name("tiny")
    return [client.get_run(r.info.run_id) for r in client.search_runs([experiment.experiment_id])], client


def mlflow_history(client: Any, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


# -- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture
def offline_env(tmp_path: Path) -> Iterator[None]:
    """No W&B credentials, no MLflow server, library state kept out of $HOME; the environment restored."""
    saved = dict(os.environ)
    for key in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_BASE_URL", "MLFLOW_TRACKING_URI", "MLFLOW_ALLOW_FILE_STORE"):
        os.environ.pop(key, None)
    os.environ.update(NETRC=str(tmp_path / "no_netrc"), WANDB_CONFIG_DIR=str(tmp_path / "wandb_config"),
                      WANDB_CACHE_DIR=str(tmp_path / "wandb_cache"), WANDB_DATA_DIR=str(tmp_path / "wandb_data"))
    try:
        yield
    finally:
        trackers.close_open_runs()
        os.environ.clear()
        os.environ.update(saved)


def tiny_run_dir(root: Path, names: list[str]) -> tuple[Path, Any]:
    """A run directory with the resolved recipe, as `qdc run` starts one (2 iterations: rows 0, 1, 2)."""
    recipe = validate_recipe({**TINY, "run": {"trackers": names}})
    run = root / "run"
    run.mkdir()
    (run / "recipe.yaml").write_text(dump_recipe(recipe))
    return run, recipe


# -- recipe key ----------------------------------------------------------------------------------------
def test_trackers_key_default_alias_and_errors(tmp_path: Path) -> None:
    def recipe(**run: Any) -> Any:
        return validate_recipe({"name": "r", "run": run})

    assert recipe().run.trackers == ["tensorboard"]
    assert set(TrackerName.__args__) == set(TRACKERS)
    assert recipe(tensorboard=False).run.trackers == []
    assert recipe(tensorboard=True).run.trackers == ["tensorboard"]
    assert "tensorboard" not in yaml.safe_load(dump_recipe(recipe(tensorboard=True)))["run"]
    with pytest.raises(RecipeError, match=r"run\.trackers\.1: Input should be 'tensorboard', 'wandb' or 'mlflow'"):
        recipe(trackers=["wandb", "neptune"])
    with pytest.raises(RecipeError, match="give run.trackers only"):
        recipe(trackers=["wandb"], tensorboard=True)
    with pytest.raises(RecipeError, match="names a tracker twice"):
        recipe(trackers=["mlflow", "mlflow"])
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: r\n")
    assert load_recipe(recipe, ["run.trackers=[wandb, mlflow]"]).run.trackers == ["wandb", "mlflow"]


def test_flatten_metrics_and_recipe() -> None:
    flat = flatten_metrics(ROWS[1])
    assert "iteration" not in flat and "level_name" not in flat and "pass_at_k" in flat
    assert flat["accuracy_by_length/6"] == ROWS[1]["accuracy_by_length"]["6"]
    assert flat["accuracy_by_task/id/max"] == ROWS[1]["accuracy_by_task"]["id"]["max"]
    assert flat["frontiers/sum"] == ROWS[1]["frontiers"]["sum"]
    assert "pass_at_k" not in flatten_metrics(ROWS[0])  # null at the seed iteration
    params = flatten_recipe(validate_recipe(TINY).model_dump(mode="json"))
    assert params["loop.iterations"] == "2" and params["tint.tasks"] == '["sum"]' and params["run.dir"] == "null"


def test_wandb_is_offline_unless_logged_in(tmp_path: Path) -> None:
    netrc = tmp_path / "netrc"
    assert wandb_mode({"NETRC": str(netrc)}) == "offline"
    assert wandb_mode({"NETRC": str(netrc), "WANDB_API_KEY": "k" * 40}) == "online"
    netrc.write_text("machine example.org login user password secret\n")
    assert not wandb_logged_in({"NETRC": str(netrc)})
    netrc.write_text("machine api.wandb.ai login user password secret\n")
    assert wandb_mode({"NETRC": str(netrc)}) == "online"
    assert wandb_mode({"NETRC": str(netrc), "WANDB_MODE": "disabled"}) == "disabled"
    assert not wandb_logged_in({"NETRC": str(netrc), "WANDB_BASE_URL": "https://wandb.example.org"})


# -- every iteration in every tracker ----------------------------------------------------------------------
def test_every_iteration_reaches_tensorboard_wandb_and_mlflow(tmp_path: Path, offline_env: None) -> None:
    run, recipe = tiny_run_dir(tmp_path, ["tensorboard", "wandb", "mlflow"])
    for row in ROWS:
        log_row(run, row, recipe)
    assert not trackers._OPEN  # finished after the last iteration
    expected = {row["iteration"]: flatten_metrics(row) for row in ROWS}

    (wb,) = wandb_offline_runs(run)
    assert wb["history"] == expected
    assert wb["config"]["loop"]["iterations"] == 2 and wb["config"]["run"]["trackers"] == recipe.run.trackers

    (ml,), client = mlflow_runs(run)
    assert ml.info.status == "FINISHED" and ml.info.run_name == "run"
    for key in set().union(*expected.values()):
        assert mlflow_history(client, ml.info.run_id, key) == sorted(
            (step, value[key]) for step, value in expected.items() if key in value), key
    assert ml.data.params["loop.iterations"] == "2" and ml.data.params["model.hidden"] == "64"
    assert "recipe.yaml" in [a.path for a in client.list_artifacts(ml.info.run_id)]

    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    state = json.loads((run / "trackers.json").read_text())
    assert state["wandb"] == {"run_id": wb["id"], "mode": "offline", "last_iteration": 2}
    assert state["mlflow"]["run_id"] == ml.info.run_id and state["mlflow"]["last_iteration"] == 2


def test_a_resumed_run_continues_the_same_tracker_runs(tmp_path: Path, offline_env: None) -> None:
    run, recipe = tiny_run_dir(tmp_path, ["wandb", "mlflow"])
    log_row(run, ROWS[0], recipe)
    log_row(run, ROWS[1], recipe)
    trackers.close_open_runs()  # the process ends before the last iteration (killed, or an error)
    (ml,), client = mlflow_runs(run)
    assert ml.info.status == "FAILED"
    for row in ROWS[1:]:  # the resumed run evaluates iteration 1 again (its eval stage was not marked done)
        log_row(run, row, recipe)

    first, second = wandb_offline_runs(run)
    assert first["id"] == second["id"]
    assert sorted(first["history"]) == [0, 1] and sorted(second["history"]) == [2]
    (ml,), client = mlflow_runs(run)
    assert ml.info.status == "FINISHED"
    assert [step for step, _ in mlflow_history(client, ml.info.run_id, "id_accuracy")] == [0, 1, 2]


def test_a_tracker_failure_is_one_line_naming_it(tmp_path: Path, offline_env: None) -> None:
    run, recipe = tiny_run_dir(tmp_path, ["mlflow"])
    os.environ["MLFLOW_TRACKING_URI"] = "unknown-scheme://nowhere"
    with pytest.raises(trackers.TrackerError, match=r"^run\.trackers: mlflow: ") as err:
        log_row(run, ROWS[0], recipe)
    assert "\n" not in str(err.value)


# -- end to end ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_tiny_loop_run_leaves_offline_wandb_and_mlflow_runs(uninterrupted_run: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The test session's tiny `qdc run` ran with run.trackers [tensorboard, wandb, mlflow] and no credentials."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # restored after the test
    run = uninterrupted_run
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    expected = {row["iteration"]: flatten_metrics(row) for row in rows}
    assert sorted(expected) == [0, 1, 2]
    (wb,) = wandb_offline_runs(run)
    assert wb["history"] == expected
    (ml,), client = mlflow_runs(run)
    assert ml.info.status == "FINISHED"
    assert mlflow_history(client, ml.info.run_id, "ood_accuracy") == [(i, expected[i]["ood_accuracy"]) for i in (0, 1, 2)]
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
