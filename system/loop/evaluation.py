"""The prober's fixed evaluation sets and the metrics.jsonl row of an iteration."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from system.loop.iteration import accuracy_table
from system.store import RunDir

if TYPE_CHECKING:
    from system.config import Recipe
    from system.qdc.config import FilterConfig

Record = dict[str, Any]


def eval_prompt_sets(recipe: "Recipe") -> dict[str, list[Record]]:
    """The same prompts every iteration: loop.eval.n per task for each split in loop.eval.splits
    (drawn like `qdc train`'s evaluation sets, away from the seed-training inputs)."""
    from system.models.sft_data import eval_records
    from system.tint.sampling import splits_for
    from system.tint.tasks import get_task

    sets: dict[str, list[Record]] = {}
    for split in recipe.loop.eval.splits:
        tasks = recipe.tint.ood_tasks if split == "ood_task" else recipe.tint.tasks
        records = [r for task in tasks if split in splits_for(get_task(task))
                   for r in eval_records(recipe.tint, task, split, recipe.seed, recipe.loop.eval.n)]
        if records:
            sets[split] = records
    return sets


def evaluate_outputs(sets: dict[str, list[Record]], greedy: Sequence[str]) -> dict[str, Any]:
    """Accuracy tables per split; ``greedy`` holds one completion per record, splits in order."""
    out, k = {}, 0
    for split, records in sets.items():
        out[split] = accuracy_table(records, greedy[k : k + len(records)])
        k += len(records)
    if k != len(greedy):
        raise ValueError(f"{len(greedy)} completions for {k} evaluation prompts")
    return out


def _ood_accuracy(splits: dict[str, Any]) -> float | None:
    if "ood_length" in splits:
        return splits["ood_length"]["accuracy"]
    ood = [v["accuracy"] for k, v in splits.items() if k.startswith("ood")]
    return sum(ood) / len(ood) if ood else None


def metrics_row(iteration: int, result: dict[str, Any], run: RunDir, seconds: dict[str, float], wall_s: float,
                frontiers: dict[str, int] | None) -> dict[str, Any]:
    """One metrics.jsonl row. ``frontier_length`` is the lowest task frontier (the shortest list length
    the loop still trains on); ``frontiers`` has every task's."""
    splits = result["splits"]
    by_length: dict[str, float] = {}
    for split in ("id", "ood_length"):
        by_length.update(splits.get(split, {}).get("by_length", {}))
    selection = run.read_json(iteration, "selection.json") if iteration > 0 else {}
    diversity = result.get("diversity", {})
    row = {
        "iteration": iteration,
        "id_accuracy": splits.get("id", {}).get("accuracy"),
        "ood_accuracy": _ood_accuracy(splits),
        "accuracy_by_length": by_length,
        "accuracy_by_split": {k: v["accuracy"] for k, v in splits.items()},
        "accuracy_by_task": {k: v["by_task"] for k, v in splits.items()},
        "output_diversity": diversity.get("vendi"),
        "distinct_ngrams": diversity.get("distinct_ngrams"),
        "mean_pairwise_distance": diversity.get("mean_pairwise_distance"),
        "n_generated": selection.get("n_generated", 0),
        "n_selected": selection.get("n_selected", 0),
        "pass_at_k": selection.get("pass_at_k"),
        "kept_fraction": selection.get("kept_fraction"),
        "frontier_length": min(frontiers.values()) if frontiers else None,
        "frontiers": frontiers,
        "selection_diversity": (selection.get("metrics") or {}).get("after", {}).get("vendi"),
    }
    for stage in ("generate", "filter", "learn", "sync", "eval"):
        row[f"{stage}_s"] = round(seconds.get(f"{stage}_s", 0.0), 3)
    row["wall_s"] = round(wall_s, 3)
    return row


def output_diversity(texts: Sequence[str], config: "FilterConfig") -> dict[str, float]:
    """Diversity of the model's own samples, measured with the filter's embedder (hashed n-grams
    when the filter embeds with the policy's hidden states, which the prober does not hold)."""
    from system.qdc.embedders import EMBEDDERS
    from system.qdc.metrics import distinct_ngrams, mean_pairwise_cosine_distance, vendi_score

    if not texts:
        return {"vendi": 0.0, "mean_pairwise_distance": 0.0, "distinct_ngrams": 0.0, "n": 0}
    name = config.embedder if config.embedder != "policy_hidden" else "hashed_ngrams"
    x = EMBEDDERS.get(name).from_config(config).embed(texts)
    distinct = distinct_ngrams(texts, sizes=(1, 2))
    return {
        "vendi": vendi_score(x, max_n=config.vendi_max_n),
        "mean_pairwise_distance": mean_pairwise_cosine_distance(x),
        "distinct_ngrams": distinct["distinct_2"],
        "distinct_1": distinct["distinct_1"],
        "n": len(texts),
    }


def probe_outputs(sets: dict[str, list[Record]], greedy: Sequence[str], samples: Sequence[str],
                  config: "FilterConfig") -> dict[str, Any]:
    return {"splits": evaluate_outputs(sets, greedy), "diversity": output_diversity(samples, config)}
