"""The loop's use of the QDC filter: only candidates that pass the quality gate may be chosen.

STACK.md measured why the gate matters: training on samples that are merely self-consistent makes a
tiny model learn its own copying errors, while keeping only verified, prompt-grounded samples lets
it extend to longer lists. The strategy (quality-only, diversity-aware, ...) then chooses among the
eligible candidates under the budget, which is what a filtering ablation compares.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from system.qdc.batch import CandidateBatch
from system.qdc.config import FilterConfig
from system.qdc.filter import QDCFilter
from system.tasks.base import TaskFamily
from system.tasks.verdicts import judge_rows


@dataclass
class LoopSelection:
    indices: list[int]
    reasons: list[str]
    scores: dict[str, list[float]]
    metrics: dict[str, Any] = field(default_factory=dict)
    verdicts: list[dict[str, Any]] = field(default_factory=list)  # the family's verdict columns per candidate


def filter_stage(family: TaskFamily, config: FilterConfig, candidates: Sequence[dict[str, Any]], seed: int,
                 min_quality: float) -> LoopSelection:
    """The loop's filter stage: the family judges every candidate once, then `select_candidates`."""
    verdicts = [v.columns() for v in judge_rows(family, candidates, config.text_field)]
    judged = [{**c, **v} for c, v in zip(candidates, verdicts)]
    selection = select_candidates(config, judged, seed, min_quality)
    selection.verdicts = verdicts
    return selection


def select_candidates(config: FilterConfig, candidates: Sequence[dict[str, Any]], seed: int,
                      min_quality: float) -> LoopSelection:
    """Score every candidate, gate on quality, then select among the eligible under the budget
    (a fraction budget is a share of all candidates, capped at the number eligible)."""
    qdc = QDCFilter(config)
    n = len(candidates)
    scores = qdc.score(CandidateBatch(candidates, text_field=config.text_field))
    columns = {name: [float(v) for v in col] for name, col in scores.items()}
    eligible = np.flatnonzero(scores["quality"] >= min_quality)
    reasons = [f"quality below loop.min_quality ({min_quality})"] * n
    if len(eligible) == 0:
        return LoopSelection([], reasons, columns, {"n_eligible": 0})
    budget = min(config.budget_for(n), len(eligible))
    sub = qdc.select([candidates[int(i)] for i in eligible], budget=budget, seed=seed)
    for j, i in enumerate(eligible):
        reasons[int(i)] = sub.reason(j)
    chosen = sorted(int(eligible[j]) for j in sub.chosen)
    return LoopSelection(chosen, reasons, columns, {
        "n_eligible": int(len(eligible)),
        "budget": budget,
        "before": sub.metrics_before,
        "after": sub.metrics_after,
        "reasons": sub.choice.reason_counts(),
        "seconds": sub.seconds,
    })
