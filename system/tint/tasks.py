"""The TInt task registry. A task is a plain function over traced ints; registering it is all it needs.

Tasks operate on a list of ``TInt`` leaves and return a ``TInt`` or a list of them. Every arithmetic
operation and comparison they perform becomes a trace step, so the trace *is* the chain of thought.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from system.tint.traced import TInt, Tracer

TaskFn = Callable[[list[TInt], Tracer], "TInt | list[TInt]"]
InputSampler = Callable[["object", int, tuple[int, int]], list[int]]


@dataclass(frozen=True)
class Task:
    """A registered task. ``arity`` fixes the input length (None: a list of any length >= 2)."""

    name: str
    fn: TaskFn
    description: str
    arity: int | None = None
    returns_list: bool = False
    # Optional custom input sampler: (rng, length, digit_range) -> list of ints.
    sampler: InputSampler | None = field(default=None, compare=False)


TASKS: dict[str, Task] = {}


def register(
    name: str,
    description: str,
    *,
    arity: int | None = None,
    returns_list: bool = False,
    sampler: InputSampler | None = None,
) -> Callable[[TaskFn], TaskFn]:
    def wrap(fn: TaskFn) -> TaskFn:
        if name in TASKS:
            raise ValueError(f"TInt task {name!r} is registered twice")
        TASKS[name] = Task(name, fn, description, arity, returns_list, sampler)
        return fn

    return wrap


class UnknownTaskError(KeyError):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"unknown TInt task {self.name!r}; known tasks: {', '.join(sorted(TASKS))}"


def get_task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise UnknownTaskError(name) from None


# --------------------------------------------------------------------------------------------------
# helpers shared by tasks (plain Python over traced ints)


def _total(xs: Sequence[TInt]) -> TInt:
    total = xs[0]
    for x in xs[1:]:
        total = total + x
    return total


def _digits(t: Tracer, x: TInt) -> list[TInt]:
    """Decimal digits of an input number, least significant first, as leaves (reading a digit is not a step)."""
    return t.leaf_list(int(d) for d in reversed(str(int(x))))


def _from_digits(digits: Sequence[TInt]) -> int:
    """Assemble digits (least significant first) into the answer; reading them off is not a step."""
    return int("".join(str(int(d)) for d in reversed(digits)))


# --------------------------------------------------------------------------------------------------
# the noise study's own tasks


@register("add", "grade-school addition of two numbers, column by column with carries", arity=2)
def add(xs: list[TInt], t: Tracer) -> int:
    da, db = _digits(t, xs[0]), _digits(t, xs[1])
    width = max(len(da), len(db))
    da += t.leaf_list([0] * (width - len(da)))
    db += t.leaf_list([0] * (width - len(db)))
    carry: TInt | None = None
    out: list[TInt] = []
    for i in range(width):
        s = da[i] + db[i]
        if carry:
            s = s + carry
        out.append(s % 10)
        carry = s // 10
    if carry:
        out.append(carry)
    return _from_digits(out)


@register("mul", "grade-school multiplication: one partial product per digit of the second number", arity=2)
def mul(xs: list[TInt], t: Tracer) -> TInt:
    a = xs[0]
    acc: TInt | None = None
    for place, d in enumerate(_digits(t, xs[1])):
        partial = a * d
        if place:
            partial = partial * (10**place)
        acc = partial if acc is None else acc + partial
    assert acc is not None
    return acc


@register("median", "median through a traced sort; the mean of the middle two for even lengths")
def median(xs: list[TInt], t: Tracer) -> TInt:
    s = sorted(xs)
    n = len(s)
    if n % 2:
        return s[n // 2]
    return (s[n // 2 - 1] + s[n // 2]) // 2


# --------------------------------------------------------------------------------------------------
# list tasks


@register("sum", "sum of a list, left to right")
def sum_(xs: list[TInt], t: Tracer) -> TInt:
    return _total(xs)


@register("max", "largest element")
def max_(xs: list[TInt], t: Tracer) -> TInt:
    return max(xs)


@register("min", "smallest element")
def min_(xs: list[TInt], t: Tracer) -> TInt:
    return min(xs)


@register("range", "largest minus smallest element")
def range_(xs: list[TInt], t: Tracer) -> TInt:
    return max(xs) - min(xs)


@register("sort", "the list in ascending order (a traced sort)", returns_list=True)
def sort_(xs: list[TInt], t: Tracer) -> list[TInt]:
    return sorted(xs)


@register("mean", "floor of the mean")
def mean(xs: list[TInt], t: Tracer) -> TInt:
    return _total(xs) // len(xs)


def _sample_with_repeat(rng: "object", length: int, digits: tuple[int, int]) -> list[int]:
    """A list whose most frequent value is unique, so that `mode` has one right answer."""
    from system.tint.sampling import sample_numbers

    values = sample_numbers(rng, max(length, 3), digits)
    winner = values[0]
    while True:
        others = [v for v in values if v != winner]
        top_other = max((others.count(v) for v in others), default=0)
        if values.count(winner) > top_other:
            break
        values[values.index(others[0])] = winner
    rng.shuffle(values)  # type: ignore[attr-defined]
    return values


@register("mode", "most frequent element (inputs have a unique mode)", sampler=_sample_with_repeat)
def mode(xs: list[TInt], t: Tracer) -> TInt:
    s = sorted(xs)
    best, best_count, run = s[0], 1, 1
    for i in range(1, len(s)):
        run = run + 1 if s[i] == s[i - 1] else 1
        if run > best_count:
            best, best_count = s[i], run
    return best


@register("prefix_sum", "running sums of the list", returns_list=True)
def prefix_sum(xs: list[TInt], t: Tracer) -> list[TInt]:
    out = [xs[0]]
    for x in xs[1:]:
        out.append(out[-1] + x)
    return out


@register("second_largest", "second largest element (a traced sort, descending pick)")
def second_largest(xs: list[TInt], t: Tracer) -> TInt:
    s = sorted(xs)
    return s[-2]
