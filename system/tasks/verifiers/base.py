"""The answer-verifier interface: a batch of (prompt, completion, reference) items in, verdicts out."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Sequence

from system.tasks.base import TaskDataError, Verdict

if TYPE_CHECKING:
    from system.tasks.config import VerifierConfig


@dataclass(frozen=True)
class VerifyItem:
    """One candidate to judge. ``ground_truth`` is the row's reference answer as the data holds it;
    ``data_source`` names where the row came from (verl's argument of that name); ``extra_info`` holds
    the row's other columns (a TRL-convention function receives each of them as a keyword list)."""

    prompt: str
    completion: str
    ground_truth: Any
    data_source: str = ""
    extra_info: Mapping[str, Any] = field(default_factory=dict)


class VerifierTimeout(TaskDataError):
    """A user verifier call took longer than ``task.verifier.timeout_s``."""


class AnswerVerifier(ABC):
    """Judges completions against reference answers.

    ``judge`` returns one `Verdict` per item, in order. It never raises because of a completion's
    text; a user function that raises on a candidate gives that candidate `Verdict.failed`. It raises
    `TaskDataError` only for a broken verifier (a score outside [0, 1], a call past its timeout).
    """

    name: ClassVar[str]

    @classmethod
    @abstractmethod
    def from_config(cls, config: "VerifierConfig") -> "AnswerVerifier":
        """The verifier as ``task.verifier`` configures it (refuses an unusable configuration)."""

    @abstractmethod
    def judge(self, items: Sequence[VerifyItem]) -> list[Verdict]:
        """One verdict per item."""

    def reference_problem(self, ground_truth: Any) -> str | None:
        """Why this verifier cannot read a reference answer (for refusing data before a run), or None."""
        return None


def reference_text(ground_truth: Any) -> str | None:
    """A reference answer as text: strings as they are, other values as JSON (72 -> "72"); None stays None."""
    if ground_truth is None:
        return None
    if isinstance(ground_truth, str):
        return ground_truth
    try:
        return json.dumps(ground_truth, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(ground_truth)


def shorten(text: str, limit: int = 200) -> str:
    """One line of at most ``limit`` characters (whitespace runs collapsed)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
