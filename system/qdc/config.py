"""Recipe section for the QDC filter."""

from system.schema import StrictModel


class FilterConfig(StrictModel):
    pass
