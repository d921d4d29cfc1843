"""Terminal progress of the loop: the stage in flight and a line of metrics per iteration."""

from __future__ import annotations

from typing import Any

from rich.console import Console


def _pct(v: Any) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


class Progress:
    def __init__(self, console: Console | None = None, quiet: bool = False):
        self.console = console or Console(stderr=True)
        self.quiet = quiet

    def stage(self, iteration: int, name: str) -> None:
        if not self.quiet:
            self.console.print(f"[dim]iteration {iteration}: {name}...[/dim]")

    def note(self, message: str) -> None:
        self.console.print(f"[yellow]{message}[/yellow]")

    def iteration_done(self, row: dict[str, Any]) -> None:
        if self.quiet:
            return
        lengths = " ".join(f"L{k}={_pct(v)}" for k, v in (row.get("accuracy_by_length") or {}).items())
        self.console.print(
            f"[bold]iteration {row['iteration']}[/bold] ID {_pct(row['id_accuracy'])}  OOD {_pct(row['ood_accuracy'])}"
            f"  pass@k {_pct(row.get('pass_at_k'))}  selected {row['n_selected']}/{row['n_generated']}"
            f"  frontier {_frontiers(row)}  diversity {row.get('output_diversity') or 0:.2f}"
            f"  [{lengths}]  {row['wall_s']:.0f}s"
        )


def _frontiers(row: dict[str, Any]) -> str:
    fronts = row.get("frontiers") or {}
    if len(set(fronts.values())) > 1:
        return " ".join(f"{t}:{n}" for t, n in fronts.items())
    return str(row.get("frontier_length") or "-")
