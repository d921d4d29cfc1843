"""A run whose run.dir some node cannot see is refused before any actor starts, naming the node.

The two-node cluster is real Ray on this machine: a head node, and a worker node started in its own
mount and UTS namespaces (``unshare``) with an empty tmpfs over the run directory's parent and the
host name ``hidden-node``; to that node the run directory does not exist, as on a cluster whose
run.dir is on one node's local disk.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import ray
import yaml

from actors.controller import LoopController, RunDirNotShared
from actors.placement import reserve
from system.config import load_recipe
from system.loop.progress import Progress
from system.loop.rundir import open_run
from system.loop.shared_dir import PROBE_NAME, look, write_probe
from system.models.distributed import free_port
from tests.loop.conftest import TINY

RAY = str(Path(sys.executable).parent / "ray")


def _unshare_prefix() -> list[str] | None:
    for prefix in (["unshare", "-m", "-u"], ["unshare", "-U", "-r", "-m", "-u"]):
        if shutil.which("unshare") and subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
            return prefix
    return None


def test_look_tells_missing_foreign_and_seen_probes(tmp_path: Path) -> None:
    assert "does not exist" in look(str(tmp_path), "t", "10.0.0.7").problem
    token = write_probe(tmp_path)
    assert look(str(tmp_path), token, "10.0.0.7").problem is None
    (tmp_path / PROBE_NAME).write_text("another node's token")
    assert "different disk" in look(str(tmp_path), token, "10.0.0.7").problem


def _start(cmd: list[str], log: Path, ray_tmp: str) -> subprocess.Popen:
    # A temp dir of this cluster's own: `ray start` records the cluster's address there, and in the
    # machine-wide default (/tmp/ray) that record would make every later plain `ray.init()` on the
    # machine try to join this cluster. (Short: Ray's socket paths must fit in 107 bytes.)
    # a multi-node cluster: Ray's single-machine switch (set for local runs, actors/ray_env.py) must be off
    # the session's token auth (tests/conftest.py): Ray keeps the auth mode of its first use in a process
    env = {**os.environ, "RAY_TMPDIR": ray_tmp, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1"}
    return subprocess.Popen(cmd, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    """End the node we started: its process group only (other Ray clusters on the machine stay up)."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture
def two_node_cluster(tmp_path: Path):
    prefix = _unshare_prefix()
    if prefix is None:
        pytest.skip("needs `unshare` (mount namespaces) to give one node its own view of the file system")
    hidden = tmp_path / "node_local"
    hidden.mkdir()
    port = free_port()
    ray_tmp = tempfile.mkdtemp(prefix="qdcray-", dir="/tmp")
    common = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--disable-usage-stats", "--block"]
    head = _start([RAY, "start", "--head", "--port", str(port), "--include-dashboard", "false", "--temp-dir",
                   ray_tmp, *common], tmp_path / "head.log", ray_tmp)
    nodes = [head]
    try:
        deadline = time.monotonic() + 120
        while subprocess.run([RAY, "status", "--address", f"127.0.0.1:{port}"], capture_output=True,
                             env={**os.environ, "RAY_TMPDIR": ray_tmp,
                                  "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1"}).returncode != 0:
            assert time.monotonic() < deadline and head.poll() is None, (tmp_path / "head.log").read_text()[-2000:]
            time.sleep(1)
        script = (f"hostname hidden-node && mount -t tmpfs tmpfs {hidden} && "
                  f"exec {RAY} start --address 127.0.0.1:{port} {' '.join(common)}")
        nodes.append(_start([*prefix, "sh", "-c", script], tmp_path / "worker.log", ray_tmp))
        ray.init(address=f"127.0.0.1:{port}", log_to_driver=False)
        while len([n for n in ray.nodes() if n["Alive"]]) < 2:
            assert time.monotonic() < deadline and nodes[1].poll() is None, (tmp_path / "worker.log").read_text()[-2000:]
            time.sleep(1)
        yield hidden
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for node in reversed(nodes):
            _stop(node)
        shutil.rmtree(ray_tmp, ignore_errors=True)


@pytest.mark.slow
def test_a_run_dir_one_node_cannot_see_is_refused_naming_it(two_node_cluster: Path, tmp_path: Path) -> None:
    resources = {"generators": 2, "generator_cpus": 0.25, "learner_cpus": 0.25, "filter_cpus": 0.25,
                 "prober_cpus": 0.25, "placement": "spread", "timeouts": {"actor_start": 60}}

    def recipe_in(run_dir: Path):
        p = tmp_path / f"{run_dir.name}.yaml"
        p.write_text(yaml.safe_dump({**TINY, "resources": resources, "run": {"dir": str(run_dir)}}))
        return load_recipe(p)

    recipe = recipe_in(two_node_cluster / "run")
    controller = LoopController(recipe, open_run(recipe, "tiny\n", resume=False), progress=Progress(quiet=True))
    with pytest.raises(RunDirNotShared) as refused:
        controller.execute()
    message = str(refused.value)
    assert "hidden-node" in message and "shared by all nodes" in message and str(two_node_cluster / "run") in message
    assert controller.learners is None and controller.generators is None  # refused before any actor started

    # the same cluster with run.dir where both nodes see it passes the check
    visible = recipe_in(tmp_path / "visible")
    ok = LoopController(visible, open_run(visible, "tiny\n", resume=False), progress=Progress(quiet=True))
    ok.placement = reserve(visible.resources, visible.learner.world_size)
    try:
        ok._check_run_dir_is_shared()
    finally:
        ok.placement.release()
