"""The `dataset` task family: the user's prompts and answers (JSONL / JSON / CSV / parquet, a folder or
glob of them, or a Hugging Face `datasets` id), a difficulty curriculum, and a verifier (built in, or
the user's function in verl's or TRL's convention).

Rows become `TaskPrompt`s through `task.columns`: the prompt text (or chat ``messages``), the
reference ``answer``, an optional worked ``solution`` (seed training and replay learn from it), an
optional integer ``difficulty`` (the curriculum level) and an optional ``task`` group. Every other
column of the row travels with the prompt as JSON text (``row_json``), so a user verifier gets it as
verl's ``extra_info`` or as TRL's keyword columns. Data is read once per process, on first use, and
`check` refuses unusable data before anything starts, naming the file and line.
"""

from __future__ import annotations

import json
import random
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Mapping, Sequence

from system.draws import passes
from system.tasks.base import Curriculum, SeedRecord, TaskDataError, TaskFamily, TaskPrompt, Verdict

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from system.config import Recipe
    from system.tasks.config import SourceConfig, TaskConfig

DEFAULT_TASK = "all"
ALL_LEVELS = "all"  # the curriculum key when the data has no difficulty column
EVAL_SEED_OFFSET = 7919


class DatasetFamily(TaskFamily):
    name = "dataset"
    level_name = "difficulty"
    default_quality: ClassVar[dict[str, float]] = {"verifier": 1.0}
    default_complexity: ClassVar[dict[str, float]] = {"text_length": 1.0, "solution_lines": 1.0}
    field_names = ("data_source", "row_json", "messages_json")

    def __init__(self, config: "TaskConfig", *, eval_n: int | None = None, recipe_seed: int = 0):
        self.config = config
        self.eval_n = eval_n
        self.recipe_seed = recipe_seed

    @classmethod
    def from_recipe(cls, recipe: "Recipe") -> "DatasetFamily":
        return cls(recipe.task, eval_n=recipe.loop.eval.n, recipe_seed=recipe.seed)

    # -- reading ---------------------------------------------------------------------------------
    def _read(self, source: "SourceConfig", default_split: str, split: str, where: str
              ) -> list[tuple[TaskPrompt, str | None]]:
        """Every row of ``source`` as a prompt, with its worked solution (None without one)."""
        from system.tasks.sources import check_columns, load_rows

        rows = load_rows(source, default_split=default_split)
        check_columns(rows, self.config.columns, where)
        col = self.config.columns.solution
        out = []
        for i, row in enumerate(rows):
            solution = row.values.get(col) if col is not None else None
            solution = str(solution) if solution is not None and str(solution).strip() else None
            problem = self._verifier.reference_problem(row.values[self.config.columns.answer])
            if problem is not None:
                raise TaskDataError(f"{row.where}: column {self.config.columns.answer!r} (task.columns.answer): {problem}")
            out.append((self._prompt(row.values, split, source.path, f"{split}:{i}"), solution))
        return out

    def _prompt(self, data: Mapping[str, Any], split: str, source: str, prompt_id: str) -> TaskPrompt:
        """A checked row (`sources.check_columns`) as a prompt; the whole row travels as ``row_json``
        (verl's ``extra_info``, TRL's keyword columns)."""
        from system.tasks.sources import as_level

        c = self.config.columns
        fields: dict[str, Any] = {"data_source": source, "row_json": json.dumps(dict(data), default=str)}
        if c.messages is not None:
            messages = data[c.messages]
            user = [m for m in messages if m.get("role") == "user"]
            text = str((user or messages)[-1]["content"])
            fields["messages_json"] = json.dumps(messages)
        else:
            text = str(data[c.prompt])
        level = as_level(data[c.difficulty]) if c.difficulty is not None else None
        task = str(data[c.task]) if c.task is not None else DEFAULT_TASK
        return TaskPrompt(prompt_id=prompt_id, task=task, prompt=text, answer=data[c.answer], split=split,
                          level=level, fields=fields)

    @cached_property
    def _train_rows(self) -> list[tuple[TaskPrompt, str | None]]:
        assert self.config.train is not None  # the TaskConfig validator guarantees it
        return self._read(self.config.train, "train", "train", "task.train")

    @property
    def _train(self) -> list[TaskPrompt]:
        return [p for p, _ in self._train_rows]

    @cached_property
    def _eval(self) -> dict[str, list[TaskPrompt]]:
        return {split: [p for p, _ in self._read(src, "test", split, f"task.eval.{split}")]
                for split, src in self.config.eval.items()}

    def check(self) -> None:
        """Read every source once: missing columns, empty sources and unreadable rows are refused here,
        before anything starts; and the seed set must not be empty."""
        _ = self._train, self._eval
        if not self._seed_pool:
            c = self.config
            where = "task.columns.solution" if c.columns.solution is None else f"{c.train.path if c.train else ''}"
            below = f" below task.curriculum.start ({self._start})" if self._has_levels else ""
            raise TaskDataError(f"{where}: no training row has a worked solution{below}, so there is nothing to "
                                "seed-train on (name the solution column in task.columns.solution)")

    # -- seed data -------------------------------------------------------------------------------
    @property
    def _has_levels(self) -> bool:
        return self.config.columns.difficulty is not None

    @cached_property
    def _levels(self) -> list[int]:
        return sorted({p.level for p in self._train if p.level is not None})

    @property
    def _start(self) -> int:
        cur = self.config.curriculum
        if cur.start is not None:
            return cur.start
        return self._levels[1] if len(self._levels) > 1 else (self._levels[0] if self._levels else 0)

    @property
    def _max(self) -> int:
        cur = self.config.curriculum
        return cur.max if cur.max is not None else (self._levels[-1] if self._levels else 0)

    @cached_property
    def _seed_pool(self) -> list[SeedRecord]:
        """Train rows with a solution, below the curriculum's start level when there are levels."""
        out = []
        for p, solution in self._train_rows:
            if solution is None or (self._has_levels and p.level is not None and p.level >= self._start):
                continue
            out.append(SeedRecord(p.prompt, solution, p.task, p.fields.get("messages_json")))
        return out

    def tasks(self) -> list[str]:
        return sorted({r.task for r in self._seed_pool})

    def seed_size(self) -> int:
        return self.config.seed_size or len(self._seed_pool)

    def seed_records(self, seed: int, n: int | None = None, weights: Mapping[str, float] | None = None
                     ) -> list[SeedRecord]:
        """``n`` (default seed_size) records of the seed pool: whole shuffled passes, then part of one;
        ``weights`` share them over tasks."""
        pool = self._seed_pool
        total = n if n is not None else self.seed_size()
        if not pool or total <= 0:
            return []
        by_task: dict[str, list[SeedRecord]] = {}
        for r in pool:
            by_task.setdefault(r.task, []).append(r)
        from system.tasks.tint_family import task_counts

        rng = random.Random(f"seed:{seed}")
        out: list[SeedRecord] = []
        for task, count in task_counts(sorted(by_task), total, weights).items():
            out.extend(passes(by_task[task], count, rng))
        rng.shuffle(out)
        return out

    # -- curriculum ------------------------------------------------------------------------------
    def first_curriculum(self) -> Curriculum:
        return {"difficulty": self._start} if self._has_levels else {ALL_LEVELS: 0}

    def advance(self, state: Curriculum, kept: Mapping[str, float]) -> Curriculum:
        if not self._has_levels:
            return dict(state)
        level = state["difficulty"]
        higher = [x for x in self._levels if level < x <= self._max]
        if kept.get("difficulty", 0.0) >= self.config.curriculum.advance_when_kept and higher:
            return {"difficulty": higher[0]}
        return dict(state)

    def curriculum_key(self, prompt: TaskPrompt) -> str:
        return "difficulty" if self._has_levels else ALL_LEVELS

    def iteration_prompts(self, state: Curriculum, n: int, seed: int, iteration: int) -> list[TaskPrompt]:
        """``n`` prompts at the frontier level (a share ``below_frontier`` from the levels between the start
        and the frontier), or from all prompts without levels; each prompt at most once per iteration
        while the pool lasts."""
        rng = random.Random(seed)
        if self._has_levels:
            level = state["difficulty"]
            at = [p for p in self._train if p.level == level]
            below = [p for p in self._train if p.level is not None and self._start <= p.level < level]
            share = self.config.curriculum.below_frontier if below else 0.0
            n_below = sum(rng.random() < share for _ in range(n))
            if not at:
                raise TaskDataError(f"{self.config.train.path if self.config.train else ''}: no training prompt at "
                                    f"difficulty {level} (task.curriculum)")
            chosen = passes(at, n - n_below, rng) + passes(below, n_below, rng)
        else:
            chosen = passes(self._train, n, rng)
        rng.shuffle(chosen)
        return [TaskPrompt(prompt_id=f"{iteration}:{i}", task=p.task, prompt=p.prompt, answer=p.answer, split=p.split,
                           level=p.level, fields=p.fields) for i, p in enumerate(chosen)]

    # -- evaluation ------------------------------------------------------------------------------
    def eval_sets(self, seed: int, n: int | None = None, splits: Sequence[str] | None = None
                  ) -> dict[str, list[TaskPrompt]]:
        """Each split of task.eval, at most ``n`` (default loop.eval.n) prompts: a seeded sample, the
        same every call."""
        count = n if n is not None else self.eval_n
        out = {}
        for split, prompts in self._eval.items():
            if splits is not None and split not in splits:
                continue
            chosen = list(prompts)
            if count is not None and len(chosen) > count:
                chosen = random.Random(f"eval:{split}:{seed + EVAL_SEED_OFFSET}").sample(chosen, count)
            out[split] = [TaskPrompt(prompt_id=f"eval:{split}:{i}", task=p.task, prompt=p.prompt, answer=p.answer,
                                     split=split, level=p.level, fields=p.fields) for i, p in enumerate(chosen)]
        return out

    # -- judging ---------------------------------------------------------------------------------
    @cached_property
    def _verifier(self) -> Any:
        from system.tasks.verifiers import build_verifier

        return build_verifier(self.config.verifier)

    def verify(self, prompts: Sequence[TaskPrompt], completions: Sequence[str]) -> list[Verdict]:
        from system.tasks.verifiers import VerifyItem

        items = [VerifyItem(prompt=p.prompt, completion=c, ground_truth=p.answer,
                            data_source=str(p.fields.get("data_source", "")),
                            extra_info=json.loads(p.fields.get("row_json") or "{}"))
                 for p, c in zip(prompts, completions, strict=True)]
        verdicts = self._verifier.judge(items)
        return [Verdict(quality=v.quality, correct=v.correct, answer=v.answer, signals=v.signals,
                        complexity={**v.complexity, "solution_lines": float(sum(1 for line in c.splitlines()
                                                                                if line.strip()))},
                        error=v.error)
                for v, c in zip(verdicts, completions)]

    # -- models ----------------------------------------------------------------------------------
    def scratch_tokenizer(self, seed: int, max_length: int) -> "PreTrainedTokenizerBase":
        """A byte-level BPE trained on the seed set's text and the training prompts."""
        from system.models.bpe_tokenizer import build_bpe_tokenizer

        texts = [t for r in self._seed_pool for t in (r.prompt, r.completion)]
        texts += [p.prompt for p in self._train]
        return build_bpe_tokenizer(texts, vocab_size=self.config.vocab_size, model_max_length=max_length)
