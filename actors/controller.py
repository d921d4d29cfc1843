"""The loop controller: runs iterations over the actors and records each finished stage.

Reads like DESIGN.md's loop. Every decision (which prompts, what to keep, what to train on, what the
numbers are) is a call into system/; this module only moves data between actors, bounds every wait
and writes what finished into the run directory.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import ray

from actors.calls import ActorDied, ActorGroup, LoopError, shard, wait_all
from actors.filter import FilterActor
from actors.generator import GeneratorActor
from actors.learner import LearnerGroup
from actors.placement import Placement, reserve, start_ray
from actors.prober import ProberActor
from system.config import Recipe
from system.loop import artifacts
from system.loop.evaluation import metrics_row
from system.loop.iteration import expand_candidates, kept_fraction, kept_fraction_by_key, pass_at_k, training_set
from system.loop.progress import Progress
from system.loop.seeds import stage_seed
from system.loop.shared_dir import Sighting, blind_nodes_message, look, remove_probe, write_probe
from system.loop.sync import sync_mode
from system.loop.trackers import log_row
from system.logs import logs_dir, read_step_file
from system.models.chat import PromptFormat
from system.models.generation.base import Generation, SamplingSpec
from system.store import RunDir
from system.tasks import TaskFamily, family_for

STAGES = ("generate", "filter", "learn", "eval")
LEARN_PROGRESS = "learn_progress.json"  # under <run>/logs: the step learner rank 0 has reached
ENGINE_CLOSE_S = 60.0  # longest wait for the generators to shut their engines down when the loop stops


class RunDirNotShared(LoopError):
    """A node the loop would use does not see the run directory (it is not on shared storage)."""


@ray.remote(num_cpus=0, max_retries=0)
def _look_at_run_dir(run_dir: str, token: str) -> Sighting:
    return look(run_dir, token, ray.util.get_node_ip_address())


@dataclass
class Timer:
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[f"{name}_s"] = self.seconds.get(f"{name}_s", 0.0) + time.perf_counter() - start


class LoopController:
    def __init__(self, recipe: Recipe, run: RunDir, address: str | None = None, progress: Progress | None = None,
                 on_stage: Callable[[int, str], None] | None = None, log_dir: Path | None = None):
        self.recipe = recipe
        self.run = run
        self.address = address
        self.progress = progress or Progress()
        self.log_dir = log_dir  # where actors write their output; None: they stream to this terminal (--verbose)
        self._starting: tuple[list[Any], list[str], float] | None = None  # actors whose start is not awaited yet
        self.on_stage = on_stage  # test hook: called when a stage starts
        self.timeouts = recipe.resources.timeouts
        self.generators: ActorGroup | None = None
        self.learners: LearnerGroup | None = None
        self.filter: Any = None
        self.prober: Any = None
        self.placement: Placement | None = None
        self.model_dir: Path | None = None  # the checkpoint the generators hold
        self.restarts = 0  # generator shards re-sampled after a death or a restart
        self.family: TaskFamily = family_for(recipe)
        self.format = PromptFormat(None)  # the model's chat template, once the model is known
        self.sync_mode = sync_mode(recipe.generator, recipe.resources.learner_gpus, recipe.resources.generator_gpus)
        # Actors on other nodes, and Ray workers (whose working directory is not the driver's), resolve
        # a relative run.dir somewhere else: every path handed to an actor is absolute.
        if not run.path.is_absolute():
            run.path = run.path.absolute()

    # -- lifecycle ------------------------------------------------------------------------------
    def execute(self) -> list[dict[str, Any]]:
        r = self.recipe
        logs = f"; logs: {self.log_dir}" if self.log_dir else ""
        self.progress.start(f"[bold]qdc run[/bold] {r.name}: {r.loop.iterations} iterations after "
                            f"{'seed training' if r.loop.seed_training else 'no seed training'} into {self.run.path}{logs}",
                            r.loop.iterations, r.loop.seed_training)
        try:
            self.progress.status("starting Ray and the actors")
            start_ray(r.resources, self.address, verbose=self.log_dir is None)
            self._start_actors()
            if r.loop.seed_training:
                self._seed_iteration()
            for i in range(1, r.loop.iterations + 1):
                self._iteration(i)
            self.run.mark_run_done()
            return self.run.metrics()
        finally:
            self._stop_actors()
            self.progress.close()

    def _start_actors(self) -> None:
        r = self.recipe
        self.placement = reserve(r.resources, r.learner.world_size)
        self._check_run_dir_is_shared()
        initial = artifacts.latest_model(self.run, r)
        tokenizer = None if initial is not None else artifacts.scratch_tokenizer(self.run, self.family, r)
        self.learners = LearnerGroup.start(r, self.placement, initial, self.timeouts.actor_start, tokenizer,
                                           self.log_dir)
        if initial is None:  # a scratch model: the learner builds it, the generators start from its save
            initial = self.learners.save(artifacts.initial_model_dir(self.run), self.timeouts.learn)
        self.model_dir = initial
        self.format = PromptFormat.for_model(initial, r.task.chat_template)
        logs = str(self.log_dir) if self.log_dir else None
        gens = [
            GeneratorActor.options(
                scheduling_strategy=self.placement.strategy(b), num_cpus=r.resources.generator_cpus,
                num_gpus=r.resources.generator_gpus, max_restarts=r.resources.max_restarts, max_task_retries=0,
            ).remote(str(initial), self._generator_config(), r.seed, r.resources.threads, f"generator-{i}", logs)
            for i, b in enumerate(self.placement.generators)
        ]
        self.generators = ActorGroup(gens, [f"generator-{i}" for i in range(len(gens))])
        recipe_data = r.model_dump(mode="json")
        self.filter = FilterActor.options(scheduling_strategy=self.placement.strategy(self.placement.filter),
                                          num_cpus=r.resources.filter_cpus).remote(recipe_data, r.resources.threads, logs)
        self.prober = ProberActor.options(scheduling_strategy=self.placement.strategy(self.placement.prober),
                                          num_cpus=r.resources.prober_cpus).remote(recipe_data, logs)
        # Engines start while the seed model trains; they are awaited before their first use.
        self._starting = ([g.ready.remote() for g in gens] + [self.filter.ready.remote(), self.prober.ready.remote()],
                          self.generators.names + ["filter", "prober"], time.monotonic() + self.timeouts.actor_start)

    def _actors_ready(self, block: bool = True) -> None:
        """Wait for the generators, filter and prober to have started (a start that failed is raised here).
        Without ``block``, only look: a start that already failed stops the run now, not after seed training."""
        if self._starting is None:
            return
        refs, names, deadline = self._starting
        if not block:
            done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
            if len(done) < len(refs):
                for ref in done:
                    i = refs.index(ref)
                    wait_all([ref], timeout=1.0, stage="start", names=[names[i]], key="actor_start")
                return
            # all have answered: the wait below returns at once, raises a failed start, and ends the watch
        wait_all(refs, timeout=max(1.0, deadline - time.monotonic()), stage="start", key="actor_start", names=names)
        self._starting = None

    def _generator_config(self) -> dict[str, Any]:
        """The generator section as the actors get it: the sync mode resolved, and the vLLM context sized
        for the longest prompt plus the longest completion this run asks for (sampling or evaluation)."""
        g = self.recipe.generator
        return g.model_copy(update={
            "weight_sync": self.sync_mode,
            "max_model_len": g.context_length(self.recipe.loop.eval.max_new_tokens),
        }).model_dump()

    def _check_run_dir_is_shared(self) -> None:
        """Before any actor starts: every node that will hold one must see the run directory the driver
        writes to (checkpoints cross nodes through it). Refuses the run naming each node that does not."""
        assert self.placement is not None
        roles = {b: f"generator-{i}" for i, b in enumerate(self.placement.generators)}
        roles.update({b: f"learner-{i}" for i, b in enumerate(self.placement.learners)})
        roles.update({self.placement.filter: "filter", self.placement.prober: "prober"})
        token = write_probe(self.run.path)
        try:
            refs = [_look_at_run_dir.options(scheduling_strategy=self.placement.strategy(b)).remote(str(self.run.path), token)
                    for b in self.placement.bundles]
            seen = wait_all(refs, timeout=self.timeouts.actor_start, stage="start", key="actor_start",
                            names=[roles[b] for b in self.placement.bundles])
        finally:
            remove_probe(self.run.path)
        blind: dict[Sighting, list[str]] = {}
        for b, sighting in zip(self.placement.bundles, seen):
            if sighting.problem is not None:
                blind.setdefault(sighting, []).append(roles[b])
        if blind:
            raise RunDirNotShared(blind_nodes_message(self.run.path, blind))

    def _stop_actors(self) -> None:
        """Close what holds resources outside the actor's own process first (vLLM's engine processes and
        their GPU memory, the learners' process groups), each within a bounded wait, then end the actors."""
        gens = self.generators.actors if self.generators else []
        if gens:
            try:
                wait_all([g.close.remote() for g in gens], timeout=ENGINE_CLOSE_S, stage="stop", key="actor_start",
                         names=self.generators.names if self.generators else [])
            except Exception:  # noqa: BLE001 - stopping: a dead or stuck generator is killed below anyway
                pass
        for handle in [*gens, self.filter, self.prober]:
            if handle is not None:
                ray.kill(handle)
        if self.learners is not None:
            self.learners.stop()
        if self.placement is not None:
            self.placement.release()

    # -- generation with shard retry ------------------------------------------------------------
    def _generate(self, prompts: Sequence[str], spec: SamplingSpec, stage: str) -> list[Generation]:
        """Shard the prompts over the generators. A shard whose generator died, or came back from a
        restart on stale weights, is re-sampled after the generator is brought to the current weights."""
        assert self.generators is not None
        self._actors_ready()
        shards = shard(list(prompts), len(self.generators.actors))
        results: list[list[Generation] | None] = [None if s else [] for s in shards]
        expected = str(self.model_dir)
        for attempt in range(self.recipe.resources.max_restarts + 1):
            todo = [i for i, out in enumerate(results) if out is None]
            if not todo:
                break
            refs = [self.generators.actors[i].generate.remote(shards[i], spec) for i in todo]
            for i, ref in zip(todo, refs):
                name = self.generators.names[i]
                try:
                    ((version, out),) = wait_all([ref], timeout=self.timeouts.generate, stage=stage, names=[name],
                                                 key="generate")
                except ActorDied:
                    version, out = None, None
                if version == expected:
                    results[i] = out
                    continue
                if attempt == self.recipe.resources.max_restarts:
                    raise LoopError(f"stage {stage!r}: {name} failed {attempt + 1} times "
                                    f"(resources.max_restarts={self.recipe.resources.max_restarts})")
                self.restarts += 1
                self.progress.note(f"{name} died or restarted during {stage}; re-sampling its shard")
                self._revive_generator(i)
        return [g for out in results for g in (out or [])]

    def _revive_generator(self, i: int) -> None:
        """Ray restarts a dead generator with its original arguments: once it answers again, bring it
        to the current weights (calls fail fast while it is still restarting, so retry until the deadline)."""
        assert self.generators is not None and self.model_dir is not None
        actor, name = self.generators.actors[i], self.generators.names[i]
        if self.learners is not None and self.learners.transfer_open:
            # the restarted engine is not in the weight-transfer group: build the group anew at the next sync
            self.learners.close_transfer(self.timeouts.sync)
        deadline = time.monotonic() + self.timeouts.actor_start
        while True:
            try:
                wait_all([actor.load_checkpoint.remote(str(self.model_dir))], timeout=self.timeouts.actor_start,
                         stage="restart", names=[name], key="actor_start")
                return
            except ActorDied:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    # -- iteration 0: seed training -------------------------------------------------------------
    def _seed_iteration(self) -> None:
        r, run = self.recipe, self.run
        timer = Timer()
        wall = time.perf_counter()
        if not run.is_done("000/learn"):
            self._stage(0, "learn", f"{r.train.max_steps} steps" if r.train.max_steps else "")
            with timer.stage("learn"):
                seed_data = self.format.sft_rows(artifacts.seed_training_records(self.family, r))
                metrics = self._learn(0, seed_data, r.train.max_steps, stage_seed(r.seed, 0, "learn"), r.train.lr)
                self.model_dir = self.learners.save(artifacts.model_dir(run, 0), self.timeouts.learn)
                run.write_json(0, "learn.json", {**metrics, "seconds": timer.seconds.get("learn_s")})
            run.mark_done("000/learn")
        self._sync(0, timer)
        self._evaluate(0, timer, wall, frontiers=None)

    # -- iterations 1..N ------------------------------------------------------------------------
    def _iteration(self, i: int) -> None:
        r, run = self.recipe, self.run
        timer = Timer()
        wall = time.perf_counter()
        frontiers = self._frontiers(i)
        tag = f"{i:03d}"
        if not run.is_done(f"{tag}/generate"):
            self._stage(i, "generate", f"{r.loop.prompts_per_iteration} prompts x {r.generator.samples_per_prompt} samples")
            with timer.stage("generate"):
                prompts = self.family.iteration_prompts(frontiers, r.loop.prompts_per_iteration,
                                                        stage_seed(r.seed, i, "prompts"), i)
                spec = SamplingSpec.from_config(r.generator, seed=stage_seed(r.seed, i, "generate"))
                generations = self._generate(self.format.texts(prompts), spec, "generate")
                candidates = expand_candidates(prompts, generations)
                artifacts.write_candidates(run, i, candidates, frontiers)
            run.mark_done(f"{tag}/generate")
        if not run.is_done(f"{tag}/filter"):
            self._stage(i, "filter", r.filter.strategy)
            with timer.stage("filter"):
                candidates = artifacts.read_candidates(run, i)
                self._actors_ready()
                (selection,) = wait_all([self.filter.select.remote(candidates, stage_seed(r.seed, i, "filter"), r.loop.min_quality)],
                                        timeout=self.timeouts.filter, stage="filter", names=["filter"], key="filter")
                keys = [self.family.curriculum_key(self.family.prompt_of(c)) for c in candidates]
                artifacts.write_selection(run, i, candidates, selection, pass_at_k(candidates, selection.verdicts),
                                          kept_fraction(candidates, selection.indices),
                                          kept_fraction_by_key(candidates, keys, selection.indices))
                self._report_verify_errors(i, candidates, selection.verdicts)
            run.mark_done(f"{tag}/filter")
        if not run.is_done(f"{tag}/learn"):
            self._stage(i, "learn", f"{r.loop.learn_steps} steps")
            with timer.stage("learn"):
                selected = self.format.sft_rows(artifacts.selected_records(run, i))
                rows = r.loop.learn_steps * r.learner.batch_size
                data = training_set(selected, self.format.sft_rows(artifacts.earlier_selections(run, i)),
                                    self.format.sft_rows(artifacts.replay_seed_records(self.family, r, i, rows)), rows,
                                    r.loop.replay_ratio, r.loop.replay_seed_share, stage_seed(r.seed, i, "replay"))
                if len(selected) >= r.loop.min_train_records:
                    metrics = self._learn(i, data, r.loop.learn_steps, stage_seed(r.seed, i, "learn"), r.loop.lr)
                    self.model_dir = self.learners.save(artifacts.model_dir(run, i), self.timeouts.learn)
                else:
                    metrics = {"skipped": f"{len(selected)} selected < loop.min_train_records"}
                    self.progress.note(f"iteration {i}: learning skipped, {len(selected)} samples selected < "
                                       f"loop.min_train_records {r.loop.min_train_records} (weights unchanged)")
                run.write_json(i, "learn.json", {**metrics, "n_train": len(data), "n_selected": len(selected)})
            run.mark_done(f"{tag}/learn")
        self._sync(i, timer)
        self._evaluate(i, timer, wall, frontiers=frontiers)

    def _learn(self, i: int, data: list[dict[str, Any]], steps: int | None, seed: int, lr: float | None
               ) -> dict[str, Any]:
        """One round on the learners, its steps shown as they go (rank 0 reports them through a file)."""
        assert self.learners is not None
        steps_file = logs_dir(self.run.path) / LEARN_PROGRESS
        steps_file.unlink(missing_ok=True)

        def tick() -> None:
            self._actors_ready(block=False)  # an engine that failed to start stops the run now
            reached = read_step_file(steps_file)
            if reached is not None:
                self.progress.stage(i, "learn", f"step {reached[0]}/{reached[1]}")

        return self.learners.train(data, steps, seed, lr=lr, timeout=self.timeouts.learn, progress_file=steps_file,
                                   tick=tick)

    def _report_verify_errors(self, i: int, candidates: Sequence[dict[str, Any]], verdicts: Sequence[dict[str, Any]]) -> None:
        """A verifier that raised gave those candidates quality 0; say so, with the first three prompt ids."""
        errors = [(c["prompt_id"], v["verify_error"]) for c, v in zip(candidates, verdicts) if v.get("verify_error")]
        if errors:
            shown = "; ".join(f"prompt {pid}: {msg}" for pid, msg in errors[:3])
            self.progress.note(f"iteration {i}: the verifier raised on {len(errors)} of {len(candidates)} candidates "
                               f"(quality 0, `verify_error` in samples.parquet): {shown}")

    def _frontiers(self, i: int) -> dict[str, int]:
        """The curriculum state of iteration i, replayed from the earlier iterations' selections."""
        current = self.family.first_curriculum()
        for j in range(1, i):
            info = self.run.read_json(j, "selection.json")
            current = self.family.advance(info["frontiers"], info["kept_by_task"])
        return current

    # -- sync and eval --------------------------------------------------------------------------
    def _sync(self, i: int, timer: Timer) -> None:
        """Generators take the newest weights: from the learner in memory, or from disk after a resume.
        The whole sync shares one deadline, resources.timeouts.sync."""
        self._actors_ready()
        latest = artifacts.latest_model(self.run, self.recipe)
        assert latest is not None and self.generators is not None
        with timer.stage("sync"):
            if self.learners is not None and self.learners.holds(latest):
                if self.sync_mode == "nccl":
                    self._sync_nccl(str(latest))
                else:
                    self._sync_chunks(str(latest))
            else:
                self.generators.call_all("load_checkpoint", str(latest), timeout=self.timeouts.sync, stage="sync",
                                         key="sync")
        self.model_dir = latest

    def _sync_chunks(self, version: str) -> None:
        """Learner rank 0 puts checksummed chunks into the object store; generators fetch and verify them."""
        assert self.learners is not None and self.generators is not None
        deadline = time.monotonic() + self.timeouts.sync
        g = self.recipe.generator
        sent = self.learners.put_chunks(g.sync_chunk_mib * 2**20, g.dtype, self.timeouts.sync)
        left = max(1.0, deadline - time.monotonic())
        acks = self.generators.call_all("receive_chunks", sent.refs, sent.summary, version, left, timeout=left,
                                        stage="sync", key="sync")
        expected = (sent.summary.tensors, sent.summary.nbytes)
        if any(tuple(a) != expected for a in acks):
            raise LoopError(f"stage 'sync': a generator acknowledged {acks}, the learner sent {expected}")

    def _sync_nccl(self, version: str) -> None:
        """vLLM's weight-transfer engine: learner rank 0 broadcasts into every generator's workers over NCCL."""
        assert self.learners is not None and self.generators is not None
        deadline = time.monotonic() + self.timeouts.sync
        g = self.recipe.generator
        if not self.learners.transfer_open:  # once per run (again after a generator restart)
            self.learners.open_transfer(self.generators.actors, g.tensor_parallel_size, g.dtype, self.timeouts.sync)
        self.learners.send_transfer(version, max(1.0, deadline - time.monotonic()))

    def _evaluate(self, i: int, timer: Timer, wall_start: float, frontiers: dict[str, int] | None) -> None:
        r, run = self.recipe, self.run
        tag = f"{i:03d}"
        if run.is_done(f"{tag}/eval"):
            return
        self._stage(i, "eval", "greedy accuracy, sample diversity")
        with timer.stage("eval"):
            sets = self.family.eval_sets(r.seed)
            flat = [p for split in sets.values() for p in split]
            greedy = SamplingSpec(n=1, temperature=0.0, max_new_tokens=r.loop.eval.max_new_tokens, seed=0)
            outs = self._generate(self.format.texts(flat), greedy, "eval")
            sample_spec = SamplingSpec.from_config(r.generator, seed=stage_seed(r.seed, i, "diversity"))
            first = next(iter(sets.values()))
            div_prompts = sets.get("id", first)[: max(1, r.loop.eval.diversity_samples // sample_spec.n)]
            div_outs = self._generate(self.format.texts(div_prompts), sample_spec, "eval")
            (result,) = wait_all([self.prober.evaluate.remote(sets, [g.samples[0].text for g in outs], div_prompts,
                                                              [g.texts for g in div_outs])],
                                 timeout=self.timeouts.eval, stage="eval", names=["prober"], key="eval")
        row = metrics_row(self.family, i, result, run, timer.seconds, time.perf_counter() - wall_start, frontiers)
        run.write_json(i, "eval.json", {**result, "row": row})
        artifacts.write_metrics(run)
        log_row(run.path, row, r)
        run.mark_done(f"{tag}/eval")
        self.progress.iteration_done(row)

    def _stage(self, i: int, name: str, detail: str = "") -> None:
        self.progress.stage(i, name, detail)
        if self.on_stage is not None:
            self.on_stage(i, name)
