"""The `tint` task family: TInt tasks with a list-length curriculum, the step verifier and the
character tokenizer.

Settings come from the recipe's ``tint:`` section (tasks, splits, seed and evaluation sizes) and the
loop's ``loop.curriculum`` (frontier lengths) and ``loop.eval`` (evaluated splits). A verdict's
quality is the mean of exact answer, chain consistency and step validity (the filter's default
quality scorers read the same three columns); its complexity measures are the trace's steps, the
list length, the input's digits and the number of distinct operators.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Sequence

from system.qdc.config import DEFAULT_COMPLEXITY, DEFAULT_QUALITY
from system.tasks.base import Curriculum, SeedRecord, TaskFamily, TaskPrompt, Verdict, stored_answer
from system.tasks.tint_curriculum import first_frontiers, iteration_prompts, next_frontiers

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from system.config import Recipe, TintConfig
    from system.loop.config import CurriculumConfig

EVAL_SEED_OFFSET = 7919  # evaluation prompts are drawn with seed + offset, away from the seed set's
VERDICT_SIGNALS = ("parsed", "steps_valid", "chain_consistent", "first_bad_step", "noise_kind")


def task_counts(tasks: Sequence[str], total: int, weights: Mapping[str, float] | None = None) -> dict[str, int]:
    """Split ``total`` records over ``tasks`` in proportion to ``weights`` (default: evenly)."""
    w = [float((weights or {}).get(t, 1.0)) for t in tasks]
    raw = [total * x / sum(w) for x in w]
    counts = [int(r) for r in raw]
    for i in sorted(range(len(tasks)), key=lambda i: raw[i] - counts[i], reverse=True)[: total - sum(counts)]:
        counts[i] += 1
    return dict(zip(tasks, counts))


def tint_prompt(record: Mapping[str, Any], prompt_id: str) -> TaskPrompt:
    """A TInt record (system.tint.dataset) as a task prompt; its level is the list length."""
    return TaskPrompt(prompt_id=prompt_id, task=record["task"], prompt=record["prompt"], answer=record["answer"],
                      split=record["split"], level=len(record["input"]), fields={"input": list(record["input"])})


def seed_records(tint: "TintConfig", seed: int, n: int | None = None,
                 weights: Mapping[str, float] | None = None) -> list[dict[str, Any]]:
    """The clean seed set as TInt records: ``n`` (default tint.seed_size) ID records over tint.tasks
    (evenly, or in proportion to ``weights``), shuffled. Evaluation sets use another seed (`eval_records`)."""
    from system.tint import sample_records

    total = n if n is not None else tint.seed_size
    specs = tint.split_specs()
    out: list[dict[str, Any]] = []
    for task, count in task_counts(tint.tasks, total, weights).items():
        out.extend(sample_records(task, "id", count, seed=seed, splits=specs))
    random.Random(f"shuffle:{seed}").shuffle(out)
    return out


def eval_records(tint: "TintConfig", task: str, split: str, seed: int, n: int | None = None) -> list[dict[str, Any]]:
    """The fixed evaluation records of one task and split (seeded away from the seed set)."""
    from system.tint import sample_records

    count = n if n is not None else tint.eval_size
    return list(sample_records(task, split, count, seed=seed + EVAL_SEED_OFFSET, splits=tint.split_specs()))


def tint_eval_prompts(task: str, split: str, n: int, seed: int) -> list[TaskPrompt]:
    """``n`` evaluation prompts of one task and split with the default split ranges (`qdc eval`);
    bad names raise QdcError naming the flag."""
    from system.errors import QdcError
    from system.tint import UnknownTaskError, get_task, sample_records, splits_for

    try:
        spec = get_task(task)
    except UnknownTaskError as e:
        raise QdcError(f"--task: {e}") from None
    if split not in splits_for(spec):
        raise QdcError(f"--split {split!r}: task {task!r} has the splits {', '.join(splits_for(spec))}")
    records = sample_records(task, split, n, seed=seed + EVAL_SEED_OFFSET)
    return [tint_prompt(r, f"eval:{split}:{i}") for i, r in enumerate(records)]


def judge(task: str, values: list[int], completion: str) -> Verdict:
    """The TInt verifier's judgement of one completion as a family verdict."""
    from system.tint import parse, verify

    v = verify(task, values, completion)
    parsed = parse(completion)
    answer = " ".join(str(x) for x in parsed.answer) if parsed.answer is not None else None
    return Verdict(
        quality=(float(v.answer_correct) + float(v.chain_consistent) + v.steps_valid) / 3.0,
        correct=v.answer_correct,
        answer=answer,
        signals={"parsed": v.parsed, "steps_valid": v.steps_valid, "chain_consistent": v.chain_consistent,
                 "first_bad_step": v.first_bad_step, "noise_kind": v.noise_kind},
        complexity={"trace_steps": float(len(parsed.steps)), "list_length": float(len(values)),
                    "digits": sum(len(str(abs(x))) for x in values) / len(values),
                    "op_mix": float(len({s.op for s in parsed.steps if s is not None}))},
    )


