"""Process-group and DeepSpeed plumbing for the learner: rank environment, ports, the JIT op cache.

Every rank is a plain process with RANK / WORLD_SIZE / LOCAL_RANK / MASTER_ADDR / MASTER_PORT set
(this is what torchrun, the deepspeed launcher and a Ray actor per rank all reduce to); the group
is gloo on CPU and NCCL on GPU.

DeepSpeed JIT-compiles C++ ops (shm_comm, ~35-50 s cold) into ``TORCH_EXTENSIONS_DIR``. One cache
is shared by every run on a machine (default ``<repo>/.cache/torch_extensions``, the same path the
Makefile exports) and the ops are built once, in one process, before ranks start: a process killed
while compiling leaves ``<op>/lock`` behind and the next build would wait on it forever.
"""

from __future__ import annotations

import os
import random
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from system.errors import QdcError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_EXTENSIONS_DIR = REPO_ROOT / ".cache" / "torch_extensions"
# A cold build of shm_comm takes ~50 s on 2 cores; a lock older than this was left by a dead build.
STALE_LOCK_S = 600.0
DEEPSPEED_OPS = ("ShareMemCommBuilder",)


class DistributedSetupError(QdcError):
    """The process group or DeepSpeed cannot start; the message says what to fix."""


@dataclass(frozen=True)
class RankEnv:
    rank: int
    world_size: int
    master_addr: str
    master_port: int
    local_rank: int

    def apply(self) -> None:
        """Export the variables torch.distributed, accelerate and DeepSpeed read."""
        os.environ.update(
            RANK=str(self.rank),
            WORLD_SIZE=str(self.world_size),
            LOCAL_RANK=str(self.local_rank),
            LOCAL_WORLD_SIZE=str(self.world_size),
            MASTER_ADDR=self.master_addr,
            MASTER_PORT=str(self.master_port),
        )
        if _is_loopback(self.master_addr):
            _serve_store_on_loopback(self)


_STORES: dict[tuple[str, int], object] = {}  # loopback TCPStore servers this process hosts (rank 0)


def _is_loopback(host: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _serve_store_on_loopback(env: RankEnv) -> None:
    """torch's rank-0 TCPStore listens on every interface, whatever MASTER_ADDR says. When all ranks
    meet on a loopback address, rank 0 hosts the store on a socket bound to that address instead,
    and every rank (rank 0 too) joins it as a client (torch's TORCHELASTIC_USE_AGENT_STORE path)."""
    os.environ["TORCHELASTIC_USE_AGENT_STORE"] = "True"
    key = (env.master_addr, env.master_port)
    if env.rank != 0 or key in _STORES:
        return
    from datetime import timedelta

    import torch.distributed as dist

    family = socket.AF_INET6 if ":" in env.master_addr else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((env.master_addr, env.master_port))
        sock.listen(128)
    except OSError as e:
        sock.close()
        raise DistributedSetupError(f"rank 0 cannot listen on {env.master_addr}:{env.master_port} ({e})") from None
    store = dist.TCPStore(env.master_addr, env.master_port, world_size=env.world_size, is_master=True,
                          master_listen_fd=sock.fileno(), wait_for_workers=False, multi_tenant=True,
                          timeout=timedelta(minutes=30))
    _STORES[key] = (store, sock)


def free_port(rng: random.Random | None = None, low: int = 20000, high: int = 32000) -> int:
    """A free TCP port outside the ephemeral range.

    ``bind(("127.0.0.1", 0))`` hands out ephemeral ports, where a busy machine (Ray holds ~150
    sockets) makes rank 0's TCPStore fail now and then with EADDRINUSE; a random port in a quiet
    range, checked by binding it, does not.
    """
    rng = rng or random.Random()
    for _ in range(200):
        port = rng.randint(low, high)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("", port))
            except OSError:
                continue
            return port
    raise DistributedSetupError(f"no free TCP port found in {low}-{high}")


def extensions_dir() -> Path:
    """The shared DeepSpeed/torch JIT op cache; exported so that child processes use it too."""
    path = Path(os.environ.get("TORCH_EXTENSIONS_DIR") or DEFAULT_EXTENSIONS_DIR)
    os.environ["TORCH_EXTENSIONS_DIR"] = str(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def clear_stale_locks(root: Path, stale_after_s: float = STALE_LOCK_S, wait_s: float = 0.0) -> list[Path]:
    """Remove build locks older than ``stale_after_s``, saying so on stderr.

    A younger lock may belong to a build in progress: wait up to ``wait_s`` for it to go away.
    """
    removed: list[Path] = []
    deadline = time.monotonic() + wait_s
    for lock in sorted(root.glob("*/lock")):
        while lock.exists():
            try:
                age = time.time() - lock.stat().st_mtime
            except FileNotFoundError:
                break
            if age >= stale_after_s:
                print(
                    f"warning: removing stale DeepSpeed build lock {lock} (age {age:.0f} s): a build of "
                    f"'{lock.parent.name}' was interrupted; it will be rebuilt (~1 min)",
                    file=sys.stderr,
                )
                lock.unlink(missing_ok=True)
                removed.append(lock)
                break
            if time.monotonic() >= deadline:
                raise DistributedSetupError(
                    f"DeepSpeed op build lock {lock} is held (age {age:.0f} s). Another process may be "
                    f"building '{lock.parent.name}'; if none is, delete the file and run again"
                )
            time.sleep(2.0)
    return removed


def build_deepspeed_ops(wait_s: float = STALE_LOCK_S) -> Path:
    """Build (or load from the cache) the JIT ops DeepSpeed needs on this machine, in this process.

    Call it once before launching ranks so that they find the ops compiled. On GPU machines the
    CPU comm op is not needed and nothing is built.
    """
    root = extensions_dir()
    import torch

    if torch.cuda.is_available():
        return root
    clear_stale_locks(root, wait_s=wait_s)
    from deepspeed.accelerator import get_accelerator

    for op in DEEPSPEED_OPS:
        get_accelerator().create_op_builder(op).load()
    return root


def cpu_threads(world_size: int, requested: int | None) -> int:
    """Torch threads per rank: the request, else the cores split over the ranks."""
    if requested:
        return requested
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // world_size)
