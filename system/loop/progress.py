"""Terminal progress of the loop: one live line for the stage in flight (iteration, stage, its size,
elapsed time and an ETA), and one summary line per finished iteration. Everything else the run
prints goes to its log files (`system.logs`)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn, MofNCompleteColumn, Progress as RichProgress, SpinnerColumn, TextColumn, TimeElapsedColumn,
    TimeRemainingColumn,
)


def _pct(v: Any) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


class Progress:
    """The run's terminal display. ``console`` defaults to the terminal's stderr (`system.logs`)."""

    def __init__(self, console: Console | None = None, quiet: bool = False):
        from system.logs import terminal_err

        self.console = console or Console(file=terminal_err(), highlight=False)
        self.quiet = quiet
        self._bar: RichProgress | None = None
        self._task: Any = None
        self._iterations = 0
        self._walls: list[float] = []  # wall seconds of finished self-improvement iterations

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, title: str, iterations: int, seed_stage: bool) -> None:
        """Show the header and the live line (``iterations`` self-improvement iterations to run)."""
        self._iterations = iterations
        if self.quiet:
            return
        self.console.print(title)
        self._bar = RichProgress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(bar_width=20),
                                 TextColumn("{task.completed:.0f}/{task.total:.0f}"), TimeElapsedColumn(),
                                 TextColumn("{task.fields[eta]}"), console=self.console, transient=True)
        self._bar.start()
        self._task = self._bar.add_task("starting", total=iterations + (1 if seed_stage else 0), eta="")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    # -- events --------------------------------------------------------------------------------
    def status(self, text: str) -> None:
        """A step outside the iterations (starting Ray and the actors)."""
        if self._bar is not None:
            self._bar.update(self._task, description=text)
        elif not self.quiet:
            self.console.print(f"[dim]{text}...[/dim]")

    def stage(self, iteration: int, name: str, detail: str = "") -> None:
        label = "seed model" if iteration == 0 else f"iteration {iteration}/{self._iterations}"
        text = f"{label}: {name}" + (f" ({detail})" if detail else "")
        if self._bar is not None:
            self._bar.update(self._task, description=text, eta=self._eta(iteration))
        elif not self.quiet:
            self.console.print(f"[dim]{text}...[/dim]")

    def note(self, message: str) -> None:
        self.console.print(f"[yellow]{message}[/yellow]")

    def iteration_done(self, row: dict[str, Any]) -> None:
        if row["iteration"] > 0:
            self._walls.append(float(row.get("wall_s") or 0.0))
        if self._bar is not None:
            self._bar.advance(self._task)
        if self.quiet:
            return
        levels = row.get(f"accuracy_by_{row.get('level_name', 'length')}") or {}
        short = "L" if row.get("level_name", "length") == "length" else "D"
        by_level = " ".join(f"{short}{k}={_pct(v)}" for k, v in levels.items())
        self.console.print(
            f"[bold]iteration {row['iteration']}[/bold] ID {_pct(row['id_accuracy'])}  OOD {_pct(row['ood_accuracy'])}"
            f"  pass@k {_pct(row.get('pass_at_k'))}  selected {row['n_selected']}/{row['n_generated']}"
            f"  frontier {_frontiers(row)}  diversity {row.get('output_diversity') or 0:.2f}"
            f"  [{by_level}]  {row['wall_s']:.0f}s" + ("  [yellow]no learning[/yellow]" if row.get("learn_skipped") else "")
        )

    def _eta(self, iteration: int) -> str:
        """Remaining time from the finished iterations' mean wall time (none before the first)."""
        if not self._walls:
            return ""
        left = self._iterations - len(self._walls)
        return f"ETA {_clock(left * sum(self._walls) / len(self._walls))}" if left > 0 else ""


class StepBar:
    """A live bar of a training's steps (elapsed, ETA), fed by the step file learner rank 0 writes
    (`system.logs.write_step_file`); polled from a thread while the training runs in this process or
    in rank processes."""

    def __init__(self, label: str, step_file: str | Path, console: Console | None = None):
        from system.logs import terminal_err

        self.step_file = Path(step_file)
        self.console = console or Console(file=terminal_err(), highlight=False)
        self.bar = RichProgress(SpinnerColumn(), TextColumn(label), BarColumn(bar_width=30), MofNCompleteColumn(),
                                TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=self.console,
                                transient=True)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        from system.logs import read_step_file

        task = self.bar.add_task("steps", total=None)
        while not self._stop.wait(0.5):
            reached = read_step_file(self.step_file)
            if reached is not None:
                self.bar.update(task, completed=reached[0], total=reached[1])

    def __enter__(self) -> "StepBar":
        self.step_file.unlink(missing_ok=True)
        self.bar.start()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.bar.stop()


def _frontiers(row: dict[str, Any]) -> str:
    fronts = row.get("frontiers") or {}
    if len(set(fronts.values())) > 1:
        return " ".join(f"{t}:{n}" for t, n in fronts.items())
    return str(row.get("frontier_length") or "-")
