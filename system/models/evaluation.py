"""Greedy exact-answer accuracy of a checkpoint on TInt records, through any generation backend."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from system.models.generation.base import GenerationBackend, SamplingSpec

DEFAULT_MAX_NEW_TOKENS = 160


@dataclass
class EvalResult:
    task: str
    split: str
    n: int
    correct: int
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.n if self.n else 0.0


def greedy_completions(backend: GenerationBackend, prompts: Sequence[str], max_new_tokens: int) -> list[str]:
    spec = SamplingSpec(n=1, temperature=0.0, max_new_tokens=max_new_tokens, seed=0)
    return [g.samples[0].text for g in backend.generate(prompts, spec)]


def evaluate_records(
    backend: GenerationBackend,
    records: Sequence[Mapping[str, Any]],
    *,
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
) -> EvalResult:
    """Generate greedily for every record and judge the completion with the TInt verifier.

    Records share one task and split (as `sample_records` yields them); each row keeps the prompt,
    the completion, the verdict and the record's identity.
    """
    from system.tint import verify

    if not records:
        raise ValueError("no records to evaluate")
    task, split = records[0]["task"], records[0]["split"]
    texts = greedy_completions(backend, [r["prompt"] for r in records], max_new_tokens)
    rows, correct = [], 0
    for r, text in zip(records, texts):
        verdict = verify(r["task"], r["input"], text)
        correct += verdict.answer_correct
        rows.append({"task": r["task"], "split": r["split"], "input": r["input"], "prompt": r["prompt"],
                     "completion": text, "answer": r["answer"], "verdict": verdict.to_dict()})
    return EvalResult(task=task, split=split, n=len(records), correct=correct, rows=rows)
