"""Garbage in, a verdict out: the verifier never raises and never evaluates its input."""

from __future__ import annotations

import ast
import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from system.tint import TASKS, NoiseSpec, Verdict, render, sample_records, true_execution, verify

ROOT = Path(__file__).resolve().parents[2]
ALPHABET = "0123456789+-*/%<>=!# abcdefghijklmnopqrstuvwxyz_\n\t.,;:()[]{}'\"\\"


def _mutations(text: str, rng: random.Random) -> str:
    choice = rng.randrange(9)
    if choice == 0:
        return text[: rng.randrange(len(text) + 1)]  # truncated
    if choice == 1 and len(text) > 1:  # swapped characters
        i, j = sorted(rng.sample(range(len(text)), 2))
        return text[:i] + text[j] + text[i + 1 : j] + text[i] + text[j + 1 :]
    if choice == 2:  # unicode, including digits of other scripts that int() would accept
        return text + rng.choice(["٣", "߁", "½", "Ⅻ", "\u200b", "é", "🙂", "\x00", "\ud7ff"])
    if choice == 3:  # a huge number
        return text.replace("=", "=" + "9" * rng.randint(10, 6000), 1)
    if choice == 4:
        return ""
    if choice == 5:  # duplicated segments
        return text + text
    if choice == 6:  # random characters
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 80)))
    if choice == 7:  # a digit changed
        digits = [k for k, c in enumerate(text) if c.isdigit()]
        if digits:
            k = rng.choice(digits)
            return text[:k] + str((int(text[k]) + rng.randint(1, 9)) % 10) + text[k + 1 :]
        return text
    return text.replace(" ", rng.choice(["", "  ", "#", "=", " - "]), rng.randint(1, 3))


def test_ten_thousand_random_and_mutated_strings() -> None:
    rng = random.Random(1234)
    tasks = list(TASKS)
    n = 0
    for i in range(10_000):
        task = tasks[i % len(tasks)]
        values = next(sample_records(task, "id", 1, seed=i))["input"]
        text = render(true_execution(task, values).trace)
        for _ in range(rng.randint(1, 3)):
            text = _mutations(text, rng)
        verdict = verify(task, values, text)
        assert isinstance(verdict, Verdict)
        assert 0.0 <= verdict.steps_valid <= 1.0
        assert verdict.noise_kind in ("none", "static", "dynamic", "malformed")
        if not verdict.parsed:
            assert verdict.noise_kind == "malformed"
        n += 1
    assert n == 10_000


@settings(max_examples=500, deadline=None)
@given(text=st.one_of(st.text(max_size=300), st.binary(max_size=50), st.none(), st.integers(), st.lists(st.integers())))
def test_any_object_gets_a_verdict(text: object) -> None:
    verdict = verify("sum", [12, 7, 33], text)
    assert isinstance(verdict, Verdict)


def test_noisy_records_always_parse() -> None:
    for kind in ("static", "dynamic"):
        for task in TASKS:
            for r in sample_records(task, "id", 30, seed=3, noise=NoiseSpec(kind, 1.0, 0.9)):  # type: ignore[arg-type]
                assert verify(task, r["input"], r["completion"]).parsed


def test_no_code_path_evaluates_text() -> None:
    """No eval/exec/compile/pickle anywhere in system/ or actors/."""
    forbidden = {"eval", "exec", "compile", "__import__"}
    offenders = []
    for path in list((ROOT / "system").rglob("*.py")) + list((ROOT / "actors").rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in forbidden:
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.func.id}")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + ([node.module] if isinstance(node, ast.ImportFrom) else [])
                if any(n and n.split(".")[0] in ("pickle", "dill", "marshal") for n in names):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports a deserializer")
    assert offenders == []
