"""Starting Ray and reserving the loop's resources in placement groups (`reserve`).

Bundles come out of the same CPU pool as live actors (STACK.md), so every role asks for the
fractional CPUs the recipe gives it and the group is awaited with a timeout: a recipe that asks for
more than the cluster has fails with a message instead of a hang.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import subprocess
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import ray
from ray.util.placement_group import PlacementGroup, placement_group, remove_placement_group
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from actors.calls import StageTimeout
from actors.ray_env import LOOPBACK_SWITCH, RUN_TAG, prepare_local_ray
from system.loop.config import ResourcesConfig

# Environment every actor process gets (Ray starts workers from a clean environment on clusters).
ACTOR_ENV_KEYS = ("TORCH_EXTENSIONS_DIR", "VLLM_CPU_KVCACHE_SPACE", "HF_HUB_OFFLINE", "TOKENIZERS_PARALLELISM",
                  "VLLM_CACHE_ROOT", "RAY_AUTH_MODE")


_watchdog: subprocess.Popen | None = None


def start_ray(resources: ResourcesConfig, address: str | None, verbose: bool = True) -> None:
    """Attach to ``address`` (or RAY_ADDRESS) if given, else start a local Ray with the recipe's CPUs.

    A local Ray listens on 127.0.0.1 only, with token authentication (actors/ray_env.py), its
    dashboard off unless ``resources.dashboard``, and a watchdog that ends its processes when this
    driver ends, however it ends (actors/watchdog.py). Actor output streams to the driver only when
    ``verbose``; otherwise each actor writes its own log in the run directory (`system.logs`)."""
    if ray.is_initialized():
        return
    env = {k: os.environ[k] for k in ACTOR_ENV_KEYS if k in os.environ}
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Actor output reaches the driver's terminal: keep library progress bars and chatter out of it.
    env.setdefault("TRANSFORMERS_VERBOSITY", "error")
    env.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    env.setdefault("TQDM_DISABLE", "1")
    runtime_env = {"env_vars": env}
    address = address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, runtime_env=runtime_env, log_to_driver=verbose)
        return
    prepare_local_ray(None)  # the CLI did this before importing ray; here for callers that did not
    _start_watchdog()
    # address="local": always a Ray of this run's own, never one that `ray start` left on the machine
    ray.init(address="local", num_cpus=resources.num_cpus, num_gpus=resources.num_gpus, runtime_env=runtime_env,
             include_dashboard=resources.dashboard, dashboard_host="127.0.0.1",
             log_to_driver=verbose, configure_logging=False)
    node_ip = ray.util.get_node_ip_address()
    if not ipaddress.ip_address(node_ip).is_loopback:
        warnings.warn(f"the local Ray listens on {node_ip}, not only on 127.0.0.1: ray was imported before "
                      f"{LOOPBACK_SWITCH}=0 was set (call actors.ray_env.prepare_local_ray before importing ray)",
                      stacklevel=2)


def _start_watchdog() -> None:
    global _watchdog
    tag = secrets.token_hex(8)
    os.environ[RUN_TAG] = tag  # inherited by every process of the Ray started next
    _watchdog = subprocess.Popen([sys.executable, "-m", "actors.watchdog", tag, str(os.getpid())],
                                 stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, start_new_session=True,
                                 cwd=Path(__file__).resolve().parents[1], text=True)


def stop_ray() -> None:
    """Shut down a Ray this process started (its watchdog then ends any process of it still alive)."""
    global _watchdog
    if ray.is_initialized():
        ray.shutdown()
    if _watchdog is not None:
        try:
            _watchdog.stdin.write("stop\n")
            _watchdog.stdin.close()
            _watchdog.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            _watchdog.kill()
        _watchdog = None
    os.environ.pop(RUN_TAG, None)


@dataclass
class Placement:
    """Bundle indices per role over the loop's placement groups: one group for the generators, filter
    and prober (the recipe's ``resources.placement``), and the learner ranks in STRICT_PACK groups of
    as many ranks as one node holds, so that NCCL ranks share a node wherever they can."""

    groups: list[PlacementGroup]
    slots: list[tuple[int, int]]  # global bundle index -> (group, bundle inside the group)
    generators: list[int]
    learners: list[int]
    filter: int
    prober: int

    def strategy(self, bundle: int) -> PlacementGroupSchedulingStrategy:
        group, index = self.slots[bundle]
        return PlacementGroupSchedulingStrategy(placement_group=self.groups[group], placement_group_bundle_index=index)

    @property
    def bundles(self) -> list[int]:
        return list(range(len(self.slots)))

    def release(self) -> None:
        for group in self.groups:
            remove_placement_group(group)


def _bundle(cpus: float, gpus: float) -> dict[str, float]:
    b: dict[str, float] = {"CPU": cpus}
    if gpus > 0:
        b["GPU"] = gpus
    return b


def ranks_per_node(cpus: float, gpus: float, nodes: list[dict[str, float]]) -> int:
    """How many learner ranks of ``cpus``/``gpus`` each the roomiest node holds (0: none holds one)."""
    best = 0
    for total in nodes:
        fit = int(total.get("CPU", 0.0) // cpus) if cpus > 0 else 10**6
        if gpus > 0:
            fit = min(fit, int(total.get("GPU", 0.0) // gpus))
        best = max(best, fit)
    return best


def learner_groups(world_size: int, per_node: int) -> list[int]:
    """Ranks per STRICT_PACK group: whole nodes' worth, the rest in the last (empty when none fits)."""
    if per_node <= 0:
        return []
    full, rest = divmod(world_size, per_node)
    return [per_node] * full + ([rest] if rest else [])


def _alive_node_resources() -> list[dict[str, float]]:
    return [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]


def reserve(resources: ResourcesConfig, learner_ranks: int) -> Placement:
    """Reserve every bundle the loop needs; a cluster that cannot hold them is an error within
    ``resources.timeouts.actor_start``, naming what was asked and what is free."""
    other = [_bundle(resources.generator_cpus, resources.generator_gpus) for _ in range(resources.generators)]
    other += [_bundle(resources.filter_cpus, 0), _bundle(resources.prober_cpus, 0)]
    learner = _bundle(resources.learner_cpus, resources.learner_gpus)
    sizes = learner_groups(learner_ranks, ranks_per_node(resources.learner_cpus, resources.learner_gpus,
                                                         _alive_node_resources()))
    specs: list[tuple[list[dict[str, float]], str]] = [(other, resources.placement.upper())]
    if sizes:
        specs += [([learner] * n, "STRICT_PACK") for n in sizes]
    else:  # no node is up that holds a rank (an autoscaling cluster): pack them as they come
        specs.append(([learner] * learner_ranks, "PACK"))
    groups = [placement_group(bundles, strategy=strategy) for bundles, strategy in specs]
    timeout = resources.timeouts.actor_start
    try:
        ray.get([g.ready() for g in groups], timeout=timeout)
    except ray.exceptions.GetTimeoutError:
        for g in groups:
            remove_placement_group(g)
        every = [b for bundles, _ in specs for b in bundles]
        total = {k: sum(b.get(k, 0) for b in every) for k in ("CPU", "GPU")}
        raise StageTimeout(
            f"stage 'placement': the cluster could not reserve {total} for {len(every)} bundles "
            f"(learner ranks in STRICT_PACK groups of {sizes or 'any'}) within {timeout:.0f} s (available: "
            f"{ray.available_resources()}); lower resources.*_cpus/_gpus or resources.generators, or raise "
            f"resources.timeouts.actor_start"
        ) from None
    slots = [(0, i) for i in range(len(other))]
    for g, (bundles, _) in enumerate(specs[1:], 1):
        slots += [(g, i) for i in range(len(bundles))]
    n_gen = resources.generators
    return Placement(groups, slots, generators=list(range(n_gen)), learners=list(range(len(other), len(slots))),
                     filter=n_gen, prober=n_gen + 1)
