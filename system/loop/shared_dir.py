"""Is the run directory the same directory on every node? A probe file answers it before any actor starts.

Checkpoints are written by learner rank 0 on its node and read by the generators and the driver on
theirs, so ``run.dir`` must be storage every node of a cluster mounts at the same path. The driver
writes a file with a fresh random token into the run directory; a check scheduled onto every node
the loop's actors will use reads it back. A node that sees no file, or another token (its own disk
at the same path), makes the run stop before it starts, naming that node.
"""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

from system.store import atomic_write_text

PROBE_NAME = ".qdc-visible"


@dataclass(frozen=True)
class Sighting:
    node: str  # address of the node the check ran on
    host: str
    problem: str | None  # None: the node sees the run directory


def write_probe(run_dir: Path) -> str:
    token = secrets.token_hex(16)
    atomic_write_text(run_dir / PROBE_NAME, token)
    return token


def remove_probe(run_dir: Path) -> None:
    (run_dir / PROBE_NAME).unlink(missing_ok=True)


def look(run_dir: str, token: str, node: str) -> Sighting:
    """What this process (on node ``node``) sees of the run directory."""
    path = Path(run_dir) / PROBE_NAME
    host = socket.gethostname()
    try:
        found = path.read_text().strip()
    except FileNotFoundError:
        return Sighting(node, host, f"{path} does not exist there")
    except OSError as e:
        return Sighting(node, host, f"{path} cannot be read there ({e.strerror or e})")
    if found != token:
        return Sighting(node, host, f"{path} there is another file (a different disk at the same path)")
    return Sighting(node, host, None)


def blind_nodes_message(run_dir: Path, blind: dict[Sighting, list[str]]) -> str:
    """One line naming every node that does not see the run directory and what would have run there."""
    parts = [f"node {s.node} ({s.host}; {', '.join(roles)}): {s.problem}" for s, roles in blind.items()]
    return (f"run.dir: {run_dir} is not visible from every node the loop uses: {'; '.join(parts)}. "
            "run.dir must be on storage shared by all nodes, mounted at the same path on each "
            "(see README, 'On a Ray cluster', and the shared mount in cluster.yaml)")
