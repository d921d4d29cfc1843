"""Ends a local Ray's processes when the driver that started it ends, also after kill -9.

Ray fate-shares the processes the driver starts (GCS, raylet, dashboard: PR_SET_PDEATHSIG), but the
raylet's own children, the dashboard agent and the runtime-env agent, were measured to stay up (and
listening) for minutes after a kill -9 of the driver: once they notice the raylet is gone they try
to report to the dead GCS first. This process closes that gap.

The driver starts it with a pipe on stdin, before `ray.init`. While the driver lives, the watchdog
notes every process that appears below the driver (Ray's processes, their workers and agents; the
agents cannot be told by their environment, which their process title overwrites), and every
process carrying the run's tag (``QDC_RAY_RUN``) in its environment. End of input (the driver died,
however) or a ``stop`` line (a normal shutdown) ends the wait; then each of those processes still
alive is sent SIGTERM, and SIGKILL a few seconds later.

    python -m actors.watchdog TAG DRIVER_PID
"""

from __future__ import annotations

import os
import select
import sys
import time

import psutil

from actors.ray_env import RUN_TAG

GRACE_S = 3.0
POLL_S = 1.0  # how often the driver's descendants are noted


def tagged(tag: str) -> list[psutil.Process]:
    out = []
    uid = os.getuid()
    for p in psutil.process_iter(["pid", "uids"]):
        try:
            if p.info["uids"] is not None and p.info["uids"].real == uid and p.environ().get(RUN_TAG) == tag:
                out.append(p)
        except (psutil.Error, OSError):
            continue
    return out


class Watch:
    """The processes of the run: descendants of the driver that appeared after the watchdog started,
    and processes carrying the tag."""

    def __init__(self, tag: str, driver: int):
        self.tag = tag
        self.driver = psutil.Process(driver)
        self.started = time.time() - 1.0  # create times are rounded
        self.known: dict[int, psutil.Process] = {}
        self.spare = {os.getpid(), driver}

    def note(self) -> bool:
        """Record the driver's new descendants; False once the driver is gone."""
        try:
            children = self.driver.children(recursive=True)
        except psutil.Error:
            return False
        for p in children:
            try:
                if p.pid not in self.spare and p.create_time() >= self.started:
                    self.known[p.pid] = p
            except psutil.Error:
                continue
        return True

    def alive(self) -> list[psutil.Process]:
        procs = {p.pid: p for p in self.known.values() if p.is_running()}
        procs.update({p.pid: p for p in tagged(self.tag)})
        return [p for pid, p in procs.items() if pid not in self.spare]


def sweep(watch: Watch, rounds: int = 3) -> int:
    """Stop every process of the run; a few rounds, for processes started while the first ones stopped."""
    ended = 0
    for _ in range(rounds):
        victims = watch.alive()
        if not victims:
            break
        for p in victims:
            try:
                p.terminate()
            except psutil.Error:
                pass
        _, alive = psutil.wait_procs(victims, timeout=GRACE_S)
        for p in alive:
            try:
                p.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(alive, timeout=GRACE_S)
        ended += len(victims)
    return ended


def main(argv: list[str]) -> int:
    tag, driver = argv[0], int(argv[1])
    try:
        watch = Watch(tag, driver)
    except psutil.Error:
        return 0
    while True:
        try:
            ready, _, _ = select.select([sys.stdin], [], [], POLL_S)
        except (OSError, ValueError, KeyboardInterrupt):
            break
        if ready:
            sys.stdin.readline()  # "stop" (Ray was shut down) or end of input (the driver is gone)
            break
        if not watch.note():
            break
    sweep(watch)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
