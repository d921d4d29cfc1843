"""LearnerGroup: ``learner.world_size`` learner actors forming one torch.distributed group.

Rank 0 picks the rendezvous address on its own node; every rank then builds a
`system.models.learner.Learner` and each call (train, save, weights) runs on all ranks at once,
because under DeepSpeed they are collectives.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import ray

from actors.calls import ActorGroup, wait_all
from system.loop.checkpoints import save_rank
from system.loop.sync import WeightBlob, pack_state
from system.models.config import LearnerConfig, ModelConfig

if TYPE_CHECKING:
    from actors.placement import Placement
    from system.config import Recipe


@ray.remote
class LearnerActor:
    def __init__(self, rank: int):
        self.rank = rank
        self.learner: Any = None

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

    def train(self, records: Sequence[dict[str, Any]], max_steps: int | None, seed: int, lr: float | None) -> dict[str, Any]:
        self.learner.seed = seed
        return self.learner.train(records, max_steps=max_steps, lr=lr)

    def save(self, out: str) -> str | None:
        return save_rank(self.learner, Path(out))

    def weights(self) -> WeightBlob | None:
        state = self.learner.state_dict()  # a collective under ZeRO-3: every rank takes part
        return pack_state(state) if self.rank == 0 else None

    def close(self) -> None:
        self.learner.close()


class LearnerGroup:
    def __init__(self, group: ActorGroup, held: Path | None):
        self.group = group
        self.held = held  # the checkpoint folder whose weights the learners hold

    @classmethod
    def start(cls, recipe: "Recipe", placement: "Placement", init_dir: Path | None, timeout: float,
              tokenizer_dir: Path | None = None) -> "LearnerGroup":
        r = recipe.resources
        actors = [
            LearnerActor.options(scheduling_strategy=placement.strategy(b), num_cpus=r.learner_cpus,
                                 num_gpus=r.learner_gpus).remote(rank)
            for rank, b in enumerate(placement.learners)
        ]
        group = ActorGroup(actors, [f"learner-{rank}" for rank in range(len(actors))])
        (master,) = wait_all([actors[0].rendezvous.remote()], timeout=timeout, stage="start", names=["learner-0"],
                             key="actor_start")
        group.call_all("setup", recipe.learner.model_dump(), recipe.model.model_dump(), recipe.seed, master,
                       str(init_dir) if init_dir else None, str(tokenizer_dir) if tokenizer_dir else None,
                       timeout=timeout, stage="start", key="actor_start")
        return cls(group, init_dir)

    def train(self, records: list[dict[str, Any]], max_steps: int | None, seed: int, *, lr: float | None,
              timeout: float) -> dict[str, Any]:
        ref = ray.put(records)
        results = self.group.call_all("train", ref, max_steps, seed, lr, timeout=timeout, stage="learn", key="learn")
        self.held = None  # the weights moved on from any folder
        return results[0]

    def save(self, out: Path, timeout: float) -> Path:
        paths = self.group.call_all("save", str(out), timeout=timeout, stage="learn", key="learn")
        self.held = Path(paths[0])
        return self.held

    def holds(self, path: Path) -> bool:
        return self.held is not None and Path(self.held) == Path(path)

    def weights(self, timeout: float) -> WeightBlob:
        blobs = self.group.call_all("weights", timeout=timeout, stage="sync", key="sync")
        return blobs[0]

    def stop(self) -> None:
        for actor in self.group.actors:
            ray.kill(actor)
