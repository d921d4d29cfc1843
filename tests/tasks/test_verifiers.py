"""Answer verifiers: the built-ins on edge cases, user functions in verl's and TRL's conventions."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, get_args

import pytest

from system.tasks.base import TaskDataError, Verdict
from system.tasks.config import VerifierConfig, VerifierName
from system.tasks.verifiers import VerifierTimeout, VerifyItem, build_verifier, verifier_names

HERE = Path(__file__).resolve().parent
FUNCTIONS = HERE / "verifier_functions.py"
GARBAGE = ["", "   ", "\x00\x01\ufffd", "}}}{{{", "#### ####", "\\boxed{", "(((", "🙂" * 50, "a" * 10_000]


def judge(config: VerifierConfig, completion: str, truth: Any) -> Verdict:
    [verdict] = build_verifier(config).judge([VerifyItem("q", completion, truth)])
    return verdict


def answer_of(name: str, completion: str, truth: Any = "0", **kw: Any) -> tuple[str | None, bool]:
    v = judge(VerifierConfig(name=name, **kw), completion, truth)
    assert v.quality == (1.0 if v.correct else 0.0) and v.error is None
    return v.answer, v.correct


def test_registry_covers_every_recipe_name() -> None:
    assert set(verifier_names()) == set(get_args(VerifierName))


@pytest.mark.parametrize("name", ["exact", "numeric", "gsm8k", "boxed", "choice"])
def test_builtins_give_a_verdict_on_garbage(name: str) -> None:
    verifier = build_verifier(VerifierConfig(name=name))
    reference = "A" if name == "choice" else "7"
    verdicts = verifier.judge([VerifyItem("q", text, reference) for text in GARBAGE])
    assert len(verdicts) == len(GARBAGE)
    assert all(not v.correct and v.quality == 0.0 and v.error is None for v in verdicts)
    if name == "exact":  # any text is an answer to it
        assert [v.answer for v in verdicts] == [t.strip() or None for t in GARBAGE]
    else:
        assert all(v.answer is None for v in verdicts[:-1])


def test_exact_trims_and_compares() -> None:
    assert answer_of("exact", "  Paris \n", "Paris") == ("Paris", True)
    assert answer_of("exact", "paris", "Paris") == ("paris", False)
    assert answer_of("exact", "72", 72) == ("72", True)  # a non-string reference reads as JSON text
    assert answer_of("exact", "   ", "Paris") == (None, False)


@pytest.mark.parametrize(("completion", "truth", "answer", "correct"), [
    ("-5", "-5", "-5", True),
    ("The result is -12.", -12, "-12", True),
    ("3 - 5 = -2", "-2", "-2", True),
    ("pages 10-12", "12", "12", True),  # a hyphen between numbers is no minus sign
    ("1,234,567", "1234567", "1234567", True),
    ("$1,234.50", "1234.5", "1234.5", True),
    ("-$40", "-40", "-40", True),
    ("3 000 kg", "3000", "3000", True),  # space thousands separator and a unit
    ("12 apples", "12", "12", True),
    ("45%", "45", "45", True),
    ("0.300002", "0.3", "0.300002", False),  # outside the default tolerance 1e-6
    ("2.50", "2.5", "2.5", True),
    ("x2 and y", "2", None, False),  # a digit inside a word is no number
    ("no numbers here", "3", None, False),
])
def test_numeric(completion: str, truth: Any, answer: str | None, correct: bool) -> None:
    assert answer_of("numeric", completion, truth) == (answer, correct)


def test_numeric_tolerance() -> None:
    assert answer_of("numeric", "3.14", "3.14159", tolerance=0.01) == ("3.14", True)
    assert answer_of("numeric", "3.14", "3.14159", tolerance=0.001) == ("3.14", False)


def test_gsm8k_reads_the_number_after_the_last_marker_on_both_sides() -> None:
    reference = "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n48+24 = <<48+24=72>>72\n#### 72"
    assert answer_of("gsm8k", "48 + 24 = 72\n#### 72", reference) == ("72", True)
    assert answer_of("gsm8k", "#### 70\nwait\n#### 72 clips", "72") == ("72", True)
    assert answer_of("gsm8k", "#### -8", "-8") == ("-8", True)
    assert answer_of("gsm8k", "#### 1,000", "#### 1000") == ("1000", True)
    assert answer_of("gsm8k", "#### $12.50", "12.5") == ("12.5", True)
    assert answer_of("gsm8k", "the answer is 72", reference) == (None, False)  # no marker: no answer
    assert answer_of("gsm8k", "#### seventy-two", reference) == (None, False)


def test_boxed_handles_nested_braces_and_takes_the_last_box() -> None:
    assert answer_of("boxed", r"so \boxed{\frac{1}{2}}", r"\frac{1}{2}") == (r"\frac{1}{2}", True)
    assert answer_of("boxed", r"\boxed{x^{2}+\{1\}}", r"$\boxed{x^{2} + \{1\}}$") == (r"x^{2}+\{1\}", True)
    assert answer_of("boxed", r"first \boxed{3} then \boxed{ 4 }", "4") == ("4", True)
    assert answer_of("boxed", r"\boxed{-1,000}", "-1000") == ("-1000", True)
    assert answer_of("boxed", r"\boxed{\dfrac{3}{4}}", r"\frac{3}{4}") == (r"\frac{3}{4}", True)
    assert answer_of("boxed", r"\boxed{4} and then \boxed{5", "4") == (None, False)  # the last box never closes
    assert answer_of("boxed", "the answer is 4", "4") == (None, False)


@pytest.mark.parametrize(("completion", "letter"), [
    ("(B)", "B"), ("Answer: C", "C"), ("the answer is d", "D"), ("The answer is (b) because of x.", "B"),
    ("The correct answer is option E.", "E"), ("c.", "C"), ("Options (A) 1 or (J) 2", "J"),
    ("the answer is a dog", None), ("Answer: Alright, let me think", None), ("I pick K", None),
])
def test_choice_letters(completion: str, letter: str | None) -> None:
    answer, correct = answer_of("choice", completion, letter or "A")
    assert answer == letter and correct == (letter is not None)


def test_choice_reference_as_an_index_or_marked_text() -> None:
    assert answer_of("choice", "Answer: B", 1) == ("B", True)
    assert answer_of("choice", "Answer: B", "(B)") == ("B", True)
    assert answer_of("choice", "Answer: B", "the answer is c") == ("B", False)


def test_regex_takes_the_last_match_of_its_group() -> None:
    cfg = dict(pattern=r"ANSWER:\s*(\w+)")
    assert answer_of("regex", "ANSWER: cat ... ANSWER: dog", "dog", **cfg) == ("dog", True)
    assert answer_of("regex", "ANSWER: dog", "so ANSWER: dog", **cfg) == ("dog", True)  # marked reference
    assert answer_of("regex", "no marker", "dog", **cfg) == (None, False)


def test_an_unreadable_reference_is_a_failed_verdict_and_a_data_problem() -> None:
    verifier = build_verifier(VerifierConfig(name="numeric"))
    [v] = verifier.judge([VerifyItem("q", "5", "five")])
    assert v.error and "reference" in v.error and v.quality == 0.0
    assert verifier.reference_problem("five") and verifier.reference_problem("5") is None
    assert build_verifier(VerifierConfig(name="gsm8k")).reference_problem(None)


# ------------------------------------------------------------------------------------------------
# user functions


def python_verifier(name: str, path: str | Path = FUNCTIONS, timeout_s: float = 60.0) -> Any:
    return build_verifier(VerifierConfig(name="python", function=f"{path}:{name}", timeout_s=timeout_s))


ITEMS = [
    VerifyItem("2+2?", "it is 4", "4", "arith", {"answer": "4", "level": 1}),
    VerifyItem("3+3?", "it is 5", "6", "arith", {"answer": "6", "level": 2}),
    VerifyItem("1+0?", "", "1", "arith", {"answer": "1", "level": 3}),
]


def test_verl_convention_from_a_relative_file_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(HERE.parent.parent)
    verifier = python_verifier("verl_exact", path="tests/tasks/verifier_functions.py")
    assert [(v.quality, v.correct, v.error) for v in verifier.judge(ITEMS)] == [
        (1.0, True, None), (0.0, False, None), (0.0, False, None)]


def test_verl_function_gets_only_the_arguments_it_takes() -> None:
    verdicts = python_verifier("verl_two_arguments").judge([VerifyItem("q", " 4 ", 4), VerifyItem("q", "5", 4)])
    assert [v.correct for v in verdicts] == [True, False]


def test_a_module_path_loads_too() -> None:
    verifier = python_verifier("verl_exact", path="tests.tasks.verifier_functions")
    assert [v.correct for v in verifier.judge(ITEMS)] == [True, False, False]


def test_trl_convention_gets_batches_with_every_column() -> None:
    verdicts = python_verifier("trl_reward").judge(ITEMS)
    assert [v.quality for v in verdicts] == [1.0, 0.0, 0.0]


def test_a_dict_result_gives_the_answer_and_verifier_signals() -> None:
    verdicts = python_verifier("verl_with_details").judge(ITEMS)
    assert [v.answer for v in verdicts] == ["4", "5", None]
    assert verdicts[0].signals == {"verifier_n_words": 3, "verifier_source": "arith", "verifier_level": 1}
    columns = verdicts[1].columns()
    assert columns["verifier_n_words"] == 3 and columns["verdict_quality"] == 0.0
    batch = python_verifier("trl_partial_credit").judge(ITEMS)
    assert [(v.quality, v.correct, v.signals["verifier_level_seen"]) for v in batch] == [
        (0.5, False, 1), (0.0, False, 2), (0.0, False, 3)]


def test_a_function_that_raises_fails_only_its_candidates() -> None:
    items = [VerifyItem("q", "fine", "1"), VerifyItem("q", "boom", "1"), VerifyItem("q", "fine too", "1")]
    for name in ("verl_raises_on_boom", "trl_raises_on_boom"):
        verdicts = python_verifier(name).judge(items)
        assert [v.quality for v in verdicts] == [1.0, 0.0, 1.0], name
        error = verdicts[1].error
        assert error is not None and error.split(":")[0] in ("ValueError", "RuntimeError")
        assert "\n" not in error and len(error) <= 250
        assert verdicts[0].error is None and verdicts[2].error is None


def test_a_call_past_the_timeout_fails_naming_the_function() -> None:
    verifier = python_verifier("verl_slow", timeout_s=0.2)
    start = time.monotonic()
    with pytest.raises(VerifierTimeout, match=r"verifier_functions\.py:verl_slow.*timeout_s = 0\.2"):
        verifier.judge(ITEMS)
    assert time.monotonic() - start < 2.5  # it stopped waiting well before the call (3 s) returned
    assert isinstance(VerifierTimeout("x"), TaskDataError)


@pytest.mark.parametrize(("name", "message"), [
    ("verl_too_high", r"verl_too_high returned the score 1\.5 .*\[0, 1\]"),
    ("verl_nan", r"verl_nan returned the score nan"),
    ("verl_text", r"verl_text returned '1\.0' \(str\)"),
    ("trl_wrong_length", r"trl_wrong_length returned 1 scores for 3 completions"),
])
def test_a_bad_score_is_an_error_naming_the_function(name: str, message: str) -> None:
    with pytest.raises(TaskDataError, match=message):
        python_verifier(name).judge(ITEMS)


@pytest.mark.parametrize(("spec", "message"), [
    (f"{FUNCTIONS}:neither", r"neither takes neither `solution_str`.*its parameters: text, reference"),
    (f"{FUNCTIONS}:missing", r"has no 'missing'"),
    (f"{FUNCTIONS}:NOT_A_FUNCTION", r"is a int, not a function"),
    ("no/such/file.py:score", r"no/such/file\.py: file not found"),
    ("no_such_module_xyz:score", r"cannot import module 'no_such_module_xyz'"),
    ("just_a_name", r"expected path/to/file\.py:name"),
])
def test_unusable_functions_are_refused_when_built(spec: str, message: str) -> None:
    with pytest.raises(TaskDataError, match=message):
        build_verifier(VerifierConfig(name="python", function=spec))


def test_a_file_that_fails_to_import_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "broken.py"
    bad.write_text("import no_such_package_xyz\n")
    with pytest.raises(TaskDataError, match=r"broken\.py: importing it failed: ModuleNotFoundError"):
        build_verifier(VerifierConfig(name="python", function=f"{bad}:score"))
