"""Recipe section `probe:`: the noise grid and the three probes of `qdc probe`.

The grid follows the noise study: *static* noise (perturb the rendered trace; errors do not
propagate) and *dynamic* noise (perturb values while computing; errors propagate), each at several
*contaminations* (fraction of samples noised) and *intensities* (per-digit probability for static
noise, redrawn uniformly from 0-9 as the study does unless `static_draw: different`; per-digit
probability of each intermediate value for dynamic noise, or per-step with `dynamic_unit: step`).
The kind `static_line` is static noise that drops trace lines (probability per line). Contamination 0
is one shared clean cell.

This module stays light (pydantic only): every `qdc` command imports the recipe schema.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from system.models.config import ModelConfig
from system.schema import StrictModel

ProbeKind = Literal["finetune", "prompt", "filter"]
SplitName = Literal["id", "ood_length", "ood_digits", "ood_task"]
NoiseKindName = Literal["static", "dynamic", "static_line"]


def _unit_values(values: list[float], what: str) -> list[float]:
    bad = [v for v in values if not 0.0 <= v <= 1.0]
    if bad:
        raise ValueError(f"{what} must lie in [0, 1], got {bad}")
    if len(set(values)) != len(values):
        raise ValueError(f"{what} has repeated values: {values}")
    return sorted(values)


def _known_tasks(names: list[str]) -> list[str]:
    from system.tint.tasks import TASKS

    unknown = [n for n in names if n not in TASKS]
    if unknown:
        raise ValueError(f"unknown TInt task(s) {unknown}; known: {', '.join(sorted(TASKS))}")
    return names


def _known_strategies(names: list[str]) -> list[str]:
    from system.qdc.strategies import STRATEGIES

    for name in names:
        STRATEGIES.check(name)
    if len(set(names)) != len(names):
        raise ValueError(f"repeated strategy names: {names}")
    return names


class NoiseGridConfig(StrictModel):
    """Noise kind x contamination x intensity. Every (kind, contamination > 0, intensity) is a cell."""

    kinds: list[NoiseKindName] = Field(default_factory=lambda: ["static", "dynamic"], min_length=1,
                                       description="noise kinds to probe")
    contaminations: list[float] = Field(default_factory=lambda: [0.0, 0.2, 0.5, 0.8, 1.0], min_length=1,
                                        description="fractions of training samples (or exemplars) noised; 0 = the clean cell")
    static_intensities: list[float] = Field(default_factory=lambda: [0.3, 0.6, 0.9], min_length=1,
                                            description="static noise: probability that a digit of the trace is replaced")
    dynamic_intensities: list[float] = Field(default_factory=lambda: [0.2, 0.4], min_length=1,
                                             description="dynamic noise: probability that a digit of a computed value "
                                             "(dynamic_unit digit) or a computed value (step) is perturbed")
    line_intensities: list[float] = Field(default_factory=lambda: [0.3, 0.6], min_length=1,
                                          description="static_line noise: probability that a step line is dropped")
    static_variant: Literal["digit", "line"] = Field("digit", description="what kind `static` does: replace digits or "
                                                     "drop step lines (kind `static_line` always drops lines)")
    static_draw: Literal["uniform", "different"] = Field(
        "uniform", description="static digit noise: the new digit is drawn uniformly from 0-9 (may be the true one; "
        "the study's) or is always a different digit")
    dynamic_unit: Literal["digit", "step"] = Field(
        "digit", description="dynamic noise perturbs each digit of each intermediate value (the study's) or each value")

    @field_validator("contaminations")
    @classmethod
    def _contaminations(cls, v: list[float]) -> list[float]:
        return _unit_values(v, "contaminations")

    @field_validator("static_intensities", "dynamic_intensities", "line_intensities")
    @classmethod
    def _intensities(cls, v: list[float]) -> list[float]:
        v = _unit_values(v, "intensities")
        if 0.0 in v:
            raise ValueError("an intensity of 0 is the clean cell; use contamination 0 for it")
        return v

    @field_validator("kinds")
    @classmethod
    def _kinds(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"repeated noise kinds: {v}")
        return v

    @model_validator(mode="after")
    def _line_once(self) -> "NoiseGridConfig":
        if self.static_variant == "line" and "static" in self.kinds and "static_line" in self.kinds:
            raise ValueError("kinds static (static_variant line) and static_line are the same noise")
        return self

    def intensities(self, kind: str) -> list[float]:
        return {"static": self.static_intensities, "dynamic": self.dynamic_intensities,
                "static_line": self.line_intensities}[kind]

    def noise_spec(self, kind: str, contamination: float, intensity: float) -> Any:
        """The system.tint.NoiseSpec of a grid cell (kind: none, static, dynamic or static_line)."""
        from system.tint import NoiseSpec

        if kind == "static_line":
            return NoiseSpec("static", contamination, intensity, "line", self.static_draw, self.dynamic_unit)
        return NoiseSpec(kind, contamination, intensity, self.static_variant, self.static_draw,  # type: ignore[arg-type]
                         self.dynamic_unit)

    def definition(self) -> dict[str, str]:
        """What the grid's noise is (cells' fingerprints and the report's text depend on it)."""
        return {"static_variant": self.static_variant, "static_draw": self.static_draw,
                "dynamic_unit": self.dynamic_unit}


