"""Traced integers: ordinary Python arithmetic that records every operation it performs.

A task is a plain function over ``TInt`` values. Each arithmetic operation returns a new ``TInt``
and appends a :class:`Step` (operands, operator, result) to the run's :class:`Tracer`; each
comparison appends a step whose result is 0 or 1 and returns a real ``bool`` so that ``sorted``,
``max`` and ``if`` work unchanged.

The tracer can also *change* results while computing, which is how dynamic noise is made and how
the verifier replays a hypothesis ("what if step k had produced value v?"): ``overrides`` forces
the result of given step indices, ``perturb`` is called on every fresh result and may return a
different one. A changed result flows into every later step, exactly like a real mistake.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

ARITHMETIC_OPS = ("+", "-", "*", "/", "%")
COMPARISON_OPS = ("<", ">", "<=", ">=", "==", "!=")
OPS = ARITHMETIC_OPS + COMPARISON_OPS


@dataclass(frozen=True, slots=True)
class Step:
    """One recorded operation: ``a op b = result``. Comparisons have result 0 or 1."""

    a: int
    op: str
    b: int
    result: int

    @property
    def is_comparison(self) -> bool:
        return self.op in COMPARISON_OPS


def apply_op(a: int, op: str, b: int) -> int | None:
    """The true result of ``a op b`` (floor division and modulo, comparisons as 0/1).

    Returns None where the operation is undefined (division by zero), so callers never raise.
    """
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a // b if b != 0 else None
    if op == "%":
        return a % b if b != 0 else None
    if op == "<":
        return int(a < b)
    if op == ">":
        return int(a > b)
    if op == "<=":
        return int(a <= b)
    if op == ">=":
        return int(a >= b)
    if op == "==":
        return int(a == b)
    if op == "!=":
        return int(a != b)
    return None


Perturb = Callable[[int, Step], int]


class Tracer:
    """Collects the steps of one task run; optionally forces or perturbs results."""

    __slots__ = ("steps", "overrides", "perturb", "leaves")

    def __init__(self, overrides: dict[int, int] | None = None, perturb: Perturb | None = None):
        self.steps: list[Step] = []
        self.overrides = overrides or {}
        self.perturb = perturb
        # Operand values that came from outside the computation (inputs, digits, constants).
        self.leaves: set[int] = set()

    def leaf(self, value: int) -> "TInt":
        self.leaves.add(int(value))
        return TInt(int(value), self, True)

    def leaf_list(self, values: Iterable[int]) -> list["TInt"]:
        return [self.leaf(v) for v in values]

    def record(self, a: int, op: str, b: int, result: int) -> int:
        """Append a step and return the result the computation continues with."""
        index = len(self.steps)
        if index in self.overrides:
            result = self.overrides[index]
        elif self.perturb is not None:
            result = self.perturb(index, Step(a, op, b, result))
        self.steps.append(Step(a, op, b, result))
        return result


def _operand(tracer: Tracer, other: object) -> tuple[int, bool]:
    """Value of an operand and whether it is a leaf (an untraced constant)."""
    if isinstance(other, TInt):
        return other.value, other.is_leaf
    if isinstance(other, bool) or not isinstance(other, int):
        raise TypeError(f"TInt arithmetic needs int operands, got {type(other).__name__}")
    tracer.leaves.add(other)
    return other, True


class TInt:
    """An integer that records the arithmetic and comparisons done with it."""

    __slots__ = ("value", "tracer", "is_leaf")

    def __init__(self, value: int, tracer: Tracer, is_leaf: bool = False):
        self.value = value
        self.tracer = tracer
        self.is_leaf = is_leaf

    # -- arithmetic ---------------------------------------------------------------------------
    def _arith(self, op: str, other: object, reflected: bool = False) -> "TInt":
        b, _ = _operand(self.tracer, other)
        a = self.value
        if reflected:
            a, b = b, a
        true = apply_op(a, op, b)
        if true is None:
            raise ZeroDivisionError(f"{a}{op}{b}")
        return TInt(self.tracer.record(a, op, b, true), self.tracer)

    def __add__(self, o: object) -> "TInt":
        return self._arith("+", o)

    def __radd__(self, o: object) -> "TInt":
        return self._arith("+", o, True)

    def __sub__(self, o: object) -> "TInt":
        return self._arith("-", o)

    def __rsub__(self, o: object) -> "TInt":
        return self._arith("-", o, True)

    def __mul__(self, o: object) -> "TInt":
        return self._arith("*", o)

    def __rmul__(self, o: object) -> "TInt":
        return self._arith("*", o, True)

    def __floordiv__(self, o: object) -> "TInt":
        return self._arith("/", o)

    def __rfloordiv__(self, o: object) -> "TInt":
        return self._arith("/", o, True)

    def __mod__(self, o: object) -> "TInt":
        return self._arith("%", o)

    def __rmod__(self, o: object) -> "TInt":
        return self._arith("%", o, True)

    # -- comparisons: recorded, and returned as plain bools ------------------------------------
    def _compare(self, op: str, other: object) -> bool:
        b, _ = _operand(self.tracer, other)
        true = apply_op(self.value, op, b)
        assert true is not None
        return bool(self.tracer.record(self.value, op, b, true))

    def __lt__(self, o: object) -> bool:
        return self._compare("<", o)

    def __gt__(self, o: object) -> bool:
        return self._compare(">", o)

    def __le__(self, o: object) -> bool:
        return self._compare("<=", o)

    def __ge__(self, o: object) -> bool:
        return self._compare(">=", o)

    def __eq__(self, o: object) -> bool:  # type: ignore[override]
        return self._compare("==", o)

    def __ne__(self, o: object) -> bool:  # type: ignore[override]
        return self._compare("!=", o)

    # -- untraced views -----------------------------------------------------------------------
    def __hash__(self) -> int:
        return hash(self.value)

    def __int__(self) -> int:
        return self.value

    def __index__(self) -> int:
        return self.value

    def __bool__(self) -> bool:
        return self.value != 0

    def __repr__(self) -> str:
        return f"TInt({self.value})"


def plain(value: object) -> int | list[int]:
    """Convert a task's return value (TInt, int or a list of them) to plain ints."""
    if isinstance(value, (list, tuple)):
        return [int(v) for v in value]  # type: ignore[arg-type]
    return int(value)  # type: ignore[arg-type]
