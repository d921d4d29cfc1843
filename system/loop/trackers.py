"""Experiment trackers: each finished iteration's metrics.jsonl row also goes to TensorBoard, W&B or MLflow.

`run.trackers` names them (a registry: name -> class). Every tracker gets the same numbers as
metrics.jsonl, nested dicts flattened with ``/`` (``accuracy_by_length/6``), at step = iteration, and
the resolved recipe as its run config. What a resumed run needs to continue the same tracker run (its
id) and the last iteration each tracker logged are kept in ``<run.dir>/trackers.json``, so a stage that
is evaluated again after a kill is not logged twice.

    tensorboard  <run.dir>/tensorboard (`tensorboard --logdir runs/`)
    wandb        <run.dir>/wandb; offline unless the user has logged in (WANDB_API_KEY or a netrc entry for
                 the W&B host) or set WANDB_MODE; `wandb sync <run.dir>/wandb/offline-run-*` uploads it later
    mlflow       MLFLOW_TRACKING_URI if set, else a file store in <run.dir>/mlruns

The controller calls `log_row` once per finished iteration; the trackers of a run stay open in this
process until its last iteration (then they finish) or until the process exits (then they are closed
as failed: the run stopped early, and a resumed run continues them).
"""

from __future__ import annotations

import atexit
import json
import math
import netrc
import os
import re
import time
from abc import ABC, abstractmethod
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Iterator, Mapping
from urllib.parse import urlparse

from system.errors import QdcError
from system.store import RECIPE, atomic_write_json

if TYPE_CHECKING:
    from system.config import Recipe

STATE_FILE = "trackers.json"
Row = Mapping[str, Any]


