"""Scorers map a batch of candidate records to a column; a missing input is a clear error."""

from __future__ import annotations

import math

import numpy as np
import pytest

from system.qdc.batch import CandidateBatch, ScorerInputError
from system.qdc.config import FilterConfig
from system.qdc.scoring import SCORERS, score_columns
from system.tasks.tint_family import TintFamily
from system.tasks.verdicts import judge_rows
from system.tint import verify


def judged(records: list[dict]) -> list[dict]:
    """TInt records with the family's verdict columns, as the filter stage stores them."""
    family = TintFamily.default()
    return [{**r, **v.columns()} for r, v in zip(records, judge_rows(family, records))]


def column(name: str, records: list[dict], **config: object) -> np.ndarray:
    if records and all(TintFamily.default().row_problem(r) is None for r in records):
        records = judged(records)
    return SCORERS.get(name).from_config(FilterConfig(**config)).score(CandidateBatch(records))


def rec(values: list[int], completion: str, task: str = "sum", **extra: object) -> dict:
    return {"task": task, "input": values, "prompt": f"{task} {' '.join(map(str, values))} =",
            "completion": completion, **extra}


def test_verifier_scorers_grade_correct_wrong_and_miscopied_traces() -> None:
    records = [
        rec([12, 7, 33], " 12+7=19 19+33=52 #52"),  # correct
        rec([12, 7, 33], " 12+7=19 19+33=53 #53"),  # bad arithmetic
        rec([12, 7, 33], " 12+8=20 20+33=53 #53"),  # consistent arithmetic on a miscopied 7
        rec([12, 7, 33], "garbage"),
    ]
    assert column("answer_correct", records).tolist() == [1.0, 0.0, 0.0, 0.0]
    assert column("steps_valid", records).tolist() == [1.0, 0.5, 1.0, 0.0]
    # chain consistency is what catches the copy error that internal consistency would keep
    assert column("chain_consistent", records).tolist() == [1.0, 1.0, 0.0, 0.0]


def test_verifier_quality_matches_the_verdicts(tint_records: list[dict]) -> None:
    q = column("answer_correct", tint_records)
    truth = [verify(r["task"], r["input"], r["completion"]).answer_correct for r in tint_records]
    assert q.tolist() == [float(t) for t in truth]
    assert 0 < q.mean() < 1


def test_majority_agreement_groups_by_prompt_id() -> None:
    records = [rec([1, 2], " 1+2=3 #3", prompt_id=0), rec([1, 2], " 1+2=3 #3", prompt_id=0),
               rec([1, 2], " 1+2=4 #4", prompt_id=0), rec([1, 2], "no answer", prompt_id=0),
               rec([5, 5], " 5+5=10 #10", prompt_id=1)]
    assert column("majority", records).tolist() == [0.5, 0.5, 0.25, 0.0, 1.0]


def test_majority_falls_back_to_the_prompt_text() -> None:
    records = [rec([1, 2], " 1+2=3 #3"), rec([1, 2], " 1+2=4 #4"), rec([3, 4], " 3+4=7 #7")]
    assert column("majority", records).tolist() == [0.5, 0.5, 1.0]


def test_mean_logprob_is_a_geometric_mean_probability() -> None:
    records = [rec([1, 2], "x", mean_logprob=-0.5), rec([1, 2], "x", logprobs=[-1.0, -3.0]),
               rec([1, 2], "x", mean_logprob=0)]
    assert np.allclose(column("mean_logprob", records), [math.exp(-0.5), math.exp(-2.0), 1.0])
    with pytest.raises(ScorerInputError, match="'mean_logprob' or a non-empty 'logprobs'.*record 1"):
        column("mean_logprob", [rec([1], "x", mean_logprob=-1.0), rec([1], "x")])