class TintFamily(TaskFamily):
    name = "tint"
    level_name = "length"
    default_quality: ClassVar[dict[str, float]] = DEFAULT_QUALITY  # exact answer, chain consistency, step validity
    default_complexity: ClassVar[dict[str, float]] = DEFAULT_COMPLEXITY  # trace steps, list length, digits, op mix
    field_names = ("input",)

    def __init__(self, tint: "TintConfig", curriculum: "CurriculumConfig", eval_splits: Sequence[str] = ("id",),
                 eval_n: int | None = None):
        self.config = tint
        self.curriculum = curriculum
        self.eval_splits = list(eval_splits)
        self.eval_n = eval_n

    @classmethod
    def from_recipe(cls, recipe: "Recipe") -> "TintFamily":
        return cls(recipe.tint, recipe.loop.curriculum, recipe.loop.eval.splits, recipe.loop.eval.n)

    @classmethod
    def default(cls) -> "TintFamily":
        """The family with every setting at its default (for judging TInt records outside a recipe)."""
        from system.config import TintConfig
        from system.loop.config import CurriculumConfig

        return cls(TintConfig(), CurriculumConfig())

    # -- data ------------------------------------------------------------------------------------
    def tasks(self) -> list[str]:
        return list(self.config.tasks)

    def seed_size(self) -> int:
        return self.config.seed_size

    def seed_records(self, seed: int, n: int | None = None, weights: Mapping[str, float] | None = None
                     ) -> list[SeedRecord]:
        return [SeedRecord(r["prompt"], r["completion"], r["task"]) for r in seed_records(self.config, seed, n, weights)]

    # -- curriculum ------------------------------------------------------------------------------
    def _curriculum_tasks(self) -> list[str]:
        return self.curriculum.tasks or self.config.tasks

    def first_curriculum(self) -> Curriculum:
        return first_frontiers(self.curriculum, self.config.splits["id"].spec(), self._curriculum_tasks())

    def advance(self, state: Curriculum, kept: Mapping[str, float]) -> Curriculum:
        return next_frontiers(self.curriculum, state, kept)

    def curriculum_key(self, prompt: TaskPrompt) -> str:
        return prompt.task

    def iteration_prompts(self, state: Curriculum, n: int, seed: int, iteration: int) -> list[TaskPrompt]:
        records = iteration_prompts(self._curriculum_tasks(), n, state, self.config.splits["id"].spec(),
                                    self.curriculum.below_frontier, seed, iteration)
        return [tint_prompt(r, r["prompt_id"]) for r in records]

    # -- evaluation ------------------------------------------------------------------------------
    def eval_sets(self, seed: int, n: int | None = None, splits: Sequence[str] | None = None
                  ) -> dict[str, list[TaskPrompt]]:
        """loop.eval.n (or ``n``) prompts per task for each split (held-out tasks for ood_task); a task
        without the split (fixed arity: no longer lists) is left out."""
        from system.tint import get_task, splits_for

        count = n if n is not None else (self.eval_n or self.config.eval_size)
        sets: dict[str, list[TaskPrompt]] = {}
        for split in splits if splits is not None else self.eval_splits:
            tasks = self.config.ood_tasks if split == "ood_task" else self.config.tasks
            records = [r for task in tasks if split in splits_for(get_task(task))
                       for r in eval_records(self.config, task, split, seed, count)]
            if records:
                sets[split] = [tint_prompt(r, f"eval:{split}:{i}") for i, r in enumerate(records)]
        return sets

    def summary_accuracy(self, by_split: Mapping[str, float]) -> tuple[float | None, float | None]:
        """OOD accuracy is the longer-lists split when it is evaluated, else the mean of the ood_* splits."""
        if "ood_length" in by_split:
            return by_split.get("id"), by_split["ood_length"]
        ood = [v for k, v in by_split.items() if k.startswith("ood")]
        return by_split.get("id"), (sum(ood) / len(ood) if ood else None)

    # -- judging ---------------------------------------------------------------------------------
    def verify(self, prompts: Sequence[TaskPrompt], completions: Sequence[str]) -> list[Verdict]:
        return [judge(p.task, list(p.fields["input"]), c) for p, c in zip(prompts, completions, strict=True)]

    def row_problem(self, row: Mapping[str, Any], text_field: str = "completion") -> str | None:
        """Why ``row`` cannot be judged as a TInt candidate (None if it can)."""
        from system.tint import TASKS

        missing = [f for f in ("task", "input", text_field) if row.get(f) is None]
        if missing:
            return f"has no {', '.join(repr(m) for m in missing)}"
        if not isinstance(row["task"], str) or row["task"] not in TASKS:
            return f"has task {str(row['task'])[:40]!r}, not one of {', '.join(sorted(TASKS))}"
        values = row["input"]
        if not isinstance(values, list) or not values or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in values):
            return "has an 'input' that is not a list of integers"
        if not isinstance(row[text_field], str):
            return f"has a {text_field!r} that is not text"
        from system.tint.records import runnable_problem

        return runnable_problem(row["task"], values)  # arity, step limit, values the task's steps can take

    def prompt_of(self, row: Mapping[str, Any]) -> TaskPrompt:
        """Any row with a registered ``task`` and an integer ``input`` list (the rest is optional)."""
        values = list(row["input"])
        return TaskPrompt(prompt_id=str(row.get("prompt_id", "")), task=str(row["task"]),
                          prompt=str(row.get("prompt", "")), answer=stored_answer(row.get("answer")),
                          split=str(row.get("split", "")),
                          level=len(values), fields={"input": values})

    # -- models ----------------------------------------------------------------------------------
    def scratch_tokenizer(self, seed: int, max_length: int) -> "PreTrainedTokenizerBase":
        from system.models.tokenizer import build_tokenizer

        return build_tokenizer(model_max_length=max_length)
