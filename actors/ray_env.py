"""The environment a locally started Ray needs, set before `import ray` (so no ray import here).

Measured with Ray 2.60 (STACK.md):
- ``ray.init()`` resolves a loopback ``_node_ip_address`` to the machine's address, and GCS, raylet,
  workers and agents then listen on all interfaces. With ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (Ray's
  switch for single-machine Ray, read when ray is imported, by the driver and by every Ray process
  it starts) the node address is 127.0.0.1 and every server binds to loopback.
- Ray 2.60 turns token authentication on for new local clusters and writes the token to
  ~/.ray/auth_token. A run gets its own random token in ``RAY_AUTH_TOKEN`` instead: Ray's processes
  inherit it and nothing is written to the home folder. An explicit ``RAY_AUTH_MODE`` (or token) in
  the environment is left as it is.
Attaching to a cluster (``--address`` or RAY_ADDRESS) changes nothing: the cluster's own settings apply.
"""

from __future__ import annotations

import os
import secrets

LOOPBACK_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
RUN_TAG = "QDC_RAY_RUN"  # marks every process of a locally started Ray (see actors/watchdog.py)


def is_local(address: str | None) -> bool:
    return not (address or os.environ.get("RAY_ADDRESS"))


def prepare_local_ray(address: str | None) -> None:
    """Call before ray is imported when this process may start a local Ray."""
    if not is_local(address):
        return
    os.environ.setdefault(LOOPBACK_SWITCH, "0")
    if "RAY_AUTH_MODE" not in os.environ:
        os.environ["RAY_AUTH_MODE"] = "token"
        if not (os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH")):
            os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
