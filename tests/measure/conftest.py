"""Datasets with a known makeup, written as JSONL, and a run directory written by the loop's own writer."""

from __future__ import annotations

import json
import string
from pathlib import Path

import numpy as np

BASE = ["the quick brown fox jumps over the lazy dog near the river bank",
        "a small cat sleeps on the warm windowsill every afternoon in spring",
        "engineers measure the latency of the storage system under heavy load"]


def near_duplicates(n: int) -> list[str]:
    """Three sentences, each repeated with a number appended (cosine distance ~0.01-0.02 under hashed n-grams)."""
    return [BASE[i % 3] + ("" if i < 3 else f" {i // 3}") for i in range(n)]


def distinct_sentences(n: int, seed: int = 0) -> list[str]:
    """Sentences of 8-14 words drawn from 400 made-up words."""
    rng = np.random.default_rng(seed)
    vocab = ["".join(rng.choice(list(string.ascii_lowercase), size=rng.integers(3, 9))) for _ in range(400)]
    return [" ".join(rng.choice(vocab, size=rng.integers(8, 15))) for _ in range(n)]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def write_texts(path: Path, texts: list[str], **fields: list) -> Path:
    return write_jsonl(path, [{"text": t, **{k: v[i] for k, v in fields.items()}} for i, t in enumerate(texts)])


def write_run_dir(root: Path, iterations: tuple[int, ...] = (1, 5), prompts: int = 16, k: int = 4) -> Path:
    """A run directory as the loop writes it (its own prompt, candidate, selection and writer functions):
    k samples per prompt, some clean, some with static or dynamic noise, selected by deita."""
    import random

    from system.loop.artifacts import write_candidates, write_selection
    from system.loop.iteration import expand_candidates, kept_fraction, kept_fraction_by_key, pass_at_k
    from system.loop.selection import filter_stage
    from system.models.generation.base import Generation, Sample
    from system.qdc.config import FilterConfig
    from system.store import RunDir
    from system.tasks.tint_family import TintFamily
    from system.tint import NoiseSpec, clean_record, get_task, noised_record

    family = TintFamily.default()
    run = RunDir.create(root / "run", "name: tiny\n", "tiny")
    noises = [None, NoiseSpec("static", 1.0, 0.3), NoiseSpec("dynamic", 1.0, 0.4), None]
    for it in iterations:
        frontiers = {"sum": 5 + it, "max": 5 + it}
        batch = [p for p in family.iteration_prompts(frontiers, prompts, seed=it, iteration=it)]
        rng = random.Random(it)
        generations = []
        for p in batch:
            task, values = get_task(p.task), list(p.fields["input"])
            samples = []
            for j in range(k):
                noise = noises[j % len(noises)]
                text = clean_record(task, values, "x")["completion"] if noise is None else \
                    noised_record(task, values, "x", noise, rng)["completion"]
                samples.append(Sample(text, list(range(len(text))), [-0.1] * len(text), "stop"))
            generations.append(Generation(p.prompt, samples))
        candidates = expand_candidates(batch, generations)
        selection = filter_stage(family, FilterConfig(strategy="deita", budget=0.25), candidates, seed=it,
                                 min_quality=0.5)
        write_candidates(run, it, candidates, frontiers)
        write_selection(run, it, candidates, selection, pass_at_k(candidates, selection.verdicts),
                        kept_fraction(candidates, selection.indices),
                        kept_fraction_by_key(candidates, [c["task"] for c in candidates], selection.indices))
    return run.path
