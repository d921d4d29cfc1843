"""Trace text: short enough for a character-level model, and parse(render(t)) == t exactly.

    prompt      "sum 12 7 33 ="
    completion  " 12+7=19 19+33=52 #52"          one step per space-separated segment, then "#answer"
    list answer " ... #7 12 33"

Parsing never evaluates anything and never raises: it matches each segment against a fixed grammar
and reads integers with a digit cap (Python refuses int() on very long digit strings).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from system.tint.traced import Step

MAX_DIGITS = 40  # longer numbers are treated as malformed rather than parsed
MAX_TEXT_CHARS = 20_000
ANSWER_MARK = "#"

_NUM = rf"-?[0-9]{{1,{MAX_DIGITS}}}"
_STEP_RE = re.compile(rf"({_NUM})(<=|>=|==|!=|[<>+\-*/%])({_NUM})=({_NUM})")
_INT_RE = re.compile(_NUM)


@dataclass(frozen=True, slots=True)
class Trace:
    """A computed or parsed chain of thought: the steps and the final answer (always a tuple)."""

    steps: tuple[Step, ...]
    answer: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ParsedText:
    """What could be read from a completion. ``ok`` means every segment and the answer parsed."""

    ok: bool
    steps: tuple[Step | None, ...]  # None where a segment is not a step
    answer: tuple[int, ...] | None

    @property
    def trace(self) -> Trace | None:
        if not self.ok or self.answer is None:
            return None
        return Trace(tuple(s for s in self.steps if s is not None), self.answer)


def render_prompt(task: str, values: list[int]) -> str:
    return f"{task} {' '.join(str(v) for v in values)} ="


def render_step(step: Step) -> str:
    return f"{step.a}{step.op}{step.b}={step.result}"


def render_answer(answer: tuple[int, ...]) -> str:
    return ANSWER_MARK + " ".join(str(v) for v in answer)


def render(trace: Trace) -> str:
    parts = [render_step(s) for s in trace.steps]
    parts.append(render_answer(trace.answer))
    return " " + " ".join(parts)


def parse_step(segment: str) -> Step | None:
    m = _STEP_RE.fullmatch(segment)
    if m is None:
        return None
    a, op, b, r = m.groups()
    return Step(int(a), op, int(b), int(r))


def _parse_ints(text: str) -> tuple[int, ...] | None:
    parts = text.split()
    if not parts or not all(_INT_RE.fullmatch(p) for p in parts):
        return None
    return tuple(int(p) for p in parts)


def parse(text: object) -> ParsedText:
    """Read steps and answer from any object; anything unreadable gives ok=False, never an exception."""
    if not isinstance(text, str) or len(text) > MAX_TEXT_CHARS:
        return ParsedText(False, (), None)
    body, mark, answer_text = text.partition(ANSWER_MARK)
    steps = tuple(parse_step(seg) for seg in body.split())
    answer = _parse_ints(answer_text) if mark else None
    ok = answer is not None and all(s is not None for s in steps)
    return ParsedText(ok, steps, answer)


def parse_prompt(text: str) -> tuple[str, list[int]] | None:
    """'sum 12 7 33 =' -> ('sum', [12, 7, 33]); None if it is not a TInt prompt."""
    parts = text.split()
    if len(parts) < 3 or parts[-1] != "=":
        return None
    values = _parse_ints(" ".join(parts[1:-1]))
    return (parts[0], list(values)) if values is not None else None