def flatten_metrics(row: Row, prefix: str = "") -> dict[str, float]:
    """The numbers of a metrics row, nested keys joined with ``/``; ``iteration`` (the step), strings,
    booleans, nulls and non-finite numbers are left out."""
    out: dict[str, float] = {}
    for key, value in row.items():
        if not prefix and key == "iteration":
            continue
        if isinstance(value, Mapping):
            out.update(flatten_metrics(value, f"{prefix}{key}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            out[f"{prefix}{key}"] = float(value)
    return out


def flatten_recipe(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """The recipe as flat ``dotted.key -> text`` parameters (lists and nulls as JSON), as `--set` names them."""
    out: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, Mapping) and value:
            out.update(flatten_recipe(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value if isinstance(value, str) else json.dumps(value)
    return out


class Tracker(ABC):
    """One backend. ``state`` is its entry of trackers.json (what a resumed run needs); it is saved after
    every call."""

    name: ClassVar[str]

    def __init__(self, run_dir: Path, recipe: "Recipe", state: dict[str, Any]):
        self.run_dir = run_dir
        self.recipe = recipe
        self.state = state

    @abstractmethod
    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        """Record one iteration's metrics."""

    def close(self, finished: bool) -> None:
        """Finish the tracker run (``finished``: after the run's last iteration; else it stopped early)."""


TRACKERS: dict[str, type[Tracker]] = {}


def register(cls: type[Tracker]) -> type[Tracker]:
    TRACKERS[cls.name] = cls
    return cls


@register
class TensorBoardTracker(Tracker):
    name = "tensorboard"

    def __init__(self, run_dir: Path, recipe: "Recipe", state: dict[str, Any]):
        super().__init__(run_dir, recipe, state)
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        for tag, value in metrics.items():
            self.writer.add_scalar(tag, value, global_step=step)
        self.writer.flush()

    def close(self, finished: bool) -> None:
        self.writer.close()


def wandb_logged_in(env: Mapping[str, str] | None = None) -> bool:
    """Whether W&B has credentials: WANDB_API_KEY, or a netrc entry for its host (what `wandb login` writes)."""
    env = os.environ if env is None else env
    if env.get("WANDB_API_KEY"):
        return True
    host = urlparse(env.get("WANDB_BASE_URL") or "https://api.wandb.ai").hostname or "api.wandb.ai"
    path = Path(env.get("NETRC") or Path.home() / ".netrc")
    try:
        return path.is_file() and netrc.netrc(str(path)).authenticators(host) is not None
    except (netrc.NetrcParseError, OSError):
        return False


def wandb_mode(env: Mapping[str, str] | None = None) -> str:
    """WANDB_MODE when the user set it; else online with credentials, offline without."""
    env = os.environ if env is None else env
    return env.get("WANDB_MODE") or ("online" if wandb_logged_in(env) else "offline")


@register
class WandbTracker(Tracker):
    """A W&B run under ``<run.dir>/wandb``; a resumed run reuses its id (online W&B continues the run;
    offline, each process writes one more offline-run folder with the same id, which `wandb sync` joins)."""

    name = "wandb"

    def __init__(self, run_dir: Path, recipe: "Recipe", state: dict[str, Any]):
        super().__init__(run_dir, recipe, state)
        import wandb

        mode = wandb_mode()
        settings = wandb.Settings(silent=True, console="off", x_disable_stats=True, disable_git=True, save_code=False)
        self.run = wandb.init(
            dir=str(run_dir), id=state.get("run_id"), resume="allow", mode=mode, reinit="create_new",
            project=os.environ.get("WANDB_PROJECT") or "qdc-loop", group=recipe.name, name=run_dir.name,
            config=recipe.model_dump(mode="json"), settings=settings,
        )
        state.update(run_id=self.run.id, mode=mode)

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        self.run.log(dict(metrics), step=step)

    def close(self, finished: bool) -> None:
        import wandb

        self.run.finish(exit_code=0 if finished else 1)
        # End W&B's service process now: left to the interpreter's exit, its teardown would find the
        # service gone (the run's processes are stopped with Ray) and print a traceback.
        wandb.teardown()


# MLflow accepts these characters in metric and parameter names
_MLFLOW_UNSAFE = re.compile(r"[^\w\-. /:]")


@register
class MlflowTracker(Tracker):
    """An MLflow run in experiment ``<recipe name>``: MLFLOW_TRACKING_URI, else a file store in
    ``<run.dir>/mlruns``; the recipe as dotted parameters and as the artifact recipe.yaml."""

    name = "mlflow"
    BATCH = 100  # params (and, conservatively, metrics) per log_batch call

    def __init__(self, run_dir: Path, recipe: "Recipe", state: dict[str, Any]):
        super().__init__(run_dir, recipe, state)
        uri = os.environ.get("MLFLOW_TRACKING_URI") or (run_dir / "mlruns").resolve().as_uri()
        if not os.environ.get("MLFLOW_TRACKING_URI"):
            # MLflow 3 keeps its file store (maintenance mode) behind this opt-in; the run's own store is one
            os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri=uri)
        run_id = state.get("run_id") if state.get("tracking_uri") == uri else None
        if run_id is not None:
            try:
                self.client.update_run(run_id, status="RUNNING")
            except MlflowException:
                run_id = None
        if run_id is None:
            run_id = self._create_run()
        self.run_id = run_id
        state.update(run_id=run_id, tracking_uri=uri)

    def _create_run(self) -> str:
        from mlflow.entities import Param

        experiment = self.client.get_experiment_by_name(self.recipe.name)
        experiment_id = experiment.experiment_id if experiment else self.client.create_experiment(self.recipe.name)
        run = self.client.create_run(experiment_id, run_name=self.run_dir.name, tags={"qdc.run_dir": str(self.run_dir)})
        params = [Param(_MLFLOW_UNSAFE.sub("_", k), v[:6000])
                  for k, v in flatten_recipe(self.recipe.model_dump(mode="json")).items()]
        for i in range(0, len(params), self.BATCH):
            self.client.log_batch(run.info.run_id, params=params[i : i + self.BATCH])
        if (self.run_dir / RECIPE).is_file():
            self.client.log_text(run.info.run_id, (self.run_dir / RECIPE).read_text(), RECIPE)
        return run.info.run_id

    def log(self, step: int, metrics: Mapping[str, float]) -> None:
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        rows = [Metric(_MLFLOW_UNSAFE.sub("_", k), v, stamp, step) for k, v in metrics.items()]
        for i in range(0, len(rows), self.BATCH):
            self.client.log_batch(self.run_id, metrics=rows[i : i + self.BATCH])

    def close(self, finished: bool) -> None:
        self.client.set_terminated(self.run_id, status="FINISHED" if finished else "FAILED")


class TrackerError(QdcError):
    pass


@contextmanager
def _naming(name: str) -> Iterator[None]:
    """A tracker library's failure as one line naming the tracker (the run resumes with --resume)."""
    try:
        yield
    except QdcError:
        raise
    except Exception as e:  # noqa: BLE001 - any library error becomes the one-line report
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise TrackerError(f"run.trackers: {name}: {first}") from e


class RunTrackers:
    """The trackers of one run directory, opened on the first row and finished after the last iteration."""

    def __init__(self, run_dir: Path, recipe: "Recipe"):
        self.run_dir = run_dir
        path = run_dir / STATE_FILE
        self.state: dict[str, dict[str, Any]] = json.loads(path.read_text()) if path.is_file() else {}
        self.trackers: list[Tracker] = []
        try:
            for name in recipe.run.trackers:
                with _naming(name):
                    self.trackers.append(TRACKERS[name](run_dir, recipe, self.state.setdefault(name, {})))
        except BaseException:
            with suppress(TrackerError):  # the ones already open; the first error is the one to report
                self.close(finished=False)
            raise
        finally:
            self._save()

    def _save(self) -> None:
        atomic_write_json(self.run_dir / STATE_FILE, self.state)

    def log(self, row: Row) -> None:
        step = int(row["iteration"])
        metrics = flatten_metrics(row)
        for tracker in self.trackers:
            done = tracker.state.get("last_iteration")
            if done is None or step > done:  # a stage evaluated again after a resume is not logged twice
                with _naming(tracker.name):
                    tracker.log(step, metrics)
                tracker.state["last_iteration"] = step
                self._save()

    def close(self, finished: bool) -> None:
        """Close every tracker, then report the first that failed."""
        failed: list[TrackerError] = []
        for tracker in self.trackers:
            try:
                with _naming(tracker.name):
                    tracker.close(finished)
            except TrackerError as e:
                failed.append(e)
        self.trackers = []
        if failed:
            raise failed[0]


_OPEN: dict[Path, RunTrackers] = {}


def log_row(run_dir: Path, row: Row, recipe: "Recipe") -> None:
    """Send one finished iteration's metrics.jsonl row to the recipe's trackers (`run.trackers`); after
    the run's last iteration the trackers finish."""
    if not recipe.run.trackers:
        return
    key = Path(run_dir).resolve()
    if key not in _OPEN:
        _OPEN[key] = RunTrackers(key, recipe)
        # registered after the tracker libraries (atexit runs last-in first-out): ours closes first
        atexit.unregister(close_open_runs)
        atexit.register(close_open_runs)
    _OPEN[key].log(row)
    if int(row["iteration"]) >= recipe.loop.iterations:
        _OPEN.pop(key).close(finished=True)


def close_open_runs() -> None:
    """Trackers still open belong to a run that stopped before its last iteration: the driver closes
    them before it stops Ray, and at exit anything left is closed."""
    while _OPEN:
        _, trackers = _OPEN.popitem()
        try:
            trackers.close(finished=False)
        except Exception:  # noqa: BLE001 - at exit, a tracker's failure must not hide the run's own error
            pass
