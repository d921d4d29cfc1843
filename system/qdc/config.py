"""Recipe section for the QDC filter (``filter:``): which scorers, embedder and strategy, and their knobs."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from system.schema import StrictModel

DEFAULT_QUALITY = {"answer_correct": 1.0, "chain_consistent": 1.0, "steps_valid": 1.0}
DEFAULT_COMPLEXITY = {"trace_steps": 1.0, "list_length": 1.0, "digits": 1.0, "op_mix": 1.0}


def _check_scorers(weights: dict[str, float], kind: str) -> dict[str, float]:
    from system.qdc.scoring import SCORERS, scorer_names

    known = scorer_names(kind)  # type: ignore[arg-type]
    for name, weight in weights.items():
        if name not in SCORERS or SCORERS.get(name).kind != kind:
            raise ValueError(f"unknown {kind} scorer {name!r}; known: {', '.join(known)}")
        if weight < 0:
            raise ValueError(f"scorer {name!r}: weight must be >= 0, got {weight}")
    return weights


class FilterConfig(StrictModel):
    """How candidates are scored, embedded and selected. Every name is checked against its registry."""

    strategy: str = Field("qdit", description="selection strategy (registry name): none, random, "
                          "quality_threshold, top_quality, kcenter, deita, qdit, semdedup")
    budget: int | float = Field(0.5, description="records to keep: an int >= 1 is a count, a float in "
                                "(0, 1] a fraction of the candidates (rounded, at least 1)")
    quality_scorers: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_QUALITY),
        description="quality scorer name -> weight; quality is their weighted mean, in [0, 1]")
    complexity_scorers: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_COMPLEXITY),
        description="complexity scorer name -> weight; each column is divided by its batch max, then averaged")
    quality_field: str | None = Field(None, description="numeric record field used as quality instead of "
                                      "the quality scorers (rescaled to [0, 1] over the batch by rank)")
    text_field: str = Field("completion", min_length=1, description="record field that is embedded")
    embedder: str = Field("hashed_ngrams", description="embedder (registry name): hashed_ngrams, minilm, policy_hidden")
    embedding_dim: int = Field(384, ge=8, le=65_536, description="output size of the hashed n-gram embedder")
    ngram_range: tuple[int, int] = Field((2, 4), description="character n-gram sizes of the hashed embedder, inclusive")
    quality_threshold: float = Field(1.0, ge=0.0, le=1.0, description="quality_threshold keeps quality >= this "
                                     "(1.0 with the verifier scorers = fully verified)")
    deita_threshold: float = Field(0.1, ge=0.0, le=2.0, description="deita admits an item only if its cosine "
                                   "distance to every admitted item exceeds this")
    kcenter_tolerance: float = Field(0.01, ge=0.0, lt=1.0, description="approximate kcenter: a pick may be this "
                                     "fraction nearer than the farthest point, so a cell takes several picks per visit")
    qdit_alpha: float = Field(0.5, ge=0.0, le=1.0, description="qdit weight of quality against coverage "
                              "(1 = top_quality, 0 = pure facility location)")
    semdedup_eps: float = Field(0.05, ge=0.0, le=1.0, description="semdedup drops an item whose cosine distance "
                                "to a better item of its cluster is at most this")
    exact_below: int = Field(10_000, ge=1, description="below this many candidates FAISS search and greedy "
                             "selection are exact (flat index, one cell; qdit then holds n^2 floats, 400 MB "
                             "at 10k); above, k-means cells + IVF/HNSW")
    min_cell: int = Field(128, ge=8, description="approximate path: n / min_cell k-means cells ...")
    max_cells: int = Field(1024, ge=2, description="... but at most this many (assigning n points costs "
                           "n * max_cells * d)")
    approx_index: Literal["ivf", "hnsw"] = Field("ivf", description="approximate FAISS index for searches")
    coverage_clusters: int = Field(50, ge=1, description="k-means clusters of the candidates for the "
                                   "cluster-coverage metric")
    vendi_max_n: int = Field(50_000, ge=2, description="the Vendi score subsamples sets larger than this")

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, name: str) -> str:
        from system.qdc.strategies import STRATEGIES

        return STRATEGIES.check(name)

    @field_validator("embedder")
    @classmethod
    def _known_embedder(cls, name: str) -> str:
        from system.qdc.embedders import EMBEDDERS

        return EMBEDDERS.check(name)

    @field_validator("quality_scorers")
    @classmethod
    def _quality(cls, v: dict[str, float]) -> dict[str, float]:
        return _check_scorers(v, "quality")

    @field_validator("complexity_scorers")
    @classmethod
    def _complexity(cls, v: dict[str, float]) -> dict[str, float]:
        return _check_scorers(v, "complexity")

    @field_validator("budget", mode="before")
    @classmethod
    def _not_bool(cls, v: object) -> object:
        if isinstance(v, bool):
            raise ValueError("budget must be a count or a fraction, got a boolean")
        return v

    @field_validator("budget")
    @classmethod
    def _budget(cls, v: int | float) -> int | float:
        if isinstance(v, int) and v < 1:
            raise ValueError(f"a budget count must be >= 1, got {v}")
        if isinstance(v, float) and not 0.0 < v <= 1.0:
            raise ValueError(f"a budget fraction must be in (0, 1], got {v}")
        return v

    @field_validator("ngram_range")
    @classmethod
    def _ngrams(cls, v: tuple[int, int]) -> tuple[int, int]:
        if not 1 <= v[0] <= v[1] <= 16:
            raise ValueError(f"needs 1 <= low <= high <= 16, got {list(v)}")
        return v

    @model_validator(mode="after")
    def _quality_source(self) -> "FilterConfig":
        if "field" in self.quality_scorers and self.quality_field is None:
            raise ValueError("quality scorer 'field' needs quality_field to name the field")
        return self

    def budget_for(self, n: int, budget: int | float | None = None) -> int:
        """The budget as a count for ``n`` candidates (``budget`` overrides the configured one)."""
        b = self.budget if budget is None else budget
        if isinstance(b, float):
            return max(1, min(n, round(b * n)))
        return int(b)

    def quality_weights(self) -> dict[str, float]:
        """The quality scorers in effect: the field scorer alone when quality_field is set."""
        return {"field": 1.0} if self.quality_field is not None else dict(self.quality_scorers)
