"""Every remote call is bounded: one place that waits, cancels on timeout and names what failed.

``ActorGroup`` declares the fan-out once (same call to all members, or one shard each), so the
controller reads like the loop in DESIGN.md rather than like Ray plumbing.
"""

from __future__ import annotations

from dataclasses import dataclass
import time
from typing import Any, Callable, Sequence

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError

from system.errors import QdcError


class LoopError(QdcError):
    """A stage of the loop failed; the message names the actor, the stage and what to change."""


class StageTimeout(LoopError):
    pass


class ActorDied(LoopError):
    def __init__(self, message: str, index: int):
        super().__init__(message)
        self.index = index


def _cancel(refs: Sequence[ray.ObjectRef]) -> None:
    for ref in refs:
        try:
            ray.cancel(ref, force=False)
        except Exception:  # noqa: BLE001 - best effort: the ref may already be finished or gone
            pass


def wait_all(refs: list[ray.ObjectRef], *, timeout: float, stage: str, names: Sequence[str], key: str,
             tick: Callable[[], None] | None = None) -> list[Any]:
    """Results of ``refs`` in order; a timeout cancels the rest and raises StageTimeout naming
    ``resources.timeouts.<key>``, a dead actor raises ActorDied with its index. ``tick`` is called
    about once a second while waiting (progress display); the deadline is the same."""
    if tick is None:
        ready, pending = ray.wait(refs, num_returns=len(refs), timeout=timeout)
    else:
        deadline = time.monotonic() + timeout
        pending = list(refs)
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            _, pending = ray.wait(refs, num_returns=len(refs), timeout=min(1.0, left))
            tick()
    if pending:
        _cancel(pending)
        late = [names[refs.index(r)] for r in pending]
        raise StageTimeout(
            f"stage {stage!r}: {', '.join(late)} did not answer within {timeout:.0f} s; "
            f"raise resources.timeouts.{key} in the recipe if the work is just slow"
        )
    out = []
    for i, ref in enumerate(refs):
        try:
            out.append(ray.get(ref, timeout=max(1.0, timeout)))
        except RayActorError as e:
            raise ActorDied(f"stage {stage!r}: actor {names[i]} died: {e}", i) from None
        except RayTaskError as e:
            cause = e.cause if getattr(e, "cause", None) is not None else e
            if isinstance(cause, QdcError):
                raise type(cause)(f"stage {stage!r} on {names[i]}: {cause}") from None
            raise LoopError(f"stage {stage!r}: {names[i]} raised {type(cause).__name__}: {cause}") from None
        except GetTimeoutError:
            raise StageTimeout(f"stage {stage!r}: {names[i]} result not available; raise resources.timeouts.{key}") from None
    return out


@dataclass
class ActorGroup:
    """A named list of actor handles with the two fan-outs the loop needs."""

    actors: list[Any]
    names: list[str]

    def call_all(self, method: str, *args: Any, timeout: float, stage: str, key: str,
                 tick: Callable[[], None] | None = None, **kwargs: Any) -> list[Any]:
        refs = [getattr(a, method).remote(*args, **kwargs) for a in self.actors]
        return wait_all(refs, timeout=timeout, stage=stage, names=self.names, key=key, tick=tick)

    def call_sharded(self, method: str, shards: Sequence[Any], *, timeout: float, stage: str, key: str, **kwargs: Any) -> list[Any]:
        if len(shards) != len(self.actors):
            raise ValueError(f"{len(shards)} shards for {len(self.actors)} actors in {stage!r}")
        refs = [getattr(a, method).remote(s, **kwargs) for a, s in zip(self.actors, shards)]
        return wait_all(refs, timeout=timeout, stage=stage, names=self.names, key=key)


def shard(items: Sequence[Any], n: int) -> list[list[Any]]:
    """Split into n contiguous, nearly equal shards (order kept, so results concatenate back)."""
    size, extra = divmod(len(items), n)
    out, start = [], 0
    for i in range(n):
        end = start + size + (1 if i < extra else 0)
        out.append(list(items[start:end]))
        start = end
    return out
