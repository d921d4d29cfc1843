"""Recipe section `ablate:`."""

from system.schema import StrictModel


class AblateConfig(StrictModel):
    pass
