"""The QDC makeup of several datasets, measured the same way so they can be compared.

* Quality: mean, quartiles and a histogram of ``--quality-field``, else of the task family's
  verifier (TInt: the mean of answer_correct, chain_consistent and steps_valid), else none.
* Diversity: Vendi score and mean pairwise cosine distance of the embeddings, distinct 1-/2-/3-grams
  of whitespace-separated words, coverage of the k-means cells of the union of all datasets (the
  union is clustered once, k-means fitted on it without its near-duplicates; a dataset's coverage
  is the share of the union's non-empty cells it has a record in), and the near-duplicate rate
  (the share of records within cosine distance ``NEAR_DUP_EPS`` of an earlier record of the same
  dataset: what SemDeDup at that threshold would drop).
* Complexity: length in characters and in tokens (``tokenizers``' Whitespace pre-tokenizer, the
  regex ``\\w+|[^\\w\\s]+``), plus the family's own measures (TInt: trace steps, list length, digits).

Histograms of one quantity share their bin edges across datasets, so they line up side by side.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from system.measure.family import FamilySignals, family_signals
from system.measure.sources import Dataset, numbers_of, texts_of

NEAR_DUP_EPS = 0.05  # the semdedup strategy's default (FilterConfig.semdedup_eps)
MAX_BINS = 30
TOKENIZER = "tokenizers Whitespace pre-tokenizer (\\w+|[^\\w\\s]+)"
NGRAM_TOKENS = "whitespace-separated words"
EMBEDDER_NAMES = {"hashed": "hashed_ngrams", "minilm": "minilm"}
DIVERSITY_KEYS = ("vendi", "mean_cosine_distance", "distinct_1", "distinct_2", "distinct_3",
                  "cluster_coverage", "near_duplicate_rate")


def token_counts(texts: Sequence[str]) -> np.ndarray:
    from tokenizers.pre_tokenizers import Whitespace

    pre = Whitespace()
    return np.array([len(pre.pre_tokenize_str(t)) for t in texts], dtype=np.float64)


def shared_edges(columns: Sequence[np.ndarray], integer: bool) -> np.ndarray:
    """Bin edges covering every column: one bin per integer value when that is at most MAX_BINS."""
    allv = np.concatenate([c for c in columns if len(c)]) if any(len(c) for c in columns) else np.zeros(1)
    lo, hi = float(allv.min()), float(allv.max())
    if integer and hi - lo + 1 <= MAX_BINS:
        return np.arange(lo - 0.5, hi + 1.5)
    if hi == lo:
        return np.array([lo - 0.5, hi + 0.5])
    return np.linspace(lo, hi, MAX_BINS + 1)


def describe(col: np.ndarray, edges: np.ndarray) -> dict[str, Any]:
    q25, median, q75 = np.percentile(col, [25, 50, 75])
    counts, _ = np.histogram(col, bins=edges)
    return {"mean": float(col.mean()), "q25": float(q25), "median": float(median), "q75": float(q75),
            "min": float(col.min()), "max": float(col.max()),
            "histogram": {"edges": [float(e) for e in edges], "counts": [int(c) for c in counts]}}


def _describe_all(columns: list[np.ndarray | None], integer: bool) -> list[dict[str, Any] | None]:
    present = [c for c in columns if c is not None]
    if not present:
        return [None] * len(columns)
    edges = shared_edges(present, integer)
    return [describe(c, edges) if c is not None else None for c in columns]


def near_duplicates(x: np.ndarray, seed: int, eps: float = NEAR_DUP_EPS) -> np.ndarray:
    """Rows within cosine distance ``eps`` of an earlier row (exact below 10k rows, else within the
    k-means cells of system.qdc.index, as the semdedup strategy does)."""
    from system.qdc.index import make_partition, plan_index
    from system.qdc.strategies.semdedup import duplicates_in_cell

    dup = np.zeros(len(x), dtype=bool)
    if len(x) < 2:
        return dup
    partition = make_partition(x, plan_index(len(x), x.shape[1]), seed)
    for cell in partition.cells:
        members = np.sort(cell)
        dup[members] = duplicates_in_cell(x, members, 1.0 - eps)[0]
    return dup


def union_cells(x: np.ndarray, clusters: int, seed: int) -> tuple[np.ndarray, int]:
    """The k-means cell of every row of the union, and k. k-means is fitted on the union without its
    near-duplicates: otherwise a heap of copies draws many centroids and splits into many cells, and
    copies would buy coverage."""
    from system.qdc.index import kmeans, nearest_centroids

    distinct = x[~near_duplicates(x, seed)]
    k = max(1, min(clusters, len(distinct)))
    return nearest_centroids(x, kmeans(distinct, k, seed), 1)[:, 0], k


def diversity(x: np.ndarray, texts: Sequence[str], cells: np.ndarray, n_cells: int, seed: int) -> dict[str, float]:
    from system.qdc.metrics import distinct_ngrams, mean_pairwise_cosine_distance, vendi_score

    out = {"vendi": vendi_score(x, seed=seed), "mean_cosine_distance": mean_pairwise_cosine_distance(x)}
    out.update(distinct_ngrams(texts, sizes=(1, 2, 3)))
    out["cluster_coverage"] = len(np.unique(cells)) / n_cells
    out["near_duplicate_rate"] = float(near_duplicates(x, seed).mean()) if len(x) else 0.0
    return out


def embed(texts: list[str], embedder: str) -> np.ndarray:
    import system.qdc  # noqa: F401  (OMP_WAIT_POLICY before FAISS loads)
    from system.qdc.embedders import EMBEDDERS

    return EMBEDDERS.get(EMBEDDER_NAMES[embedder])().embed(texts)


def _quality_columns(given: list[np.ndarray] | None, quality_field: str | None, family: list[FamilySignals | None]
                     ) -> tuple[list[np.ndarray | None], list[str | None]]:
    """Per dataset: the quality column and where it came from (None: no quality signal)."""
    if given is not None:
        return list(given), [f"field {quality_field!r}"] * len(given)
    return [f.quality if f else None for f in family], [f.quality_source if f else None for f in family]


def _complexity_columns(texts: list[list[str]], family: list[FamilySignals | None]
                        ) -> dict[str, list[np.ndarray | None]]:
    columns: dict[str, list[np.ndarray | None]] = {
        "chars": [np.array([len(t) for t in ts], dtype=np.float64) for ts in texts],
        "tokens": [token_counts(ts) for ts in texts],
    }
    for name in dict.fromkeys(n for f in family if f for n in f.complexity):
        columns[name] = [f.complexity.get(name) if f else None for f in family]
    return columns


def measure(datasets: list[Dataset], *, text_field: str = "completion", quality_field: str | None = None,
            embedder: str = "hashed", clusters: int = 50, seed: int = 0, sample: int | None = None) -> dict[str, Any]:
    """The makeup of every dataset (each already sampled, if asked), as one JSON-able object."""
    texts = [texts_of(d, text_field) for d in datasets]  # every field is checked before any work
    given = [numbers_of(d, quality_field) for d in datasets] if quality_field is not None else None
    family = [family_signals(d.records) for d in datasets]
    quality, sources = _quality_columns(given, quality_field, family)
    quality_stats = _describe_all(quality, integer=False)
    complexity_stats = {name: _describe_all(cols, integer=True)
                        for name, cols in _complexity_columns(texts, family).items()}

    sizes = [len(t) for t in texts]
    bounds = np.cumsum([0] + sizes)
    x = embed([t for ts in texts for t in ts], embedder)
    cells, k = union_cells(x, clusters, seed)
    n_cells = len(np.unique(cells))

    rows = []
    for i, d in enumerate(datasets):
        lo, hi = bounds[i], bounds[i + 1]
        row = d.describe()
        row["family"] = family[i].family if family[i] else None
        row["quality"] = None if quality_stats[i] is None else {"source": sources[i], **quality_stats[i]}
        if family[i] is not None:
            row["verdicts"] = family[i].verdicts
        row["diversity"] = diversity(x[lo:hi], texts[i], cells[lo:hi], n_cells, seed)
        row["cells"] = np.bincount(cells[lo:hi], minlength=k).tolist()
        row["complexity"] = {name: stats[i] for name, stats in complexity_stats.items() if stats[i] is not None}
        rows.append(row)

    return {
        "text_field": text_field,
        "quality_field": quality_field,
        "embedder": EMBEDDER_NAMES[embedder],
        "seed": seed,
        "sample": sample,
        "equal_size": len(set(sizes)) == 1,
        "clusters": {"requested": clusters, "k": k, "non_empty": n_cells,
                     "of": "the union of all datasets, fitted without its near-duplicates"},
        "near_duplicate_eps": NEAR_DUP_EPS,
        "tokenizer": TOKENIZER,
        "ngram_tokens": NGRAM_TOKENS,
        "datasets": rows,
    }
