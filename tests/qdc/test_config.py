"""The recipe's filter section: typed, defaulted, and every name checked against its registry."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from system.config import RecipeError, validate_recipe
from system.qdc.config import FilterConfig
from system.qdc.embedders import EMBEDDERS
from system.qdc.scoring import SCORERS
from system.qdc.strategies import STRATEGIES


def test_defaults_are_valid_and_name_registered_entries() -> None:
    cfg = FilterConfig()
    assert cfg.strategy in STRATEGIES and cfg.embedder in EMBEDDERS
    assert all(name in SCORERS for name in [*cfg.quality_scorers, *cfg.complexity_scorers])


def test_every_strategy_is_registered() -> None:
    assert set(STRATEGIES.names()) == {
        "none", "random", "quality_threshold", "top_quality", "kcenter", "deita", "qdit", "semdedup"}


def test_unknown_strategy_names_the_known_ones() -> None:
    with pytest.raises(ValidationError) as e:
        FilterConfig(strategy="qdti")
    text = str(e.value)
    assert "unknown selection strategy 'qdti'" in text
    for name in STRATEGIES.names():
        assert name in text


def test_unknown_or_misplaced_scorers_and_embedders_are_errors() -> None:
    with pytest.raises(ValidationError, match="unknown quality scorer 'nope'; known: .*answer_correct"):
        FilterConfig(quality_scorers={"nope": 1.0})
    with pytest.raises(ValidationError, match="unknown quality scorer 'trace_steps'"):
        FilterConfig(quality_scorers={"trace_steps": 1.0})  # a complexity scorer
    with pytest.raises(ValidationError, match="weight must be >= 0"):
        FilterConfig(complexity_scorers={"trace_steps": -1.0})
    with pytest.raises(ValidationError, match="unknown embedder 'bert'; known: hashed_ngrams, minilm, policy_hidden"):
        FilterConfig(embedder="bert")


@pytest.mark.parametrize("budget", [0, -3, 0.0, 1.5, True])
def test_bad_budgets_are_rejected(budget: object) -> None:
    with pytest.raises(ValidationError):
        FilterConfig(budget=budget)


def test_budget_is_a_count_or_a_fraction() -> None:
    assert FilterConfig(budget=7).budget_for(100) == 7
    assert FilterConfig(budget=0.25).budget_for(100) == 25
    assert FilterConfig(budget=0.001).budget_for(100) == 1
    assert FilterConfig(budget=1.0).budget_for(100) == 100


def test_ranges_and_unknown_keys() -> None:
    with pytest.raises(ValidationError):
        FilterConfig(qdit_alpha=1.5)
    with pytest.raises(ValidationError):
        FilterConfig(semdedup_eps=-0.1)
    with pytest.raises(ValidationError, match="extra"):
        FilterConfig(alpha=0.5)
    with pytest.raises(ValidationError, match="needs quality_field"):
        FilterConfig(quality_scorers={"field": 1.0})
    assert FilterConfig(quality_field="score").quality_weights() == {"field": 1.0}


def test_recipe_errors_name_the_dotted_field() -> None:
    with pytest.raises(RecipeError) as e:
        validate_recipe({"name": "r", "filter": {"strategy": "nope", "budget": 10}}, "recipe.yaml")
    assert "filter.strategy" in str(e.value) and "kcenter" in str(e.value)
    recipe = validate_recipe({"name": "r", "filter": {"strategy": "deita", "deita_threshold": 0.2}})
    assert recipe.filter.strategy == "deita" and recipe.filter.deita_threshold == 0.2
