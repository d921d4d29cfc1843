"""The task-family interface: everything the loop needs to know about a task, behind one ABC.

A family supplies seed records (prompt + reference completion), the prompts of an iteration from a
curriculum state, how that state advances from what was kept, named evaluation sets, and a batch
``verify`` that turns completions into `Verdict`s (a quality in [0, 1], whether the answer is right,
the extracted answer, and the family's own signals and complexity measures). The loop, the filter,
the learner's data, evaluation and the ablation know only this module; `tint` and `dataset` are
registry entries (`system.tasks.registry`).

Records between stages are typed: `TaskPrompt` (what the generators are asked), `SeedRecord` (what
seed training and replay learn from) and `Verdict` (what the filter stage computes once per candidate
and stores in samples.parquet as columns, see `Verdict.columns`).
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Sequence

from system.errors import QdcError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from system.config import Recipe

Scalar = float | int | bool | str | None
Curriculum = dict[str, int]  # curriculum key -> current level (TInt: task -> frontier list length)


@dataclass(frozen=True)
class TaskPrompt:
    """One prompt the loop sends to the model, with what the verifier needs to judge a completion.

    ``task`` names the prompt's group (a TInt task, a dataset's source or task column): accuracy is
    reported per task. ``level`` is its curriculum level (TInt: list length; dataset: difficulty).
    ``fields`` are the family's own columns, kept with every candidate of the prompt (TInt:
    ``input``; dataset: the row's other columns as JSON text), so ``verify`` needs nothing else.
    """

    prompt_id: str
    task: str
    prompt: str
    answer: Any
    split: str
    level: int | None = None
    fields: Mapping[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """The prompt's columns as they go into candidates.parquet (answer as JSON text)."""
        return {"prompt_id": self.prompt_id, "task": self.task, "split": self.split, "level": self.level,
                "prompt": self.prompt, "answer": json.dumps(self.answer), **self.fields}

    @classmethod
    def from_row(cls, row: Mapping[str, Any], field_names: Sequence[str]) -> "TaskPrompt":
        return cls(prompt_id=str(row["prompt_id"]), task=str(row["task"]), prompt=str(row["prompt"]),
                   answer=stored_answer(row["answer"]), split=str(row.get("split", "")),
                   level=row.get("level"), fields={k: row[k] for k in field_names if k in row})


def stored_answer(value: Any) -> Any:
    """The answer of a row: candidates.parquet stores it as JSON text; other rows carry it as is."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


@dataclass(frozen=True)
class SeedRecord:
    """A prompt with a reference completion: seed training and clean replay."""

    prompt: str
    completion: str
    task: str = ""
    messages_json: str | None = None  # a chat-messages prompt (JSON text), formatted by the model's template

    def as_sft(self) -> dict[str, str]:
        row = {"prompt": self.prompt, "completion": self.completion}
        if self.messages_json:
            row["messages_json"] = self.messages_json
        return row


# Columns every verdict writes; a family's signal or complexity name may not reuse them.
VERDICT_COLUMNS = ("verdict_quality", "answer_correct", "extracted_answer", "verify_error")


@dataclass(frozen=True)
class Verdict:
    """The judgement of one completion.

    ``quality`` is in [0, 1] (1 = best); ``correct`` says whether the final answer is the reference;
    ``answer`` is the final answer as the family extracted it (None when none could be read), used for
    majority votes and answer diversity. ``signals`` are the family's own checks (TInt:
    ``steps_valid``, ``chain_consistent``...; a user verifier's extra keys as ``verifier_<key>``) and
    ``complexity`` its complexity measures (non-negative). ``error`` is a one-line message when the
    verifier raised on this candidate (quality is then 0).
    """

    quality: float
    correct: bool
    answer: str | None = None
    signals: Mapping[str, Scalar] = field(default_factory=dict)
    complexity: Mapping[str, float] = field(default_factory=dict)
    error: str | None = None

    def __post_init__(self) -> None:
        if not (isinstance(self.quality, (int, float)) and math.isfinite(self.quality) and 0.0 <= self.quality <= 1.0):
            raise ValueError(f"verdict quality must be a number in [0, 1], got {self.quality!r}")

    def columns(self) -> dict[str, Scalar]:
        """Flat columns for samples.parquet."""
        return {"verdict_quality": float(self.quality), "answer_correct": bool(self.correct),
                "extracted_answer": self.answer, "verify_error": self.error,
                **dict(self.signals), **{k: float(v) for k, v in self.complexity.items()}}

    @classmethod
    def failed(cls, message: str) -> "Verdict":
        return cls(quality=0.0, correct=False, answer=None, error=message)


class TaskDataError(QdcError):
    """The task's data or verifier cannot be used; the message names the file (and line) or the field."""


