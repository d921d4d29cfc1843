"""``qdc measure`` on datasets whose makeup is known by construction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from system.measure.command import measure_command
from system.measure.makeup import DIVERSITY_KEYS
from system.measure.table import caption
from tests.measure.conftest import distinct_sentences, near_duplicates, write_jsonl, write_texts

LESS_IS_MORE_DIVERSE = {"near_duplicate_rate"}


def by_label(result: dict) -> dict[str, dict]:
    return {d["label"]: d for d in result["datasets"]}


@pytest.mark.parametrize("seed", [0, 1])
def test_near_duplicates_score_lower_diversity_on_every_measure(tmp_path: Path, seed: int) -> None:
    near = write_texts(tmp_path / "near.jsonl", near_duplicates(90))
    distinct = write_texts(tmp_path / "distinct.jsonl", distinct_sentences(90, seed))
    result = by_label(measure_command([near, distinct], text_field="text", seed=seed, clusters=20))
    for key in DIVERSITY_KEYS:
        n, d = result["near"]["diversity"][key], result["distinct"]["diversity"][key]
        if key in LESS_IS_MORE_DIVERSE:
            assert n > d, key
        else:
            assert n < d, key
    assert result["near"]["diversity"]["near_duplicate_rate"] > 0.9  # all but the three originals
    assert result["distinct"]["diversity"]["near_duplicate_rate"] == 0.0
    assert result["near"]["quality"] is None and result["near"]["family"] is None


def test_quality_statistics_are_those_of_the_field(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    scores = [rng.normal(5.0, 2.0, 150), rng.integers(0, 10, 60).astype(float)]
    paths = [write_texts(tmp_path / f"q{i}.jsonl", distinct_sentences(len(s), i), score=s.tolist())
             for i, s in enumerate(scores)]
    result = measure_command(paths, text_field="text", quality_field="score")
    for d, s in zip(result["datasets"], scores):
        q = d["quality"]
        assert q["source"] == "field 'score'"
        assert q["mean"] == pytest.approx(s.mean())
        assert [q["q25"], q["median"], q["q75"]] == pytest.approx(np.percentile(s, [25, 50, 75]).tolist())
        assert sum(q["histogram"]["counts"]) == len(s)
    edges = [d["quality"]["histogram"]["edges"] for d in result["datasets"]]
    assert edges[0] == edges[1]  # shared bins: the histograms line up side by side
    assert "different sizes" in caption(result)  # the table says the sizes differ


def test_a_subset_covers_fewer_cells_of_the_union_than_the_full_set(tmp_path: Path) -> None:
    texts = distinct_sentences(300, seed=5)
    rng = np.random.default_rng(0)
    full = write_texts(tmp_path / "full.jsonl", texts)
    subset = write_texts(tmp_path / "subset.jsonl", [texts[i] for i in sorted(rng.choice(300, 30, replace=False))])
    result = by_label(measure_command([full, subset], text_field="text", clusters=50))
    assert result["full"]["diversity"]["cluster_coverage"] == 1.0  # the union is the full set
    assert result["subset"]["diversity"]["cluster_coverage"] < result["full"]["diversity"]["cluster_coverage"]
    assert sum(result["subset"]["cells"]) == 30 and len(result["full"]["cells"]) == 50


def test_equal_size_samples_are_seeded(tmp_path: Path) -> None:
    big = write_texts(tmp_path / "big.jsonl", distinct_sentences(200, 1))
    small = write_texts(tmp_path / "small.jsonl", near_duplicates(40))
    a = measure_command([big, small], text_field="text", sample=25, seed=4)
    b = measure_command([big, small], text_field="text", sample=25, seed=4)
    c = measure_command([big, small], text_field="text", sample=25, seed=5)
    assert [d["n_measured"] for d in a["datasets"]] == [25, 25]
    assert [d["n_records"] for d in a["datasets"]] == [200, 40]
    assert a == b and a["equal_size"] is True
    assert "seeded sample of 25 records" in caption(a)
    assert a["datasets"][0]["diversity"] != c["datasets"][0]["diversity"]


def test_tint_records_are_judged_by_the_verifier(tmp_path: Path) -> None:
    from system.tint import NoiseSpec, sample_records

    clean = write_jsonl(tmp_path / "clean.jsonl", list(sample_records("sum", "id", 120, 0, NoiseSpec())))
    noisy = write_jsonl(tmp_path / "noisy.jsonl",
                        list(sample_records("sum", "id", 120, 0, NoiseSpec("static", 0.5, 0.3))))
    result = by_label(measure_command([clean, noisy]))
    assert result["clean"]["family"] == "tint" and result["clean"]["quality"]["source"] == "TInt verifier"
    assert result["clean"]["quality"]["mean"] == 1.0
    assert result["noisy"]["quality"]["mean"] < 1.0
    assert result["noisy"]["verdicts"]["noise_kind"]["static"] > 0.3
    assert result["clean"]["verdicts"]["noise_kind"]["none"] == 1.0
    steps = result["clean"]["complexity"]["trace_steps"]
    lengths = result["clean"]["complexity"]["list_length"]
    assert steps["mean"] == pytest.approx(lengths["mean"] - 1)  # a sum of n numbers takes n - 1 additions
    assert {"chars", "tokens", "trace_steps", "list_length", "digits"} <= set(result["clean"]["complexity"])
    # a numeric field, when given, is the quality instead of the verifier
    scored = write_jsonl(tmp_path / "scored.jsonl",
                         [{**r, "q": float(i % 3)} for i, r in enumerate(sample_records("max", "id", 30, 1))])
    mixed = measure_command([scored], quality_field="q")["datasets"][0]
    assert mixed["quality"]["mean"] == pytest.approx(1.0) and mixed["family"] == "tint"


def test_tokens_are_counted_by_the_named_tokenizer(tmp_path: Path) -> None:
    path = write_texts(tmp_path / "t.jsonl", ["a b", " 12+7=19 #19", "hello, world"])
    d = measure_command([path], text_field="text")["datasets"][0]
    assert d["complexity"]["tokens"]["histogram"]["counts"][0] == 1  # 'a b' -> 2 tokens, the fewest
    assert d["complexity"]["tokens"]["mean"] == pytest.approx((2 + 7 + 3) / 3)
    assert d["complexity"]["chars"]["mean"] == pytest.approx((3 + 12 + 12) / 3)


def test_minilm_embedder(tmp_path: Path) -> None:
    near = write_texts(tmp_path / "near.jsonl", near_duplicates(15))
    distinct = write_texts(tmp_path / "distinct.jsonl", distinct_sentences(15))
    result = measure_command([near, distinct], text_field="text", embedder="minilm", clusters=8)
    assert result["embedder"] == "minilm"
    d = by_label(result)
    assert d["near"]["diversity"]["vendi"] < d["distinct"]["diversity"]["vendi"]
    assert d["near"]["diversity"]["near_duplicate_rate"] > d["distinct"]["diversity"]["near_duplicate_rate"]
