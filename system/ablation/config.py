"""Recipe section `ablate:`: the closed loop once per selection strategy and seed.

Every variant is the recipe with `filter.strategy` (and `seed`) replaced, so all strategies get the
same prompts, the same seeds and the same compute (loop.learn_steps optimizer steps per iteration).
"""

from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from system.schema import StrictModel


class AblateConfig(StrictModel):
    strategies: list[str] = Field(
        default_factory=lambda: ["top_quality", "kcenter", "qdit", "random"], min_length=1,
        description="selection strategies (registry names), one loop run each per seed")
    seeds: list[int] | None = Field(None, min_length=1,
                                    description="one repeat per seed (the recipe seed of each run); null = [seed]")
    overrides: dict[str, list[str]] = Field(
        default_factory=dict,
        description="strategy -> extra `key.path=value` assignments for that strategy's runs only "
                    "(e.g. qdit: ['filter.qdit_alpha=0.2'])")
    share_seed_stage: bool = Field(
        True, description="train the seed model once per seed and copy iteration 0 into the other strategies' "
                          "runs (it does not depend on the strategy); false trains it in every run")

    @field_validator("strategies")
    @classmethod
    def _strategies(cls, names: list[str]) -> list[str]:
        from system.qdc.strategies import STRATEGIES

        for name in names:
            STRATEGIES.check(name)
        if len(set(names)) != len(names):
            raise ValueError(f"repeated strategy names: {names}")
        return names

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, seeds: list[int] | None) -> list[int] | None:
        if seeds is not None and len(set(seeds)) != len(seeds):
            raise ValueError(f"repeated seeds: {seeds}")
        return seeds

    @model_validator(mode="after")
    def _overrides_name_strategies(self) -> "AblateConfig":
        unknown = sorted(set(self.overrides) - set(self.strategies))
        if unknown:
            raise ValueError(f"overrides for strategies that are not in ablate.strategies: {unknown}")
        for strategy, assignments in self.overrides.items():
            for a in assignments:
                key, eq, _ = a.partition("=")
                if not eq or not key.strip():
                    raise ValueError(f"overrides.{strategy}: {a!r} is not key.path=value")
                if key.strip().split(".")[0] in ("seed", "run", "ablate", "name"):
                    raise ValueError(f"overrides.{strategy}: {key.strip()!r} is set by the ablation itself")
        return self
