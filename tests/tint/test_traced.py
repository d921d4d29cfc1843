"""Traced integers record ordinary Python arithmetic; a new task needs no trace code."""

from __future__ import annotations

import pytest

from system.tint import TASKS, Tracer, execute, register, render, sample_records, verify
from system.tint.traced import Step


def test_operations_are_recorded_in_order() -> None:
    t = Tracer()
    a, b = t.leaf_list([12, 7])
    c = a + b
    d = c * 3
    assert (d // 2).value == 28
    assert max(a, b) is a
    assert [s for s in t.steps] == [
        Step(12, "+", 7, 19), Step(19, "*", 3, 57), Step(57, "/", 2, 28), Step(7, ">", 12, 0),
    ]
    assert {12, 7, 3, 2} <= t.leaves


def test_overrides_propagate_to_later_steps() -> None:
    run = execute("sum", [1, 2, 3], overrides={0: 10})
    assert run is not None
    assert render(run.trace) == " 1+2=10 10+3=13 #13"


@pytest.fixture
def product_task():
    @register("test_product", "product of a list (test-only task)")
    def product(xs, t):
        acc = xs[0]
        for x in xs[1:]:
            acc = acc * x
        return acc

    yield "test_product"
    del TASKS["test_product"]


def test_a_new_task_is_a_plain_function(product_task: str) -> None:
    records = list(sample_records(product_task, "id", 20, seed=1))
    for r in records:
        expected = 1
        for v in r["input"]:
            expected *= v
        assert r["answer"] == expected
        assert verify(product_task, r["input"], r["completion"]).noise_kind == "none"


def test_registering_a_name_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="registered twice"):
        register("sum", "again")(lambda xs, t: xs[0])
