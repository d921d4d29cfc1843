"""How the report's files reach the run directory: all or nothing.

`build_report` renders inside `staged(run_dir)`: every PNG goes to a hidden temporary folder of the
run directory, and only once the whole page is rendered are the PNGs moved into place (each rename
atomic) and report.html written last. A report that fails half-way leaves the run directory as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Iterator

from system.store import atomic_write_text

REPORT_HTML = "report.html"


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


class Staging:
    """The files of one report, held back in ``<run>/.report.*`` until `commit`."""

    def __init__(self, run_dir: Path):
        self.run_dir = run_dir
        self.tmp = Path(tempfile.mkdtemp(prefix=".report.", dir=run_dir))
        self.names: list[str] = []

    def claim(self, path: Path) -> Path | None:
        """Where a file meant for ``path`` is written now (None: not a file of this run directory)."""
        if path.parent.resolve() != self.run_dir.resolve():
            return None
        if path.name not in self.names:
            self.names.append(path.name)
        return self.tmp / path.name

    def commit(self, page: str) -> Path:
        for name in self.names:
            os.replace(self.tmp / name, self.run_dir / name)
        out = self.run_dir / REPORT_HTML
        atomic_write_text(out, page)
        return out

    def discard(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


_STAGE: ContextVar[Staging | None] = ContextVar("qdc_report_stage", default=None)


@contextmanager
def staged(run_dir: Path) -> Iterator[Staging]:
    stage = Staging(run_dir)
    token = _STAGE.set(stage)
    try:
        yield stage
    finally:
        _STAGE.reset(token)
        stage.discard()


def _save(fig: Any, path: Path) -> Path:
    """Save a figure as ``path`` (returned, so the page can refer to it by name): held back while a
    report is being rendered, else written through a temporary file and renamed."""
    plt = _plt()
    try:
        stage = _STAGE.get()
        held = stage.claim(path) if stage is not None else None
        if held is not None:
            fig.savefig(held, dpi=110, bbox_inches="tight")
        else:
            tmp = path.with_name(f".{path.name}.tmp.png")
            fig.savefig(tmp, dpi=110, bbox_inches="tight")
            tmp.replace(path)
    finally:
        plt.close(fig)
    return path
