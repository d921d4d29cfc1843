"""QDCFilter: the plain-Python entry point the training loop calls once per iteration."""

from __future__ import annotations

import json

import numpy as np
import pytest

from system.errors import QdcError
from system.qdc.batch import ScorerInputError
from system.qdc.config import FilterConfig
from system.qdc.filter import QDCFilter
from tests.qdc.test_embedders import MeanOfCodes


def test_select_scores_embeds_selects_and_measures(tint_records: list[dict]) -> None:
    selection = QDCFilter(FilterConfig(strategy="qdit", budget=0.2)).select(tint_records, seed=3)
    n = len(tint_records)
    assert selection.budget == round(0.2 * n) == len(selection.chosen)
    assert set(selection.scores) >= {"answer_correct", "chain_consistent", "steps_valid", "quality",
                                     "trace_steps", "list_length", "digits", "op_mix", "complexity"}
    assert all(len(col) == n for col in selection.scores.values())
    before, after = selection.metrics_before, selection.metrics_after
    for key in ("vendi", "mean_cosine_distance", "distinct_1", "distinct_2", "cluster_coverage", "quality_mean"):
        assert key in before and key in after
    assert before["n"] == n and after["n"] == len(selection.chosen)
    assert after["quality_mean"] > before["quality_mean"]
    reasons = selection.reasons()
    assert len(reasons) == n and len({reasons[i] for i in selection.chosen}) == 1
    json.dumps(selection.summary())  # JSON-able as is
    assert selection.chosen_records(tint_records)[0] is tint_records[int(np.sort(selection.chosen)[0])]


def test_select_is_deterministic_for_a_seed(tint_records: list[dict]) -> None:
    f = QDCFilter(FilterConfig(strategy="kcenter"))
    a, b = f.select(tint_records, 40, seed=1), f.select(tint_records, 40, seed=1)
    assert np.array_equal(a.chosen, b.chosen) and a.metrics_after == b.metrics_after


def test_given_embeddings_skip_the_embedder(tint_records: list[dict]) -> None:
    x = np.random.default_rng(0).standard_normal((len(tint_records), 8)).astype(np.float32)
    sel = QDCFilter(FilterConfig(strategy="kcenter", embedder="policy_hidden")).select(tint_records, 10, embeddings=x)
    assert len(sel.chosen) == 10
    with pytest.raises(QdcError, match="one row per candidate"):
        QDCFilter(FilterConfig(strategy="kcenter")).select(tint_records, 10, embeddings=x[:5])


def test_policy_hidden_states_are_attached_by_the_loop(tint_records: list[dict]) -> None:
    f = QDCFilter(FilterConfig(strategy="kcenter", embedder="policy_hidden"))
    with pytest.raises(QdcError, match="no hidden-state source"):
        f.select(tint_records, 10)
    f.attach_hidden_states(MeanOfCodes())
    assert len(f.select(tint_records, 10).chosen) == 10
    with pytest.raises(QdcError, match="does not take hidden states"):
        QDCFilter(FilterConfig()).attach_hidden_states(MeanOfCodes())


def test_bad_requests_are_clear_errors(tint_records: list[dict]) -> None:
    f = QDCFilter(FilterConfig(strategy="random"))
    with pytest.raises(QdcError, match="no candidates"):
        f.select([], 1)
    with pytest.raises(QdcError, match="budget 301 is outside 1..300"):
        f.select(tint_records, 301)
    with pytest.raises(ScorerInputError, match="verdict column 'answer_correct'.*record 1 has none"):
        f.select([tint_records[0], {"task": "sum", "completion": " #1"}], 1)
    generic = [{"text": "a b"}, {"text": "c"}]
    cfg = FilterConfig(strategy="top_quality", text_field="text", quality_scorers={"uniform": 1.0},
                       complexity_scorers={"text_length": 1.0})
    assert len(QDCFilter(cfg).select(generic, 1).chosen) == 1
