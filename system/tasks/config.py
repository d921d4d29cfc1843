"""Recipe section ``task:``: which task family the loop runs, and for ``family: dataset`` where the
data is, which columns mean what, the difficulty curriculum and the verifier.

``family: tint`` (the default) reads its settings from the ``tint:`` section and the loop's
curriculum, as before; every key below except ``family`` and ``chat_template`` belongs to the
``dataset`` family.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from system.schema import StrictModel

VerifierName = Literal["exact", "numeric", "regex", "gsm8k", "boxed", "choice", "python"]


class SourceConfig(StrictModel):
    """One data source: a JSONL / JSON / CSV / parquet file, a folder or glob of them, or a Hugging
    Face `datasets` id (read with `datasets.load_dataset(path, hf_config, split=hf_split)`)."""

    path: str = Field(min_length=1, description="file, folder, glob, or Hugging Face dataset id")
    hf_config: str | None = Field(None, description="dataset config name (hub ids)")
    hf_split: str | None = Field(None, description="dataset split (hub ids; default: train for task.train, "
                                 "test for task.eval)")


def _as_source(value: Any) -> Any:
    return {"path": value} if isinstance(value, str) else value


class ColumnsConfig(StrictModel):
    """Which fields of a row mean what (names in the user's data)."""

    prompt: str | None = Field("prompt", description="the prompt text (or use `messages`)")
    messages: str | None = Field(None, description="chat messages [{role, content}, ...] instead of `prompt`")
    answer: str = Field("answer", min_length=1, description="the reference answer the verifier compares with")
    solution: str | None = Field(None, description="a worked reference completion (seed training); optional")
    difficulty: str | None = Field(None, description="an integer difficulty level (curriculum); optional")
    task: str | None = Field(None, description="a group name per row (accuracy per task); optional")

    @model_validator(mode="after")
    def _one_prompt_source(self) -> "ColumnsConfig":
        if (self.prompt is None) == (self.messages is None):
            raise ValueError("name exactly one of columns.prompt and columns.messages")
        return self


class DatasetCurriculumConfig(StrictModel):
    """Over the difficulty column, like TInt's frontier: seed training uses the levels below `start`,
    self-improvement starts at `start` and moves up once `advance_when_kept` of the frontier's prompts
    had a sample kept. Without a difficulty column every iteration draws from all prompts."""

    start: int | None = Field(None, description="first frontier level; null = one past the lowest level")
    advance_when_kept: float = Field(0.2, ge=0.0, le=1.0)
    max: int | None = Field(None, description="the frontier never goes past this level; null = the highest level")
    below_frontier: float = Field(0.0, ge=0.0, le=1.0, description="share of prompts drawn from lower levels "
                                  "already passed (at or above start)")


class VerifierConfig(StrictModel):
    """How a completion is judged against the reference answer.

    Built in: exact (after whitespace trim), numeric (``tolerance``; commas, spaces and a trailing unit
    stripped), regex (``pattern`` with one group), gsm8k (the number after the last ``####``), boxed
    (the last ``\\boxed{...}``), choice (a letter A-J). ``python``: the user's ``function`` as
    ``path/to/file.py:name`` or ``package.module:name``, called with verl's arguments (a parameter named
    ``solution_str``) per candidate or TRL's (a parameter named ``completions``) per batch.
    """

    name: VerifierName = "exact"
    tolerance: float = Field(1e-6, ge=0.0, description="numeric: absolute tolerance")
    pattern: str | None = Field(None, description="regex: a pattern with one capture group")
    function: str | None = Field(None, description="python: path/to/file.py:name or package.module:name")
    timeout_s: float = Field(60.0, gt=0.0, description="longest a verifier call may take; the stage fails after")

    @model_validator(mode="after")
    def _needed_keys(self) -> "VerifierConfig":
        if self.name == "regex":
            if not self.pattern:
                raise ValueError("verifier regex needs task.verifier.pattern")
            import re

            try:
                groups = re.compile(self.pattern).groups
            except re.error as e:
                raise ValueError(f"task.verifier.pattern is not a valid regex: {e}") from None
            if groups != 1:
                raise ValueError(f"task.verifier.pattern needs exactly one capture group, it has {groups}")
        if self.name == "python" and not self.function:
            raise ValueError("verifier python needs task.verifier.function (path/to/file.py:name or module:name)")
        if self.name != "python" and self.function:
            raise ValueError(f"task.verifier.function is set but the verifier is {self.name!r}; use name: python")
        if self.function:  # the verifier checks the rest when it is built (before anything starts)
            path, sep, func = self.function.rpartition(":")
            if sep and path.endswith(".py") and not Path(path).is_absolute():
                # actors may run in another directory: the file is named as the user meant it, from here
                object.__setattr__(self, "function", f"{Path(path).resolve()}:{func}")
        return self


class TaskConfig(StrictModel):
    family: str = Field("tint", description="task family (registry name): tint | dataset")
    chat_template: Literal["auto", "none"] = Field(
        "auto", description="auto: a model whose tokenizer has a chat template gets the prompt as the user turn "
        "and the completion as the assistant turn (generation, SFT, evaluation); none: raw text")
    train: SourceConfig | None = Field(None, description="dataset: prompts for seed training and self-improvement")
    eval: dict[str, SourceConfig] = Field(default_factory=dict, description="dataset: split name -> source; "
                                          "`id` is in-distribution, the others are averaged into ood_accuracy")
    columns: ColumnsConfig = Field(default_factory=ColumnsConfig)
    curriculum: DatasetCurriculumConfig = Field(default_factory=DatasetCurriculumConfig)
    verifier: VerifierConfig = Field(default_factory=VerifierConfig)
    seed_size: int | None = Field(None, ge=1, description="dataset: seed records per round of seed training "
                                  "(null = every row with a solution below the start level)")
    vocab_size: int = Field(1024, ge=64, le=262_144, description="dataset, scratch model: size of the byte-level "
                            "BPE trained on the seed text")

    @field_validator("train", mode="before")
    @classmethod
    def _train_source(cls, v: Any) -> Any:
        return _as_source(v)

    @field_validator("eval", mode="before")
    @classmethod
    def _eval_sources(cls, v: Any) -> Any:
        if isinstance(v, str):
            return {"id": {"path": v}}
        return {k: _as_source(s) for k, s in v.items()} if isinstance(v, dict) else v

    @field_validator("family")
    @classmethod
    def _known_family(cls, name: str) -> str:
        from system.tasks.registry import family_names

        if name not in family_names():
            raise ValueError(f"unknown task family {name!r}; known: {', '.join(family_names())}")
        return name

    @model_validator(mode="after")
    def _dataset_needs_sources(self) -> "TaskConfig":
        if self.family == "dataset":
            if self.train is None:
                raise ValueError("family dataset needs task.train (a file, folder, glob or datasets id)")
            if not self.eval:
                raise ValueError("family dataset needs task.eval (split name -> source, e.g. {id: data/test.jsonl})")
        elif self.train is not None or self.eval:
            raise ValueError(f"task.train / task.eval belong to family dataset, not {self.family!r}")
        return self
