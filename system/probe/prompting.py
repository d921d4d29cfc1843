"""The prompt probe: few-shot prompt a model with noised exemplars and measure its accuracy.

The model under test is first taught to read exemplars (a `prompt_base` cell per seed): it is trained
on sequences ``exemplar ! exemplar ! exemplar ! query`` of clean records, one task per sequence, drawn
from `probe.prompt.base_tasks`, with the loss on the query's completion. With `hide_task` no prompt
names its task, so the model must infer it from the exemplars. `probe.prompt.model` gives the base
model a size and context of its own (few-shot sequences are long, and reading exemplars takes more
capacity than computing one task).

A `prompt` cell then draws exemplars from a pool noised at the cell's (kind, contamination,
intensity): exactly round(contamination * pool) exemplars carry noise, spread over the prompts; the
queries are the fixed clean evaluation prompts. The clean cell also measures the baselines that say
whether the exemplars are read at all: the queries with no exemplars (`zero_shot`) and with clean
exemplars of another base task (`wrong_task`; a model that follows its exemplars computes the wrong
task). Clean few-shot accuracy far above both is what makes the noised cells mean something.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from system.probe.cells import Cell, CellResult, common_config, probe_tasks, register_probe
from system.probe.finetune import grid_points

if TYPE_CHECKING:
    from system.config import Recipe
    from system.probe.config import PromptProbeConfig

Record = dict[str, Any]
BASE_DIR = "prompt_base"


def query_text(record: Mapping[str, Any], hide_task: bool) -> str:
    """The record's prompt (``max 6 9 4 =``), without the task name when hidden (``6 9 4 =``)."""
    prompt = str(record["prompt"])
    return prompt.split(" ", 1)[1] if hide_task else prompt


def few_shot(exemplars: Sequence[Mapping[str, Any]], query: Mapping[str, Any], cfg: "PromptProbeConfig") -> Record:
    """A prompt/completion record: the exemplars (prompt + completion each), then the query's prompt."""
    shots = [query_text(e, cfg.hide_task) + str(e["completion"]) for e in exemplars]
    prompt = cfg.separator.join([*shots, query_text(query, cfg.hide_task)])
    return {"prompt": prompt, "completion": query["completion"]}


def base_training_set(recipe: "Recipe", seed: int) -> list[Record]:
    """Clean few-shot sequences over base_tasks (evenly), shuffled; each with `shots` exemplars, or a
    number drawn from min_shots..shots."""
    from system.tasks.tint_family import task_counts
    from system.tint import sample_records

    cfg = recipe.probe.prompt
    splits = recipe.tint.split_specs()
    shots_rng = random.Random(f"prompt-base-shots:{seed}")
    low = cfg.shots if cfg.min_shots is None else cfg.min_shots
    out: list[Record] = []
    for task, count in task_counts(cfg.base_tasks, cfg.base_train_size).items():
        records = list(sample_records(task, "id", count * (cfg.shots + 1), seed=seed * 1000 + 7, splits=splits))
        for j in range(count):
            group = records[j * (cfg.shots + 1) : (j + 1) * (cfg.shots + 1)]
            k = shots_rng.randint(low, cfg.shots)
            out.append(few_shot(group[cfg.shots - k : -1], group[-1], cfg))
    random.Random(f"prompt-base:{seed}").shuffle(out)
    return out


def base_recipe(recipe: "Recipe") -> "Recipe":
    """The recipe the base model is trained and prompted under: `probe.prompt.model` in place of the
    recipe's model when set (with a learner that takes sequences as long as its context)."""
    model = recipe.probe.prompt.model
    if model is None:
        return recipe
    learner = recipe.learner.model_copy(update={"max_length": max(recipe.learner.max_length, model.max_positions)})
    return recipe.model_copy(update={"model": model, "learner": learner})


