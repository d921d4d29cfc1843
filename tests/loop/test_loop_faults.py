"""Faults inside a running loop: a generator killed mid-iteration, bad or slow weight syncs."""

from __future__ import annotations

import dataclasses

import time
from pathlib import Path

import pytest
import ray
import yaml

from actors.calls import StageTimeout, wait_all
from actors.controller import LoopController
from actors.generator import GeneratorActor
from system.config import load_recipe
from system.loop.progress import Progress
from system.loop.rundir import open_run
from system.loop.sync import WeightSyncError
from system.models.weights import ChunkWriter
from tests.loop.conftest import TINY

pytestmark = pytest.mark.slow


def recipe_at(tmp_path: Path, **loop: object):
    data = {**TINY, "loop": {**TINY["loop"], **loop}, "run": {"dir": str(tmp_path / "run")}}
    p = tmp_path / "tiny.yaml"
    p.write_text(yaml.safe_dump(data))
    return load_recipe(p)


def test_generator_killed_mid_iteration_is_replaced_and_its_shard_resampled(local_ray, tmp_path: Path) -> None:
    recipe = recipe_at(tmp_path, iterations=1)
    run = open_run(recipe, "tiny\n", resume=False)
    killed: list[str] = []

    def kill_generator(iteration: int, stage: str) -> None:
        if (iteration, stage) == (1, "generate") and not killed:
            ray.kill(controller.generators.actors[0], no_restart=False)
            killed.append(stage)

    controller = LoopController(recipe, run, progress=Progress(quiet=True), on_stage=kill_generator)
    rows = controller.execute()
    assert killed == ["generate"]
    assert controller.restarts >= 1
    assert [r["iteration"] for r in rows] == [0, 1]
    assert rows[1]["n_generated"] == 24 * 4


def test_checksum_mismatch_is_an_error_not_a_hang(local_ray, uninterrupted_run: Path) -> None:
    model = uninterrupted_run / "iter_002" / "model"
    gen = GeneratorActor.remote(str(model), {"backend": "hf", "max_new_tokens": 8}, 0, None)
    wait_all([gen.ready.remote()], timeout=120, stage="start", names=["generator-0"], key="actor_start")
    from safetensors.torch import load_file

    writer = ChunkWriter(4096)
    chunks = [c for k, v in load_file(str(next(model.glob("*.safetensors")))).items() for c in writer.add(k, v)]
    chunks += writer.close()
    bad = list(chunks)
    bad[1] = dataclasses.replace(bad[1], data=bad[1].data[:-8] + b"\x00" * 8)
    start = time.monotonic()
    with pytest.raises(WeightSyncError, match="checksum mismatch"):
        wait_all([gen.receive_chunks.remote([ray.put(c) for c in bad], writer.summary(), "v2", 60)], timeout=60,
                 stage="sync", names=["generator-0"], key="sync")
    assert time.monotonic() - start < 30
    ok = wait_all([gen.receive_chunks.remote([ray.put(c) for c in chunks], writer.summary(), "v2", 60)], timeout=60,
                  stage="sync", names=["generator-0"], key="sync")
    assert ok == [(writer.summary().tensors, writer.summary().nbytes)]
    ray.kill(gen)


def test_a_call_past_its_timeout_raises_naming_the_recipe_key(local_ray) -> None:
    @ray.remote
    def slow() -> int:
        time.sleep(30)
        return 1

    start = time.monotonic()
    with pytest.raises(StageTimeout, match=r"resources\.timeouts\.sync"):
        wait_all([slow.remote()], timeout=1.0, stage="sync", names=["generator-0"], key="sync")
    assert time.monotonic() - start < 10
