"""The task family's own signals about a dataset: the one place where ``qdc measure`` knows about TInt.

Today the only family is TInt; once task families have one interface (``verify(record, completion)
-> verdict`` plus the family's complexity measures), this function routes through it instead.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

# The TInt verifier's quality is the filter's default: the mean of these three verdict columns.
TINT_QUALITY = ("answer_correct", "chain_consistent", "steps_valid")
TINT_COMPLEXITY = ("trace_steps", "list_length", "digits")


@dataclass
class FamilySignals:
    family: str
    quality_source: str
    quality: np.ndarray  # per record, in [0, 1]
    complexity: dict[str, np.ndarray]  # the family's own measures, per record
    verdicts: dict[str, Any] = field(default_factory=dict)  # shares of the verifier's findings


def family_signals(records: Sequence[dict[str, Any]]) -> FamilySignals | None:
    """Quality (the verifier's verdicts) and complexity columns of a family's records; None when the
    records belong to no known family (then only the text and --quality-field are measured)."""
    from system.qdc.batch import CandidateBatch
    from system.qdc.scoring import SCORERS

    batch = CandidateBatch(records)
    if not batch.is_tint():
        return None
    columns = {name: np.asarray(SCORERS.get(name)().score(batch), dtype=np.float64)
               for name in TINT_QUALITY + TINT_COMPLEXITY}
    quality = np.mean([columns[name] for name in TINT_QUALITY], axis=0)
    n = len(records)
    kinds = Counter(v.noise_kind for v in batch.verdicts)
    verdicts: dict[str, Any] = {"quality_is_mean_of": list(TINT_QUALITY)}
    verdicts.update({name: float(columns[name].mean()) for name in TINT_QUALITY})
    verdicts["noise_kind"] = {k: kinds[k] / n for k in ("none", "static", "dynamic", "malformed")}
    return FamilySignals(
        family="tint",
        quality_source="TInt verifier",
        quality=quality,
        complexity={name: columns[name] for name in TINT_COMPLEXITY},
        verdicts=verdicts,
    )
