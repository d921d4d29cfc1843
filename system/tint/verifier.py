"""The step verifier: any string in, a verdict out. Never evaluates text, never raises on text.

Local checks read only the text and the input:
  * each step's own arithmetic (``12+7=19``),
  * chain consistency: every operand is grounded, i.e. equals a value of the input (or a constant
    the task itself uses, such as the 10 of a carry) or the result of an earlier step. This is the
    signal that catches copying errors (``274+67=341`` when the prompt says 57).

The noise classification replays the task. First it forces every written result that differs from
the replay and replays again: if that reproduces the text exactly and a forced value changed
something downstream (a later operand, the answer), the error propagated: dynamic. Otherwise, at
each step that deviates from the replay, two hypotheses are compared on the steps that follow: *static* (the error is local: later steps go on
with the replay's values) and *dynamic* (the step's written result was really used: replay again
with that result forced, and later steps follow the new values). Dynamic wins only when it explains
the later operands and the answer strictly better; a tie is static, because an error that changes
nothing downstream did not propagate. Two cases cannot be told apart from text alone and are
counted as the classifier decides: a dynamic error whose value never reaches a later step or the
answer (reads as static), and static noise that happens to change a result and everything that
uses it the same way (reads as dynamic).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from system.tint.execute import Execution, execute, true_execution
from system.tint.tasks import Task, get_task
from system.tint.text import ParsedText, Trace, parse, render
from system.tint.traced import Step, apply_op

NoiseVerdict = Literal["none", "static", "dynamic", "malformed"]
DROPPED_LINE_WINDOW = 4


@dataclass(frozen=True, slots=True)
class Verdict:
    parsed: bool
    answer_correct: bool
    steps_valid: float  # fraction of segments that are steps with correct arithmetic
    chain_consistent: bool
    first_bad_step: int | None  # index of the first bad segment; len(steps) means the answer line
    noise_kind: NoiseVerdict
    n_steps: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verify(task: Task | str, values: list[int], text: object) -> Verdict:
    """Judge ``text`` as a completion for ``task`` on ``values``.

    ``task`` and ``values`` are the caller's truth and must be valid (a registered task, a list of
    ints); ``text`` may be anything at all.
    """
    task = get_task(task) if isinstance(task, str) else task
    truth = true_execution(task, values)
    if isinstance(text, str) and text == render(truth.trace):
        return Verdict(True, True, 1.0, True, None, "none", len(truth.trace.steps))
    parsed = parse(text)
    steps_valid, chain_ok, first_bad = _local_checks(parsed, truth, values)
    answer_correct = parsed.answer == truth.trace.answer
    if first_bad is None and not answer_correct:
        first_bad = len(parsed.steps)
    trace = parsed.trace
    kind: NoiseVerdict = "malformed" if trace is None else _classify(task, values, truth, trace)
    return Verdict(parsed.ok, answer_correct, steps_valid, chain_ok, first_bad, kind, len(parsed.steps))


def _local_checks(parsed: ParsedText, truth: Execution, values: list[int]) -> tuple[float, bool, int | None]:
    pool = set(truth.leaves)
    pool.update(values)
    n_valid = 0
    chain_ok = True
    first_bad: int | None = None
    for i, step in enumerate(parsed.steps):
        if step is None:
            chain_ok = False
            first_bad = i if first_bad is None else first_bad
            continue
        valid = apply_op(step.a, step.op, step.b) == step.result
        grounded = step.a in pool and step.b in pool
        n_valid += valid
        chain_ok = chain_ok and grounded
        if first_bad is None and not (valid and grounded):
            first_bad = i
        if not step.is_comparison:
            pool.add(step.result)
    n = len(parsed.steps)
    steps_valid = n_valid / n if n else float(parsed.ok)
    return steps_valid, chain_ok, first_bad


def _operands(step: Step) -> tuple[int, str, int]:
    return step.a, step.op, step.b


def _agreement(written: tuple[Step, ...], answer: tuple[int, ...], i: int, sim: Execution, j: int) -> int:
    """How many later written steps use the operands that ``sim`` predicts, plus one for the answer."""
    predicted = sim.trace.steps
    score = sum(
        1
        for k in range(min(len(written) - i, len(predicted) - j))
        if _operands(written[i + k]) == _operands(predicted[j + k])
    )
    return score + (answer == sim.trace.answer)


class _Replays:
    """Replays of one task on one input, memoized by their forced results (both classifiers ask for
    the same first replay)."""

    def __init__(self, task: Task, values: list[int]):
        self.task, self.values = task, values
        self._cache: dict[tuple[tuple[int, int], ...], Execution | None] = {}

    def __call__(self, overrides: dict[int, int]) -> Execution | None:
        key = tuple(sorted(overrides.items()))
        if key not in self._cache:
            self._cache[key] = execute(self.task, self.values, dict(overrides))
        return self._cache[key]


def _forced_replay(replay_with: _Replays, truth: Execution, written: Trace) -> Execution | None:
    """Replay forcing every written result that differs; the replay if it reproduces the text exactly."""
    sim, overrides = truth, {}
    for j, step in enumerate(written.steps):
        predicted = sim.trace.steps
        if j >= len(predicted) or _operands(step) != _operands(predicted[j]):
            return None
        if step.result != predicted[j].result:
            overrides[j] = step.result
            replay = replay_with(overrides)
            if replay is None:
                return None
            sim = replay
    return sim if sim.trace == written else None


def _propagated(truth: Trace, replay: Trace) -> bool:
    """Did a forced result change anything downstream: a later operand, the trace's shape, the answer?"""
    if len(truth.steps) != len(replay.steps) or truth.answer != replay.answer:
        return True
    return any(_operands(a) != _operands(b) for a, b in zip(truth.steps, replay.steps))