def check_fits(recipe: "Recipe", tokens: int, what: str) -> None:
    """Few-shot sequences are long for a tiny model's context: fail with the keys to change (a scratch
    model's character tokenizer makes one token per character). ``recipe``: the base recipe."""
    from system.errors import QdcError

    if recipe.model.init != "scratch":
        return  # a pretrained tokenizer packs several characters per token; its own limits apply
    limit = min(recipe.model.max_positions, recipe.learner.max_length)
    if tokens > limit:
        key = "probe.prompt.model.max_positions" if recipe.probe.prompt.model is not None else \
            "model.max_positions / learner.max_length"
        raise QdcError(f"{what} takes {tokens} tokens but {key} allow {limit}; "
                       "raise them or lower probe.prompt.shots (or the split's list lengths)")


def prompt_tasks(recipe: "Recipe") -> list[str]:
    """The tasks the prompt probe queries: probe.prompt.tasks, else the probe's tasks."""
    return list(recipe.probe.prompt.tasks or probe_tasks(recipe))


def base_model_dir(probe_dir: Path, cell: Cell) -> Path:
    return probe_dir / BASE_DIR / cell.id / "model"


class PromptBase:
    """Trains the few-shot base model of one seed; its checkpoint stays in the probe directory."""

    name = "prompt_base"

    def config(self, recipe: "Recipe") -> dict[str, Any]:
        common = common_config(base_recipe(recipe))
        return {"model": common["model"], "learner": common["learner"], "splits": common["splits"],
                "prompt": recipe.probe.prompt.model_dump(mode="json", exclude={"splits", "baselines"})}

    def cell(self, recipe: "Recipe", seed: int) -> Cell:
        return Cell(self.name, "+".join(recipe.probe.prompt.base_tasks), seed).fingerprinted(self.config(recipe))

    def plan(self, recipe: "Recipe") -> list[Cell]:
        return [self.cell(recipe, seed) for seed in recipe.probe.seeds]

    def depends_on(self, recipe: "Recipe", cell: Cell) -> list[Cell]:
        return []

    def run(self, recipe: "Recipe", cell: Cell, probe_dir: Path, deps: dict[str, CellResult]) -> CellResult:
        from system.probe.training import train_model
        from system.store import atomic_write_dir

        cfg = recipe.probe.prompt
        base = base_recipe(recipe)
        if cfg.base_steps == 0:  # a pretrained model prompted as it is
            path = Path(str(base.model.path)).expanduser()
            return {"model_dir": str(path.resolve() if path.exists() else base.model.path), "train": None,
                    "seconds": 0.0}
        start = time.perf_counter()
        data = base_training_set(recipe, cell.seed)
        check_fits(base, max(len(r["prompt"]) + len(r["completion"]) for r in data) + 2, "a few-shot training sequence")
        out = base_model_dir(probe_dir, cell)
        holder: dict[str, Any] = {}

        def fill(tmp: Path) -> None:
            holder["train"] = train_model(base, data, steps=cfg.base_steps, lr=cfg.base_lr, seed=cell.seed, out=tmp)

        atomic_write_dir(out, fill)
        return {"model_dir": str(out.relative_to(probe_dir)), "train": holder["train"],
                "seconds": round(time.perf_counter() - start, 2)}