class FinetuneProbeConfig(StrictModel):
    """Train the model under test on noised data of each grid cell; evaluate on clean prompts."""

    train_size: int = Field(20_000, ge=1, description="training records per cell (noised per the cell)")
    steps: int = Field(600, ge=1, description="optimizer steps per cell (same for every cell: same compute)")
    lr: float | None = Field(None, gt=0.0, description="learning rate; null = learner.lr")
    converged_accuracy: float = Field(0.95, ge=0.0, le=1.0, description="ID accuracy the clean cell must reach on "
                                      "every task and seed; below it the probe warns and marks its results under-trained")
    curve_points: list[float] = Field(default_factory=lambda: [0.25, 0.5], description="the clean cell's learning "
                                      "curve: fractions of `steps`, each a clean run with that budget (the full budget "
                                      "is the clean cell itself); [] = no curve")
    curve_seeds: list[int] | None = Field(None, description="the seeds whose clean cell gets a learning curve; "
                                          "null = every probe seed (each curve point is a full training run)")

    @field_validator("curve_points")
    @classmethod
    def _fractions(cls, v: list[float]) -> list[float]:
        bad = [x for x in v if not 0.0 < x < 1.0]
        if bad:
            raise ValueError(f"curve points are fractions of steps in (0, 1), got {bad}")
        return sorted(set(v))


PromptBaseline = Literal["zero_shot", "wrong_task"]


