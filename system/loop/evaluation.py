"""The prober's work (accuracy of greedy answers, diversity of sampled ones) and the metrics.jsonl
row of an iteration. Prompts and verdicts come from the task family; accuracy from the one
evaluation module (`system.tasks.evaluation`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Sequence

from system.store import RunDir
from system.tasks.base import TaskFamily, TaskPrompt
from system.qdc.prompt_diversity import KEYS as PER_PROMPT_KEYS
from system.tasks.evaluation import accuracy_table

if TYPE_CHECKING:
    from system.qdc.config import FilterConfig


def evaluate_outputs(family: TaskFamily, sets: Mapping[str, Sequence[TaskPrompt]], greedy: Sequence[str]
                     ) -> dict[str, Any]:
    """Accuracy tables per split; ``greedy`` holds one completion per prompt, splits in order."""
    out, k = {}, 0
    for split, prompts in sets.items():
        texts = greedy[k : k + len(prompts)]
        out[split] = accuracy_table(prompts, family.verify(prompts, texts))
        k += len(prompts)
    if k != len(greedy):
        raise ValueError(f"{len(greedy)} completions for {k} evaluation prompts")
    return out


def accuracy_by_level(splits: Mapping[str, Any]) -> dict[str, float]:
    """Accuracy per curriculum level (TInt: list length) over the ``id`` split and every other split
    that adds new levels (TInt: ood_length; a split with the same levels as one already in, such as
    held-out tasks or templates, is left out so that each level means one thing)."""
    out: dict[str, float] = {}
    for name in sorted(splits, key=lambda s: s != "id"):
        levels = splits[name].get("by_level", {})
        if not set(levels) & set(out):
            out.update(levels)
    return dict(sorted(out.items(), key=lambda kv: int(kv[0])))


def metrics_row(family: TaskFamily, iteration: int, result: dict[str, Any], run: RunDir, seconds: dict[str, float],
                wall_s: float, frontiers: dict[str, int] | None) -> dict[str, Any]:
    """One metrics.jsonl row. ``frontier_length`` is the lowest curriculum frontier (TInt: the shortest
    list length the loop still trains on); ``frontiers`` has every task's."""
    splits = result["splits"]
    by_split = {k: v["accuracy"] for k, v in splits.items()}
    id_accuracy, ood_accuracy = family.summary_accuracy(by_split)
    selection = run.read_json(iteration, "selection.json") if iteration > 0 else {}
    learned = run.read_json(iteration, "learn.json") if (run.iter_dir(iteration) / "learn.json").is_file() else {}
    diversity = result.get("diversity", {})
    row = {
        "iteration": iteration,
        "id_accuracy": id_accuracy,
        "ood_accuracy": ood_accuracy,
        f"accuracy_by_{family.level_name}": accuracy_by_level(splits),
        "accuracy_by_split": by_split,
        "accuracy_by_task": {k: v["by_task"] for k, v in splits.items()},
        "level_name": family.level_name,
        "output_diversity": diversity.get("vendi"),
        "distinct_ngrams": diversity.get("distinct_ngrams"),
        "mean_pairwise_distance": diversity.get("mean_pairwise_distance"),
        **{key: (diversity.get("per_prompt") or {}).get(key) for key in PER_PROMPT_KEYS},
        "n_generated": selection.get("n_generated", 0),
        "n_selected": selection.get("n_selected", 0),
        "pass_at_k": selection.get("pass_at_k"),
        "kept_fraction": selection.get("kept_fraction"),
        "verify_errors": selection.get("verify_errors", 0),
        "learn_skipped": "skipped" in learned,  # too few selected (loop.min_train_records): weights unchanged
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


def sample_diversity(family: TaskFamily, prompts: Sequence[TaskPrompt], samples: Sequence[Sequence[str]],
                     config: "FilterConfig") -> dict[str, Any]:
    """Diversity of the model's samples of a fixed set of prompts (k each, at the generator's
    temperature): across prompts (Vendi and n-grams of all samples) and within each prompt (distinct
    completions and answers among its k samples, pairwise edit distance, pass@k - pass@1)."""
    from system.qdc.prompt_diversity import Sample, per_prompt_diversity

    texts = [t for group in samples for t in group]
    out = output_diversity(texts, config)
    rows = []
    for prompt, group in zip(prompts, samples, strict=True):
        for text, verdict in zip(group, family.verify([prompt] * len(group), list(group))):
            rows.append(Sample(prompt.prompt_id, text, verdict.answer, verdict.correct))
    out["per_prompt"] = per_prompt_diversity(rows) if rows else {}
    return out


def probe_outputs(family: TaskFamily, sets: Mapping[str, Sequence[TaskPrompt]], greedy: Sequence[str],
                  diversity_prompts: Sequence[TaskPrompt], samples: Sequence[Sequence[str]],
                  config: "FilterConfig") -> dict[str, Any]:
    return {"splits": evaluate_outputs(family, sets, greedy),
            "diversity": sample_diversity(family, diversity_prompts, samples, config)}