def _classify(task: Task, values: list[int], truth: Execution, written: Trace) -> NoiseVerdict:
    if written == truth.trace:
        return "none"
    replay_with = _Replays(task, values)
    exact = _forced_replay(replay_with, truth, written)
    if exact is not None:
        # Every written value follows from the input and the written results before it.
        return "dynamic" if _propagated(truth.trace, exact.trace) else "static"
    return _classify_by_lookahead(replay_with, truth, written)


def _classify_by_lookahead(replay_with: _Replays, truth: Execution, written: Trace) -> NoiseVerdict:
    steps, answer = written.steps, written.answer
    sim, overrides = truth, {}
    static = dynamic = False
    i = j = 0
    while i < len(steps):
        predicted = sim.trace.steps
        if j < len(predicted) and steps[i] == predicted[j]:
            i, j = i + 1, j + 1
            continue
        # A step missing from the text (a dropped line): the written step reappears a little later.
        later = predicted[j + 1 : j + 1 + DROPPED_LINE_WINDOW]
        if steps[i] in later:
            static = True
            j += 1 + later.index(steps[i])
            continue
        if j >= len(predicted):  # more steps than any hypothesis explains: a local error
            static = True
            break
        alternative: Execution | None = None
        if steps[i].result != predicted[j].result:
            alternative = replay_with({**overrides, j: steps[i].result})
        if alternative is not None and _agreement(steps, answer, i + 1, alternative, j + 1) > _agreement(
            steps, answer, i + 1, sim, j + 1
        ):
            dynamic = True
            overrides[j] = steps[i].result
            sim = alternative
        else:
            static = True
        i, j = i + 1, j + 1
    if answer != sim.trace.answer or j < len(sim.trace.steps):
        static = True
    if dynamic and answer == sim.trace.answer:
        # The forced values explain the text's own answer: the errors carried through to it.
        return "dynamic"
    return "static" if static or dynamic else "none"


def verify_record(record: dict[str, Any], field: str = "completion") -> Verdict:
    return verify(record["task"], record["input"], record.get(field))
