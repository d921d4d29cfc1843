"""The task family's own signals about a dataset: quality and complexity from its verdicts.

Records a family can judge (today: TInt records with task, input and completion) get the family's
verdict of every record through the task-family interface (`system.tasks`), the same verdicts the
loop's filter stage stores; other records are measured on their text and ``--quality-field`` only.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

TINT_QUALITY = ("answer_correct", "chain_consistent", "steps_valid")  # what the verdict quality averages
TINT_COMPLEXITY = ("trace_steps", "list_length", "digits")


@dataclass
class FamilySignals:
    family: str
    quality_source: str
    quality: np.ndarray  # per record, in [0, 1]
    complexity: dict[str, np.ndarray]  # the family's own measures, per record
    verdicts: dict[str, Any] = field(default_factory=dict)  # shares of the verifier's findings


def family_signals(records: Sequence[dict[str, Any]]) -> FamilySignals | None:
    """Quality (the family's verdict quality) and complexity columns of a family's records; None when
    no family can judge every record (then only the text and --quality-field are measured)."""
    from system.tasks.tint_family import TintFamily
    from system.tasks.verdicts import judge_rows

    family = TintFamily.default()
    if not records or any(family.row_problem(r) is not None for r in records):
        return None
    verdicts = judge_rows(family, records)
    n = len(records)
    kinds = Counter(str(v.signals["noise_kind"]) for v in verdicts)
    shares: dict[str, Any] = {"quality_is_mean_of": list(TINT_QUALITY),
                              "answer_correct": float(np.mean([v.correct for v in verdicts])),
                              "chain_consistent": float(np.mean([bool(v.signals["chain_consistent"]) for v in verdicts])),
                              "steps_valid": float(np.mean([float(v.signals["steps_valid"]) for v in verdicts]))}
    shares["noise_kind"] = {k: kinds[k] / n for k in ("none", "static", "dynamic", "malformed")}
    return FamilySignals(
        family=family.name,
        quality_source="TInt verifier",
        quality=np.array([v.quality for v in verdicts], dtype=np.float64),
        complexity={name: np.array([v.complexity[name] for v in verdicts], dtype=np.float64)
                    for name in TINT_COMPLEXITY},
        verdicts=shares,
    )
