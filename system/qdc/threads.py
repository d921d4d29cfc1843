"""One BLAS thread for loops of small matrix products.

The greedy strategies make thousands of small products in a row (one cell against a few centres).
OpenBLAS splits even those across its threads, and on a busy machine each call then waits for a
core: measured 40x slower than one thread (7.8 ms vs 0.2 ms for 100 x 384 x 30 on 2 busy cores).
threadpoolctl ships with scikit-learn, a dependency of sentence-transformers; without it this is
a no-op.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import faiss  # noqa: F401  (loaded first, so its own OpenBLAS is among the libraries limited)

_controller: Any = None


def single_blas_thread() -> AbstractContextManager[Any]:
    global _controller
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - present with the project's dependencies
        return nullcontext()
    if _controller is None:  # finding the loaded BLAS libraries takes ~0.2 s: once per process
        _controller = ThreadpoolController()
    return _controller.limit(limits=1, user_api="blas")
