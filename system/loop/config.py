"""Recipe sections of the closed loop: iterations, curriculum, replay, evaluation, resources, run dir."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from system.schema import StrictModel


class CurriculumConfig(StrictModel):
    """Which prompts an iteration samples: the recipe's tasks at a *frontier* list length.

    The frontier starts one past the longest ID length and moves up one once enough prompts of the
    current frontier had a sample kept (STACK.md measured this gating as what lets a 1M-parameter
    model extend to longer lists round after round)."""

    tasks: list[str] | None = Field(None, description="tasks to self-improve on; null = tint.tasks")
    start_length: int | None = Field(None, ge=1, description="first frontier length; null = tint.splits.id max + 1")
    max_length: int = Field(8, ge=1, description="the frontier never goes past this length")
    advance_when_kept: float = Field(
        0.2, ge=0.0, le=1.0, description="move the frontier up once this fraction of prompts had a sample kept"
    )
    below_frontier: float = Field(
        0.0, ge=0.0, le=1.0, description="fraction of prompts drawn from earlier frontier lengths"
    )


class EvalConfig(StrictModel):
    """The prober's greedy evaluation after each iteration (fixed prompt sets, same every iteration)."""

    n: int = Field(200, ge=1, description="prompts per task and split")
    splits: list[Literal["id", "ood_length", "ood_digits", "ood_task"]] = Field(
        default_factory=lambda: ["id", "ood_length"], description="splits evaluated every iteration"
    )
    max_new_tokens: int = Field(160, ge=1)
    diversity_samples: int = Field(256, ge=2, description="model samples used for the output-diversity metrics")


class LoopConfig(StrictModel):
    iterations: int = Field(3, ge=0, description="self-improvement iterations after seed training")
    seed_training: bool = Field(True, description="train the model on clean seed data first (iteration 0)")
    prompts_per_iteration: int = Field(400, ge=1, description="prompts sampled per iteration (over all tasks)")
    learn_steps: int = Field(300, ge=1, description="optimizer steps per iteration (fixed compute)")
    lr: float | None = Field(None, gt=0.0, description="peak lr of each iteration's fine-tuning; null = learner.lr")
    replay_ratio: float = Field(
        0.5, ge=0.0, lt=1.0,
        description="share of each iteration's training rows (learn_steps x learner.batch_size) that is replay "
        "(fresh seed data + earlier selections); the rest is this iteration's selection, repeated as needed",
    )
    replay_seed_share: float = Field(0.5, ge=0.0, le=1.0, description="share of the replay taken from clean seed data")
    min_train_records: int = Field(64, ge=1, description="skip learning when fewer records than this were selected")
    min_quality: float = Field(
        1.0, ge=0.0, le=1.0,
        description="only candidates with filter quality >= this may be selected (1.0 = fully verified; 0 = no gate)",
    )
    curriculum: CurriculumConfig = Field(default_factory=CurriculumConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)


class TimeoutsConfig(StrictModel):
    """Seconds each remote call may take before the run stops with an error naming the stage."""

    actor_start: float = Field(300.0, gt=0, description="an actor (and its engine) becoming ready")
    generate: float = Field(900.0, gt=0)
    filter: float = Field(600.0, gt=0)
    learn: float = Field(1800.0, gt=0)
    sync: float = Field(120.0, gt=0)
    eval: float = Field(900.0, gt=0)


class ResourcesConfig(StrictModel):
    """How the loop's actors are placed. Logical CPUs are what Ray schedules; threads what torch uses."""

    num_cpus: float | None = Field(None, gt=0, description="CPUs Ray may use when it starts locally; null = all")
    num_gpus: float | None = Field(None, ge=0, description="GPUs Ray may use when it starts locally; null = all")
    generators: int = Field(1, ge=1, description="generator actors (prompts are sharded over them)")
    generator_cpus: float = Field(0.5, gt=0)
    generator_gpus: float = Field(0.0, ge=0)
    learner_cpus: float = Field(0.5, gt=0, description="per learner rank (learner.world_size ranks)")
    learner_gpus: float = Field(0.0, ge=0, description="per learner rank")
    filter_cpus: float = Field(0.25, gt=0)
    prober_cpus: float = Field(0.25, gt=0)
    threads: int | None = Field(None, ge=1, description="torch threads per actor; null = cores on the node")
    placement: Literal["pack", "spread"] = Field("pack", description="placement group strategy")
    max_restarts: int = Field(2, ge=0, description="times Ray restarts a dead generator")
    dashboard: bool = Field(False, description="start Ray's dashboard (bound to 127.0.0.1) when Ray starts "
                            "locally; attaching to a cluster (--address) keeps the cluster's own")
    timeouts: TimeoutsConfig = Field(default_factory=TimeoutsConfig)


TrackerName = Literal["tensorboard", "wandb", "mlflow"]  # system.loop.trackers.TRACKERS has one class per name


class RunConfig(StrictModel):
    dir: str | None = Field(None, description="run directory; null = runs/<recipe name>-<UTC timestamp>")
    trackers: list[TrackerName] = Field(
        default_factory=lambda: ["tensorboard"],
        description="where each iteration's metrics also go: tensorboard (<run.dir>/tensorboard), wandb (offline "
        "under <run.dir>/wandb unless logged in), mlflow (<run.dir>/mlruns unless MLFLOW_TRACKING_URI is set)",
    )

    @model_validator(mode="before")
    @classmethod
    def _tensorboard_alias(cls, data: Any) -> Any:
        """``run.tensorboard: true|false``, the old spelling, still reads as ``run.trackers``."""
        if not isinstance(data, dict) or "tensorboard" not in data:
            return data
        data = dict(data)
        flag = data.pop("tensorboard")
        if not isinstance(flag, bool):
            raise ValueError(f"run.tensorboard is true or false (got {flag!r}); it is the old spelling of "
                             "run.trackers: [tensorboard]")
        if "trackers" in data:
            raise ValueError("give run.trackers only: run.tensorboard is its old spelling "
                             "(run.tensorboard: true = run.trackers: [tensorboard])")
        data["trackers"] = ["tensorboard"] if flag else []
        return data

    @model_validator(mode="after")
    def _not_blank(self) -> "RunConfig":
        if self.dir is not None and not self.dir.strip():
            raise ValueError("run.dir is blank; leave it null for a fresh timestamped directory")
        if len(set(self.trackers)) != len(self.trackers):
            raise ValueError(f"run.trackers names a tracker twice: {self.trackers}")
        return self
