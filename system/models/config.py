"""Recipe sections for the model, the generators, the learner and seed training."""

from system.schema import StrictModel


class ModelConfig(StrictModel):
    pass


class GeneratorConfig(StrictModel):
    pass


class LearnerConfig(StrictModel):
    pass


class SeedTrainConfig(StrictModel):
    pass
