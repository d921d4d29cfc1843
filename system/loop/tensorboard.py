"""Each iteration's metrics as TensorBoard scalars under ``<run>/tensorboard`` (`tensorboard --logdir runs/`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _scalars(row: dict[str, Any], prefix: str = "") -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in row.items():
        if key == "iteration":
            continue
        if isinstance(value, dict):
            out.update(_scalars(value, f"{prefix}{key}/"))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            out[f"{prefix}{key}"] = float(value)
    return out


def log_row(run_dir: Path, row: dict[str, Any]) -> None:
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))
    try:
        for tag, value in _scalars(row).items():
            writer.add_scalar(tag, value, global_step=int(row["iteration"]))
    finally:
        writer.close()