def test_field_quality_is_rescaled_and_checked() -> None:
    records = [{"score": 2}, {"score": 4}, {"score": 3.0}]
    assert column("field", records, quality_field="score").tolist() == [0.0, 1.0, 0.5]
    assert column("field", [{"score": 5}, {"score": 5}], quality_field="score").tolist() == [1.0, 1.0]
    labels = ["data.jsonl:1", "data.jsonl:2"]
    with pytest.raises(ScorerInputError, match="data.jsonl:2: quality field 'score' needs a finite number, has 'high'"):
        SCORERS.get("field")("score").score(CandidateBatch([{"score": 1}, {"score": "high"}], labels=labels))
    for bad in (float("nan"), float("inf"), 10**400, True):
        with pytest.raises(ScorerInputError, match="data.jsonl:2: quality field 'score' needs a finite number"):
            SCORERS.get("field")("score").score(CandidateBatch([{"score": 1}, {"score": bad}], labels=labels))
    with pytest.raises(ScorerInputError, match="field 'score' on every record; data.jsonl:2 has none"):
        SCORERS.get("field")("score").score(CandidateBatch([{"score": 1}, {"other": 2}], labels=labels))


def test_field_quality_rescales_by_rank_so_an_outlier_moves_only_itself() -> None:
    scores = [-1e20, 1.0, 2.0, 2.0, 3.0]
    col = column("field", [{"score": v} for v in scores], quality_field="score")
    assert col.tolist() == [0.0, 0.25, 0.625, 0.625, 1.0]  # ties share the average of ranks 2 and 3
    extreme = column("field", [{"score": v} for v in (-1.7e308, 0.0, 1.7e308)], quality_field="score")
    assert extreme.tolist() == [0.0, 0.5, 1.0]


def test_complexity_scorers() -> None:
    records = [rec([12, 7, 33], " 12+7=19 19+33=52 #52"),
               rec([5, 300], " 5<300=1 #5 300", task="sort"),
               rec([4, 9, 1, 6], " 4+9=13 13+1=14 14+6=20 #20")]
    assert column("trace_steps", records).tolist() == [2, 1, 3]
    assert column("list_length", records).tolist() == [3, 2, 4]
    assert np.allclose(column("digits", records), [5 / 3, 2.0, 1.0])
    assert column("op_mix", records).tolist() == [1, 1, 1]
    assert column("text_length", [{"completion": "a b  c"}, {"completion": ""}]).tolist() == [3, 0]


def test_missing_inputs_name_the_field_and_record() -> None:
    broken = judged([rec([1, 2], " 1+2=3 #3")]) + [{"task": "sum", "completion": " 1+2=3 #3"}]
    with pytest.raises(ScorerInputError, match=r"verdict column 'answer_correct'.*record 1 has none"):
        column("answer_correct", broken)
    assert TintFamily.default().row_problem(rec([4], " #2", task="sqrt")).startswith("has task 'sqrt'")
    assert TintFamily.default().row_problem({"task": "sum", "completion": "x"}) == "has no 'input'"
    with pytest.raises(ScorerInputError, match="verdict column 'trace_steps'.*record 0 has none"):
        column("trace_steps", [{"text": "x"}])


def test_combined_columns_are_weighted_means_in_unit_range(tint_records: list[dict]) -> None:
    cfg = FilterConfig()
    cols = score_columns(CandidateBatch(judged(tint_records)), cfg.quality_weights(), dict(cfg.complexity_scorers), cfg)
    expected_q = (cols["answer_correct"] + cols["chain_consistent"] + cols["steps_valid"]) / 3
    assert np.allclose(cols["quality"], expected_q)
    for name in ("quality", "complexity"):
        assert cols[name].shape == (len(tint_records),)
        assert 0.0 <= cols[name].min() and cols[name].max() <= 1.0
    fully_verified = cols["quality"] == 1.0
    assert all(verify(r["task"], r["input"], r["completion"]).answer_correct
               for r, ok in zip(tint_records, fully_verified) if ok)
