"""The base every recipe section derives from."""

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Unknown keys are rejected (the error names the dotted path); assignments are re-validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
