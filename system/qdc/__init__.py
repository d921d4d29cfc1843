"""QDC filtering: quality and complexity scorers, embedders, FAISS diversity, selection strategies, metrics.

Public API (imported lazily, so reading a recipe does not load FAISS)::

    from system.qdc import QDCFilter, FilterConfig, Selection
    selection = QDCFilter(FilterConfig(strategy="qdit", budget=0.25)).select(records, seed=0)

Importing this package sets ``OMP_WAIT_POLICY=PASSIVE`` unless it is already set. FAISS's OpenMP
threads otherwise spin after every parallel call; the cell-wise strategies make many small FAISS
and BLAS calls in a row, and the spinning threads starve numpy's BLAS threads (measured 4-10x
slower on 2 busy cores). It only takes effect if no OpenMP runtime was loaded yet (import
system.qdc before faiss or torch to be sure).
"""

from __future__ import annotations

import importlib
import os
from typing import Any

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_EXPORTS = {
    "FilterConfig": "system.qdc.config",
    "QDCFilter": "system.qdc.filter",
    "Selection": "system.qdc.filter",
    "CandidateBatch": "system.qdc.batch",
    "ScorerInputError": "system.qdc.batch",
    "SCORERS": "system.qdc.scoring",
    "Scorer": "system.qdc.scoring",
    "EMBEDDERS": "system.qdc.embedders",
    "Embedder": "system.qdc.embedders",
    "HiddenStateSource": "system.qdc.embedders",
    "STRATEGIES": "system.qdc.strategies",
    "SelectionStrategy": "system.qdc.strategies",
    "SelectionInputs": "system.qdc.strategies",
    "Choice": "system.qdc.strategies",
    "plan_index": "system.qdc.index",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'system.qdc' has no attribute {name!r}")
