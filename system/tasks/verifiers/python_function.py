"""The user's own verifier function, in verl's or TRL's calling convention.

``task.verifier.function`` names it as ``path/to/file.py:name`` (the file is imported with
importlib; a relative path is taken from the current directory) or ``package.module:name``. Its
parameters say how it is called:

- a parameter named ``solution_str``: verl's ``compute_score``, once per candidate, with the keyword
  arguments ``data_source``, ``solution_str``, ``ground_truth``, ``extra_info`` (those it accepts);
- a parameter named ``completions``: TRL's ``reward_funcs``, once per batch, with ``prompts``,
  ``completions``, ``ground_truth`` and every ``extra_info`` column as a keyword list (those it
  accepts; all of them when it takes ``**kwargs``). Completions are plain strings.

It returns a score (a number or a bool; TRL: a list of them) or a dict with ``score``; the dict's
other keys become ``verifier_<key>`` signals of the verdict, except ``pred``, which is the extracted
answer. A candidate is correct when its score is 1. A score outside [0, 1] or not finite is a
`TaskDataError` naming the function; so is a result of the wrong kind. A call that raises gives its
candidate `Verdict.failed("<ExcType>: <message>")` (a TRL batch that raises is retried one candidate
at a time, so only the candidates it raises on fail). A call that outlasts ``timeout_s`` raises
`VerifierTimeout`.

The user's module is imported (it is the user's code, chosen in the recipe); model output and data are
only ever passed to it as arguments.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import math
import numbers
import queue
import sys
import threading
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Literal, Mapping, Sequence

from system.tasks.base import Scalar, TaskDataError, Verdict
from system.tasks.verifiers.base import AnswerVerifier, VerifierTimeout, VerifyItem, shorten

if TYPE_CHECKING:
    from system.tasks.config import VerifierConfig

FIELD = "task.verifier.function"
Convention = Literal["verl", "trl"]
VERL_ARGUMENTS = ("data_source", "solution_str", "ground_truth", "extra_info")


# ------------------------------------------------------------------------------------------------
# loading


def _is_file_target(target: str) -> bool:
    return target.endswith(".py") or "/" in target or "\\" in target


def _import_file(path: Path) -> Any:
    name = "qdc_user_verifier_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise TaskDataError(f"{FIELD}: {path}: cannot be imported as a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and typing look a module up by name while it runs
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        del sys.modules[name]
        raise TaskDataError(f"{FIELD}: {path}: importing it failed: {type(e).__name__}: {shorten(str(e))}") from None
    return module


def load_function(spec: str) -> Callable[..., Any]:
    """The callable ``spec`` names: ``path/to/file.py:name`` or ``package.module:name``."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise TaskDataError(f"{FIELD}: {spec!r}: expected path/to/file.py:name or package.module:name")
    if _is_file_target(target):
        path = Path(target).expanduser()
        path = path if path.is_absolute() else Path.cwd() / path
        if not path.is_file():
            raise TaskDataError(f"{FIELD}: {target}: file not found (a relative path starts at the current directory)")
        module = _import_file(path.resolve())
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as e:
            raise TaskDataError(f"{FIELD}: cannot import module {target!r}: {shorten(str(e))}") from None
        except Exception as e:
            raise TaskDataError(f"{FIELD}: importing {target!r} failed: {type(e).__name__}: {shorten(str(e))}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise TaskDataError(f"{FIELD}: {target} has no {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise TaskDataError(f"{FIELD}: {spec} is a {type(obj).__name__}, not a function")
    return obj


def calling_convention(fn: Callable[..., Any], label: str) -> tuple[Convention, frozenset[str] | None]:
    """("verl" | "trl", the keyword names it accepts, or None when it takes ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        raise TaskDataError(f"{FIELD}: {label}: its parameters cannot be read") from None
    names = {n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    accepted = None if any(p.kind is p.VAR_KEYWORD for p in params.values()) else frozenset(names)
    if "solution_str" in names and "completions" in names:
        raise TaskDataError(f"{FIELD}: {label} takes both `solution_str` (verl) and `completions` (TRL); "
                            "name only one of them")
    if "solution_str" in names:
        return "verl", accepted
    if "completions" in names:
        return "trl", accepted
    shown = ", ".join(params) or "none"
    raise TaskDataError(f"{FIELD}: {label} takes neither `solution_str` (verl, called per candidate) nor "
                        f"`completions` (TRL, called per batch); its parameters: {shown}")


# ------------------------------------------------------------------------------------------------
# calling with a timeout


class _Stop:
    pass


class CallRunner:
    """Runs calls one at a time in a daemon worker thread, so the caller can stop waiting.

    Python cannot stop a running thread. A call that outlasts its timeout is abandoned: its thread
    goes on until the function returns (its result is then dropped, and the thread exits) or the
    process ends (a daemon thread does not keep the process alive). The next call gets a new worker.
    Callers treat a timeout as fatal (the stage fails), so at most a few threads are ever abandoned.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Any] | None = None

    def _worker(self, jobs: "queue.SimpleQueue[Any]") -> None:
        while True:
            job = jobs.get()
            if isinstance(job, _Stop):
                return
            fn, kwargs, future = job
            try:
                future.set_result(fn(**kwargs))
            except BaseException as e:  # noqa: BLE001 - handed to the caller as the call's outcome
                future.set_exception(e)

    def call(self, fn: Callable[..., Any], kwargs: Mapping[str, Any], timeout_s: float) -> Any:
        """``fn(**kwargs)``'s result or exception; `FutureTimeout` after ``timeout_s``."""
        if self._jobs is None:
            self._jobs = queue.SimpleQueue()
            threading.Thread(target=self._worker, args=(self._jobs,), name="qdc-verifier", daemon=True).start()
        future: Future[Any] = Future()
        jobs = self._jobs
        jobs.put((fn, dict(kwargs), future))
        try:
            return future.result(timeout=timeout_s)
        except FutureTimeout:
            jobs.put(_Stop())  # the stuck worker exits once its call returns
            self._jobs = None
            raise


# ------------------------------------------------------------------------------------------------
# the verifier


def _number(value: Any) -> float | None:
    if isinstance(value, numbers.Real):
        return float(value)
    item = getattr(value, "item", None)  # numpy / torch scalars
    if callable(item):
        try:
            inner = item()
        except (TypeError, ValueError, RuntimeError):
            return None
        if isinstance(inner, numbers.Real):
            return float(inner)
    return None


def _scalar(value: Any) -> Scalar:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    number = _number(value)
    return number if number is not None else shorten(repr(value))


class PythonVerifier(AnswerVerifier):
    name = "python"

    def __init__(self, function: Callable[..., Any], label: str, timeout_s: float = 60.0) -> None:
        self.function = function
        self.label = label
        self.timeout_s = timeout_s
        self.convention, self.accepted = calling_convention(function, label)
        self._runner = CallRunner()

    @classmethod
    def from_config(cls, config: "VerifierConfig") -> "PythonVerifier":
        assert config.function is not None  # VerifierConfig requires it for name python
        return cls(load_function(config.function), config.function, timeout_s=config.timeout_s)

    def judge(self, items: Sequence[VerifyItem]) -> list[Verdict]:
        if not items:
            return []
        if self.convention == "verl":
            return [self._judge_one(i, item) for i, item in enumerate(items)]
        return self._judge_batch(list(items), offset=0, retry_alone=True)

    # -- calls -------------------------------------------------------------------------------------
    def _keywords(self, candidates: Mapping[str, Any]) -> dict[str, Any]:
        if self.accepted is None:
            return dict(candidates)
        return {k: v for k, v in candidates.items() if k in self.accepted}

    def _call(self, kwargs: Mapping[str, Any]) -> Any:
        try:
            return self._runner.call(self.function, kwargs, self.timeout_s)
        except FutureTimeout:
            raise VerifierTimeout(f"{FIELD}: {self.label}: a call took longer than task.verifier.timeout_s = "
                                  f"{self.timeout_s:g} s (raise the timeout or make the function faster)") from None

    def _judge_one(self, index: int, item: VerifyItem) -> Verdict:
        kwargs = self._keywords({"data_source": item.data_source, "solution_str": item.completion,
                                 "ground_truth": item.ground_truth, "extra_info": dict(item.extra_info)})
        try:
            result = self._call(kwargs)
        except VerifierTimeout:
            raise
        except Exception as e:
            return Verdict.failed(f"{type(e).__name__}: {shorten(str(e))}")
        return self._verdict(result, index)

    def _judge_batch(self, items: list[VerifyItem], offset: int, retry_alone: bool) -> list[Verdict]:
        columns: dict[str, list[Any]] = {}
        for key in dict.fromkeys(k for item in items for k in item.extra_info):
            if key not in ("prompts", "completions"):
                columns[str(key)] = [item.extra_info.get(key) for item in items]
        given = {"prompts": [item.prompt for item in items], "completions": [item.completion for item in items]}
        if "ground_truth" not in columns:
            given["ground_truth"] = [item.ground_truth for item in items]
        try:
            result = self._call(self._keywords({**columns, **given}))
        except VerifierTimeout:
            raise
        except Exception as e:
            if retry_alone and len(items) > 1:
                return [v for i, item in enumerate(items) for v in self._judge_batch([item], offset + i, False)]
            return [Verdict.failed(f"{type(e).__name__}: {shorten(str(e))}") for _ in items]
        if isinstance(result, (str, bytes, Mapping)) or not hasattr(result, "__len__") or not hasattr(result, "__iter__"):
            raise TaskDataError(f"{FIELD}: {self.label} returned {type(result).__name__}; a TRL-convention "
                                f"function returns one score per completion (a list of {len(items)})")
        scores = list(result)
        if len(scores) != len(items):
            raise TaskDataError(f"{FIELD}: {self.label} returned {len(scores)} scores for {len(items)} completions")
        return [self._verdict(score, offset + i) for i, score in enumerate(scores)]

    # -- results -----------------------------------------------------------------------------------
    def _verdict(self, result: Any, index: int) -> Verdict:
        """A verdict from one returned value (``index``: the candidate's place in the batch)."""
        if result is None:  # TRL's "no reward for this sample"
            return Verdict.failed(f"{self.label} returned no score (None)")
        signals: dict[str, Scalar] = {}
        answer: str | None = None
        value = result
        if isinstance(result, Mapping):
            if "score" not in result:
                keys = ", ".join(map(str, result)) or "none"
                raise TaskDataError(f"{FIELD}: {self.label} returned a dict without 'score' (keys: {keys})")
            value = result["score"]
            pred = result.get("pred")
            answer = None if pred is None else str(pred)
            signals = {f"verifier_{k}": _scalar(v) for k, v in result.items() if k not in ("score", "pred")}
        score = _number(value)
        if score is None:
            raise TaskDataError(f"{FIELD}: {self.label} returned {shorten(repr(value), 60)} "
                                f"({type(value).__name__}) for candidate {index}; a score is a number or a bool")
        if not (math.isfinite(score) and 0.0 <= score <= 1.0):
            raise TaskDataError(f"{FIELD}: {self.label} returned the score {score!r} for candidate {index}; "
                                "scores must be in [0, 1]")
        return Verdict(quality=score, correct=score >= 1.0, answer=answer, signals=signals)
