"""Recipe section `probe:`."""

from system.schema import StrictModel


class ProbeConfig(StrictModel):
    pass