class TaskFamily(ABC):
    """What a task is to the loop. Built once per process from the recipe (`system.tasks.family_for`).

    Subclasses set ``name``, the default quality and complexity scorers of the QDC filter (the
    scorers read the verdict columns this family writes), and ``level_name`` (what a curriculum level
    is, for metrics such as ``accuracy_by_length``).
    """

    name: ClassVar[str]
    level_name: ClassVar[str] = "level"
    default_quality: ClassVar[dict[str, float]] = {"verifier": 1.0}
    default_complexity: ClassVar[dict[str, float]] = {"text_length": 1.0}
    # the family's own candidate columns (`TaskPrompt.fields`), kept through parquet and back
    field_names: ClassVar[tuple[str, ...]] = ()

    @classmethod
    @abstractmethod
    def from_recipe(cls, recipe: "Recipe") -> "TaskFamily":
        """The family as the recipe configures it."""

    # -- data ------------------------------------------------------------------------------------
    @abstractmethod
    def seed_records(self, seed: int, n: int | None = None, weights: Mapping[str, float] | None = None
                     ) -> list[SeedRecord]:
        """The clean seed set (``n`` records, default the family's seed size), shuffled, seeded.
        ``weights`` share the records over tasks (relative; missing tasks weigh 1)."""

    def replay_records(self, seed: int, n: int, weights: Mapping[str, float] | None = None) -> list[SeedRecord]:
        """``n`` clean records for replay in a loop round (a fresh draw per ``seed``)."""
        return self.seed_records(seed, n=n, weights=weights)

    @abstractmethod
    def tasks(self) -> list[str]:
        """The task names the seed set covers (for `train.task_weights`)."""

    @abstractmethod
    def seed_size(self) -> int:
        """Records in the default seed set."""

    # -- curriculum ------------------------------------------------------------------------------
    @abstractmethod
    def first_curriculum(self) -> Curriculum:
        """The curriculum state of iteration 1."""

    @abstractmethod
    def advance(self, state: Curriculum, kept: Mapping[str, float]) -> Curriculum:
        """The next state from the fraction of each curriculum key's prompts that had a sample kept."""

    @abstractmethod
    def curriculum_key(self, prompt: TaskPrompt) -> str:
        """Which curriculum key a prompt counts toward (TInt: its task)."""

    @abstractmethod
    def iteration_prompts(self, state: Curriculum, n: int, seed: int, iteration: int) -> list[TaskPrompt]:
        """``n`` prompts for one iteration; their ``prompt_id``s are unique within the run."""

    # -- evaluation ------------------------------------------------------------------------------
    @abstractmethod
    def eval_sets(self, seed: int, n: int | None = None) -> dict[str, list[TaskPrompt]]:
        """Named evaluation sets (the split named ``id`` is in-distribution), the same every call."""

    def summary_accuracy(self, by_split: Mapping[str, float]) -> tuple[float | None, float | None]:
        """(id_accuracy, ood_accuracy) from the accuracy per split: the split ``id``, and the mean
        over the others."""
        ood = [v for k, v in by_split.items() if k != "id"]
        return by_split.get("id"), (sum(ood) / len(ood) if ood else None)

    # -- judging ---------------------------------------------------------------------------------
    @abstractmethod
    def verify(self, prompts: Sequence[TaskPrompt], completions: Sequence[str]) -> list[Verdict]:
        """One verdict per (prompt, completion). Must not raise on any completion text; a user
        verifier that raises gives that candidate `Verdict.failed`."""

    # -- models ----------------------------------------------------------------------------------
    @abstractmethod
    def scratch_tokenizer(self, seed: int, max_length: int) -> "PreTrainedTokenizerBase":
        """The tokenizer a scratch model of this family is built with (saved with every checkpoint)."""

    def check(self) -> None:
        """Refuse unusable task data before anything starts (raises QdcError naming file and line)."""

    def row_problem(self, row: Mapping[str, Any], text_field: str = "completion") -> str | None:
        """Why a candidate row cannot be judged by this family (None if it can)."""
        missing = [f for f in ("prompt_id", "task", "prompt", "answer", text_field) if f not in row]
        return f"has no {', '.join(repr(m) for m in missing)}" if missing else None

    def prompt_of(self, row: Mapping[str, Any]) -> TaskPrompt:
        return TaskPrompt.from_row(row, self.field_names)
