"""Greedy evaluation, one module for the loop's prober, `qdc train` / `qdc eval` and the probes.

A backend answers every prompt greedily, the task family judges the answers, and `accuracy_table`
turns the verdicts into exact-answer accuracy overall, per task and per curriculum level (TInt: list
length), plus the mean of every numeric signal the family reports (TInt: step validity, chain
consistency).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

from system.tasks.base import TaskFamily, TaskPrompt, Verdict

if TYPE_CHECKING:
    from system.models.generation.base import GenerationBackend

DEFAULT_MAX_NEW_TOKENS = 160


def greedy_completions(backend: "GenerationBackend", prompts: Sequence[str], max_new_tokens: int) -> list[str]:
    from system.models.generation.base import SamplingSpec

    spec = SamplingSpec(n=1, temperature=0.0, max_new_tokens=max_new_tokens, seed=0)
    return [g.samples[0].text for g in backend.generate(list(prompts), spec)]


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def accuracy_table(prompts: Sequence[TaskPrompt], verdicts: Sequence[Verdict]) -> dict[str, Any]:
    """Exact-answer accuracy of ``verdicts`` (one per prompt): overall, per task, per level, and the
    mean of each numeric signal."""
    per_task: dict[str, list[bool]] = defaultdict(list)
    per_level: dict[int, list[bool]] = defaultdict(list)
    signals: dict[str, list[float]] = defaultdict(list)
    for p, v in zip(prompts, verdicts, strict=True):
        per_task[p.task].append(v.correct)
        if p.level is not None:
            per_level[int(p.level)].append(v.correct)
        for name, value in v.signals.items():
            if isinstance(value, (bool, int, float)) and name != "first_bad_step":
                signals[name].append(float(value))
    return {
        "accuracy": _mean([v.correct for v in verdicts]),
        "quality": _mean([v.quality for v in verdicts]),
        **{name: _mean(xs) for name, xs in sorted(signals.items())},
        "by_task": {t: _mean(xs) for t, xs in sorted(per_task.items())},
        "by_level": {str(k): _mean(xs) for k, xs in sorted(per_level.items())},
        "verify_errors": sum(v.error is not None for v in verdicts),
        "n": len(verdicts),
    }


@dataclass
class EvalResult:
    """Greedy answers to one set of prompts, judged."""

    table: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return float(self.table["accuracy"])

    @property
    def n(self) -> int:
        return int(self.table["n"])

    @property
    def correct(self) -> int:
        return sum(bool(r["verdict"]["answer_correct"]) for r in self.rows)


def judge_outputs(family: TaskFamily, prompts: Sequence[TaskPrompt], completions: Sequence[str]) -> EvalResult:
    verdicts = family.verify(prompts, completions)
    rows = [{**p.row(), "completion": c, "verdict": v.columns()} for p, c, v in zip(prompts, completions, verdicts)]
    return EvalResult(accuracy_table(prompts, verdicts), rows)


def evaluate(backend: "GenerationBackend", family: TaskFamily, prompts: Sequence[TaskPrompt], *,
             max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, prompt_text: Any = None) -> EvalResult:
    """Greedy completions of ``prompts`` judged by ``family``. ``prompt_text`` maps a prompt to the
    text the model sees (a chat template); default the prompt itself."""
    texts = [prompt_text(p.prompt) if prompt_text else p.prompt for p in prompts]
    return judge_outputs(family, prompts, greedy_completions(backend, texts, max_new_tokens))
