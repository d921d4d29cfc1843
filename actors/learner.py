"""LearnerGroup: ``learner.world_size`` learner actors forming one torch.distributed group.

Rank 0 picks the rendezvous address on its own node; every rank then builds a
`system.models.learner.Learner` and each call (train, save, weights) runs on all ranks at once,
because under DeepSpeed they are collectives. Weight sync (`system.loop.sync`): chunks that rank 0
puts into the object store itself (`put_chunks`), or vLLM's NCCL weight transfer that rank 0 drives
through `GeneratorsClient` (`open_transfer` once, `send_transfer` per sync).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import ray

from actors.calls import ActorGroup, StageTimeout, wait_all
from system.logs import redirect_process
from system.loop.checkpoints import save_rank
from system.loop.sync import ChunkRefs, put_chunks
from system.models.config import LearnerConfig, ModelConfig

if TYPE_CHECKING:
    from actors.placement import Placement
    from system.config import Recipe


class GeneratorsClient:
    """vLLM's ``VLLMWeightSyncClient`` protocol over the loop's generator actors: each of the four calls
    reaches every generator and waits (bounded) for all. Generator ``i``'s workers take NCCL ranks
    ``1 + i * tp``: the init info each one gets carries its own ``rank_offset``."""

    def __init__(self, generators: Sequence[Any], workers_per_generator: int, timeout: float):
        self.generators = list(generators)
        self.tp = workers_per_generator
        self.timeout = timeout
        self.names = [f"generator-{i}" for i in range(len(self.generators))]
        self.version: str | None = None  # the weights being sent (vLLM's nccl engine passes none)

    def _all(self, method: str, *per_generator_args: Sequence[Any]) -> None:
        refs = [getattr(g, method).remote(*(a[i] for a in per_generator_args)) for i, g in enumerate(self.generators)]
        wait_all(refs, timeout=self.timeout, stage="sync", names=self.names, key="sync")

    def init_weight_transfer_engine(self, init_info: dict[str, Any]) -> None:
        infos = [{**init_info, "rank_offset": 1 + i * self.tp} for i in range(len(self.generators))]
        self._all("transfer_init", infos)

    def start_weight_update(self) -> None:
        self._all("transfer_start")

    def update_weights(self, update_info: Any) -> None:
        self._all("transfer_update", [update_info] * len(self.generators))

    def finish_weight_update(self, weight_version: str | None = None) -> None:
        self._all("transfer_finish", [weight_version or self.version] * len(self.generators))


@ray.remote
class LearnerActor:
    def __init__(self, rank: int, log_dir: str | None = None):
        redirect_process(log_dir, f"learner-{rank}")
        self.rank = rank
        self.learner: Any = None
        self.sender: Any = None
        self.client: GeneratorsClient | None = None

    def rendezvous(self) -> tuple[str, int]:
        from system.models.distributed import free_port

        return ray.util.get_node_ip_address(), free_port()

    def setup(self, learner: dict[str, Any], model: dict[str, Any], seed: int, master: tuple[str, int],
              init_dir: str | None, tokenizer_dir: str | None = None) -> bool:
        from system.models.learner import Learner

        self.learner = Learner(LearnerConfig.model_validate(learner), ModelConfig.model_validate(model), seed=seed,
                               rank=self.rank, master_addr=master[0], master_port=master[1], local_rank=0,
                               init_dir=init_dir, tokenizer_dir=tokenizer_dir)
        return True

    def train(self, records: Sequence[dict[str, Any]], max_steps: int | None, seed: int, lr: float | None,
              progress_file: str | None = None) -> dict[str, Any]:
        self.learner.seed = seed
        return self.learner.train(records, max_steps=max_steps, lr=lr, progress_file=progress_file)

    def save(self, out: str) -> str | None:
        return save_rank(self.learner, Path(out))

    def put_chunks(self, max_bytes: int, dtype: str) -> ChunkRefs | None:
        """The weights as chunks in the object store, put by rank 0 (every rank gathers under ZeRO-3)."""
        from system.models.factory import torch_dtype

        return put_chunks(self.learner, max_bytes, torch_dtype(dtype), put=ray.put)

    def open_transfer(self, generators: list[Any], workers_per_generator: int, master: tuple[str, int],
                      dtype: str, timeout: float) -> bool:
        from system.models.factory import torch_dtype
        from system.models.nccl_sync import NcclSender

        self.client = GeneratorsClient(generators, workers_per_generator, timeout)
        self.sender = NcclSender(self.learner, self.client, master_address=master[0], master_port=master[1],
                                 world_size=1 + len(generators) * workers_per_generator, dtype=torch_dtype(dtype))
        return True

    def send_transfer(self, version: str) -> bool:
        assert self.client is not None
        self.client.version = version
        self.sender.send()
        return True

    def close_transfer(self) -> None:
        if self.sender is not None:
            self.sender.close()
            self.sender = None

    def close(self) -> None:
        self.close_transfer()
        if self.learner is not None:
            self.learner.close()


class LearnerGroup:
    def __init__(self, group: ActorGroup, held: Path | None):
        self.group = group
        self.held = held  # the checkpoint folder whose weights the learners hold
        self.transfer_open = False

    @classmethod
    def start(cls, recipe: "Recipe", placement: "Placement", init_dir: Path | str | None, timeout: float,
              tokenizer_dir: Path | None = None, log_dir: Path | None = None) -> "LearnerGroup":
        r = recipe.resources
        actors = [
            LearnerActor.options(scheduling_strategy=placement.strategy(b), num_cpus=r.learner_cpus,
                                 num_gpus=r.learner_gpus).remote(rank, str(log_dir) if log_dir else None)
            for rank, b in enumerate(placement.learners)
        ]
        group = ActorGroup(actors, [f"learner-{rank}" for rank in range(len(actors))])
        (master,) = wait_all([actors[0].rendezvous.remote()], timeout=timeout, stage="start", names=["learner-0"],
                             key="actor_start")
        group.call_all("setup", recipe.learner.model_dump(), recipe.model.model_dump(), recipe.seed, master,
                       str(init_dir) if init_dir else None, str(tokenizer_dir) if tokenizer_dir else None,
                       timeout=timeout, stage="start", key="actor_start")
        return cls(group, Path(init_dir) if init_dir else None)

    def train(self, records: list[dict[str, Any]], max_steps: int | None, seed: int, *, lr: float | None,
              timeout: float, progress_file: Path | None = None, tick: Callable[[], None] | None = None
              ) -> dict[str, Any]:
        """Every rank trains on ``records``; rank 0 keeps its step in ``progress_file``, and ``tick`` is
        called about once a second while the ranks train (the driver's progress display)."""
        ref = ray.put(records)
        results = self.group.call_all("train", ref, max_steps, seed, lr, str(progress_file) if progress_file else None,
                                      timeout=timeout, stage="learn", key="learn", tick=tick)
        self.held = None  # the weights moved on from any folder
        return results[0]

    def save(self, out: Path, timeout: float) -> Path:
        paths = self.group.call_all("save", str(out), timeout=timeout, stage="learn", key="learn")
        self.held = Path(paths[0])
        return self.held

    def holds(self, path: Path) -> bool:
        return self.held is not None and Path(self.held) == Path(path)

    def put_chunks(self, max_bytes: int, dtype: str, timeout: float) -> ChunkRefs:
        results = self.group.call_all("put_chunks", max_bytes, dtype, timeout=timeout, stage="sync", key="sync")
        return results[0]

    def open_transfer(self, generators: list[Any], workers_per_generator: int, dtype: str, timeout: float) -> None:
        """Every rank builds its trainer engine; rank 0 opens the NCCL group with all generators' workers."""
        (master,) = wait_all([self.group.actors[0].rendezvous.remote()], timeout=timeout, stage="sync",
                             names=["learner-0"], key="sync")
        self.group.call_all("open_transfer", generators, workers_per_generator, master, dtype, timeout,
                            timeout=timeout, stage="sync", key="sync")
        self.transfer_open = True

    def send_transfer(self, version: str, timeout: float) -> None:
        self.group.call_all("send_transfer", version, timeout=timeout, stage="sync", key="sync")

    def close_transfer(self, timeout: float) -> None:
        if self.transfer_open:
            self.transfer_open = False
            self.group.call_all("close_transfer", timeout=timeout, stage="sync", key="sync")

    def stop(self, timeout: float = 60.0) -> None:
        """Close every rank (process group, transfer group) within ``timeout``, then end the actors."""
        deadline = time.monotonic() + timeout
        try:
            wait_all([a.close.remote() for a in self.group.actors], timeout=max(1.0, deadline - time.monotonic()),
                     stage="stop", names=self.group.names, key="actor_start")
        except (StageTimeout, Exception):  # noqa: BLE001 - stopping: a dead or stuck rank is killed below
            pass
        for actor in self.group.actors:
            ray.kill(actor)