class PromptProbeConfig(StrictModel):
    """Few-shot prompting: a base model trained (once per seed) on clean few-shot sequences is
    prompted with noised exemplars.

    A scratch model can only be prompted if it was taught to read exemplars, so the base model is
    trained on sequences of `shots` clean exemplars of one task followed by a query of that task.
    With `hide_task` the task name is left out of every prompt: the model has to infer the task
    from the exemplars, which is what makes it depend on them (as a prompted LLM does). The more
    tasks in `base_tasks`, the more the exemplars have to say. Whether the model really reads them
    is measured in the clean cell against `baselines`: the same queries with no exemplars
    (`zero_shot`) and with exemplars of another base task (`wrong_task`)."""

    tasks: list[str] | None = Field(None, description="tasks the prompt probe queries; null = probe.tasks (or "
                                    "tint.tasks)")
    base_tasks: list[str] = Field(default_factory=lambda: ["max", "min"], min_length=1,
                                  description="tasks in the base model's few-shot training mix (must include the probed tasks)")
    shots: int = Field(3, ge=1, le=16, description="exemplars before each query")
    min_shots: int | None = Field(None, ge=0, le=16, description="base training draws each sequence's number of "
                                  "exemplars uniformly from min_shots..shots (0 teaches zero-shot prompts too); "
                                  "null = always `shots`. Probe prompts always have `shots`")
    hide_task: bool = Field(True, description="leave the task name out of exemplars and query")
    model: ModelConfig | None = Field(None, description="the base model's own model section (a bigger scratch model "
                                      "than the fine-tune probe's, a longer context); null = the recipe's model")
    baselines: list[PromptBaseline] = Field(default_factory=lambda: ["zero_shot", "wrong_task"],
                                            description="measured in the clean cell: no exemplars (zero_shot), "
                                            "exemplars of another base task (wrong_task)")
    base_train_size: int = Field(40_000, ge=1, description="few-shot training sequences for the base model")
    base_steps: int = Field(1500, ge=0, description="optimizer steps of base training; 0 prompts a pretrained "
                            "model (model.path) as it is, with no base training")
    base_lr: float | None = Field(None, gt=0.0, description="base training learning rate; null = learner.lr")
    splits: list[SplitName] = Field(default_factory=lambda: ["id"], min_length=1,
                                    description="splits the queries (and their exemplars) come from")
    separator: str = Field(" ! ", min_length=1, description="text between exemplars (characters of the TInt vocabulary)")

    @field_validator("base_tasks")
    @classmethod
    def _tasks(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"repeated base tasks: {v}")
        return _known_tasks(v)

    @field_validator("tasks")
    @classmethod
    def _probed(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else _known_tasks(v)

    @model_validator(mode="after")
    def _shots_and_baselines(self) -> "PromptProbeConfig":
        if self.min_shots is not None and self.min_shots > self.shots:
            raise ValueError(f"min_shots {self.min_shots} is above shots {self.shots}")
        if "wrong_task" in self.baselines and len(self.base_tasks) < 2:
            raise ValueError("the wrong_task baseline needs at least two base_tasks")
        return self

    @field_validator("separator")
    @classmethod
    def _separator(cls, v: str) -> str:
        from system.models.tokenizer import CHARACTERS

        bad = sorted({c for c in v if c not in CHARACTERS})
        if bad:
            raise ValueError(f"characters {bad} are not in the character tokenizer's vocabulary")
        if not v.strip():
            raise ValueError("the separator needs at least one visible character")
        return v


class FilterProbeConfig(StrictModel):
    """Mix static- and dynamic-noised samples into a candidate pool, select with each strategy,
    report what share of each noise kind it keeps, then train on the selection and evaluate."""

    strategies: list[str] = Field(
        default_factory=lambda: ["random", "top_quality", "kcenter", "qdit", "deita", "semdedup"], min_length=1,
        description="selection strategies (registry names); the rest of the filter comes from the recipe's filter section")
    pool_size: int = Field(2000, ge=2, description="candidates in the pool")
    static_share: float = Field(0.25, ge=0.0, le=1.0, description="share of the pool with static noise")
    dynamic_share: float = Field(0.25, ge=0.0, le=1.0, description="share of the pool with dynamic noise")
    static_intensity: float = Field(0.3, gt=0.0, le=1.0)
    dynamic_intensity: float = Field(0.2, gt=0.0, le=1.0)
    budget: int | float = Field(0.5, description="records kept: a count, or a fraction of the pool")
    train: bool = Field(True, description="train on each selection and evaluate (the downstream accuracy)")
    steps: int = Field(600, ge=1, description="optimizer steps on each selection")
    lr: float | None = Field(None, gt=0.0, description="learning rate; null = learner.lr")

    @field_validator("strategies")
    @classmethod
    def _strategies(cls, v: list[str]) -> list[str]:
        return _known_strategies(v)

    @field_validator("budget")
    @classmethod
    def _budget(cls, v: int | float) -> int | float:
        if isinstance(v, bool) or (isinstance(v, int) and v < 1) or (isinstance(v, float) and not 0.0 < v <= 1.0):
            raise ValueError(f"a count >= 1 or a fraction in (0, 1], got {v!r}")
        return v

    @model_validator(mode="after")
    def _shares(self) -> "FilterProbeConfig":
        if self.static_share + self.dynamic_share > 1.0:
            raise ValueError("static_share + dynamic_share must be <= 1")
        return self


class ProbeConfig(StrictModel):
    """`qdc probe`: which probes, on which tasks, with which repeats, and how cells are placed."""

    probes: list[ProbeKind] = Field(default_factory=lambda: ["finetune", "prompt", "filter"], min_length=1,
                                    description="probe kinds to run (registry names)")
    tasks: list[str] | None = Field(None, description="tasks probed; null = tint.tasks")
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1,
                             description="one repeat per seed (data draw, model init, training order)")
    grid: NoiseGridConfig = Field(default_factory=NoiseGridConfig)
    eval_n: int = Field(200, ge=1, description="clean evaluation prompts per task and split (the same in every cell)")
    eval_splits: list[SplitName] = Field(default_factory=lambda: ["id", "ood_length"], min_length=1,
                                         description="splits the fine-tune and filter probes evaluate on")
    max_new_tokens: int = Field(128, ge=1, description="greedy decoding budget per answer")
    finetune: FinetuneProbeConfig = Field(default_factory=FinetuneProbeConfig)
    prompt: PromptProbeConfig = Field(default_factory=PromptProbeConfig)
    filter: FilterProbeConfig = Field(default_factory=FilterProbeConfig)
    cpus_per_cell: float = Field(1.0, gt=0.0, description="Ray CPUs per cell (cells run in parallel as Ray tasks)")
    gpus_per_cell: float = Field(0.0, ge=0.0, description="Ray GPUs per cell")
    threads_per_cell: int | None = Field(None, ge=1, description="torch threads in a cell; null = cpus_per_cell, at least 1")
    cell_timeout_s: float = Field(3600.0, gt=0.0, description="the probe stops with an error if no cell finishes for this long")

    @field_validator("tasks")
    @classmethod
    def _tasks(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else _known_tasks(v)

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v):
            raise ValueError(f"repeated seeds: {v}")
        return v

    @field_validator("probes")
    @classmethod
    def _probes(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError(f"repeated probe kinds: {v}")
        return v

    @model_validator(mode="after")
    def _curve_seeds(self) -> "ProbeConfig":
        missing = sorted(set(self.finetune.curve_seeds or []) - set(self.seeds))
        if missing:
            raise ValueError(f"finetune.curve_seeds {missing} are not among probe.seeds {self.seeds}")
        return self

    def threads(self) -> int:
        return self.threads_per_cell or max(1, int(self.cpus_per_cell))