class PromptProbe:
    name = "prompt"

    def config(self, recipe: "Recipe") -> dict[str, Any]:
        p = recipe.probe
        return {"base": PromptBase().config(recipe), "eval": common_config(recipe)["eval"], "splits": p.prompt.splits,
                "noise": p.grid.definition(), "baselines": p.prompt.baselines}

    def plan(self, recipe: "Recipe") -> list[Cell]:
        from system.errors import QdcError

        if recipe.probe.prompt.base_steps == 0 and base_recipe(recipe).model.init != "pretrained":
            raise QdcError("probe.prompt.base_steps 0 prompts a pretrained model as it is; a scratch model needs "
                           "base training (base_steps >= 1) or model.path")
        missing = [t for t in prompt_tasks(recipe) if t not in recipe.probe.prompt.base_tasks]
        if missing:
            raise QdcError(f"probe.prompt.base_tasks {recipe.probe.prompt.base_tasks} must include the probed "
                           f"task(s) {missing} (probe.prompt.tasks, else probe.tasks, else tint.tasks)")
        cfg = self.config(recipe)
        cells = PromptBase().plan(recipe)
        for task in prompt_tasks(recipe):
            for seed in recipe.probe.seeds:
                cells += [Cell(self.name, task, seed, kind, c, i).fingerprinted(cfg) for kind, c, i in grid_points(recipe)]
        return cells

    def depends_on(self, recipe: "Recipe", cell: Cell) -> list[Cell]:
        return [PromptBase().cell(recipe, cell.seed)]

    def run(self, recipe: "Recipe", cell: Cell, probe_dir: Path, deps: dict[str, CellResult]) -> CellResult:
        from system.models.commands import open_backend
        from system.probe.training import clean_eval_sets
        from system.tint import sample_records

        p = recipe.probe
        cfg = p.prompt
        (base,) = [deps[c.id] for c in self.depends_on(recipe, cell)]
        # a trained base lives in the probe directory; an untrained one is the pretrained model itself
        model_dir = probe_dir / base["model_dir"] if base["train"] is not None else Path(base["model_dir"])
        noise = p.grid.noise_spec(cell.noise, cell.contamination, cell.intensity)
        start = time.perf_counter()
        out: dict[str, Any] = {}
        baselines: dict[str, Any] = {}
        with open_backend("hf", model_dir, seed=cell.seed) as backend:
            for split, queries in clean_eval_sets(recipe, cell.task, cfg.splits).items():
                pool = list(sample_records(cell.task, split, len(queries) * cfg.shots, seed=cell.seed * 1000 + 13,
                                           noise=noise, splits=recipe.tint.split_specs()))
                random.Random(f"exemplars:{cell.seed}:{split}").shuffle(pool)
                prompts = [few_shot(pool[j * cfg.shots : (j + 1) * cfg.shots], q, cfg)["prompt"]
                           for j, q in enumerate(queries)]
                out[split] = {**self._answer(recipe, backend, queries, prompts),
                              "exemplars_noised": sum(r["noise"]["noised"] for r in pool) / len(pool)}
                if cell.noise == "none" and cfg.baselines:
                    baselines[split] = {name: self._answer(recipe, backend, queries, prompts_for(recipe, cell, split, queries, name))
                                        for name in cfg.baselines}
        result: dict[str, Any] = {"eval": out, "base_model": base["model_dir"],
                                  "seconds": round(time.perf_counter() - start, 2)}
        if baselines:
            result["baselines"] = baselines
        return result

    @staticmethod
    def _answer(recipe: "Recipe", backend: Any, queries: Sequence[Mapping[str, Any]], prompts: Sequence[str]) -> dict[str, Any]:
        """Greedy answers to ``prompts``, judged against the ``queries``' tasks and inputs."""
        from system.probe.training import greedy, judge

        base = base_recipe(recipe)
        longest = max(len(x) for x in prompts) + 1  # characters + <bos>
        check_fits(base, longest + 1, "a few-shot prompt")
        budget = recipe.probe.max_new_tokens
        if base.model.init == "scratch":
            budget = min(budget, base.model.max_positions - longest)
        return judge(queries, greedy(backend, prompts, budget))


def prompts_for(recipe: "Recipe", cell: Cell, split: str, queries: Sequence[Mapping[str, Any]], baseline: str) -> list[str]:
    """The baseline prompts of the queries: no exemplars (zero_shot), or clean exemplars of another
    base task, drawn per query (wrong_task)."""
    from system.tint import get_task, sample_records, splits_for

    cfg = recipe.probe.prompt
    if baseline == "zero_shot":
        return [query_text(q, cfg.hide_task) for q in queries]
    others = [t for t in cfg.base_tasks if t != cell.task and split in splits_for(get_task(t))]
    if not others:
        others = [t for t in cfg.base_tasks if t != cell.task]
        split = "id"
    pools = {t: list(sample_records(t, split, len(queries) * cfg.shots, seed=cell.seed * 1000 + 17,
                                    splits=recipe.tint.split_specs())) for t in others}
    rng = random.Random(f"wrong-task:{cell.task}:{cell.seed}:{split}")
    prompts = []
    for j, q in enumerate(queries):
        pool = pools[rng.choice(others)]
        prompts.append(few_shot(pool[j * cfg.shots : (j + 1) * cfg.shots], q, cfg)["prompt"])
    return prompts


register_probe("prompt_base")(PromptBase)
register_probe("prompt")(PromptProbe)
