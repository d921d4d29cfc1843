"""The built-in answer verifiers: exact, numeric, regex, gsm8k, boxed, choice.

Each reads the answer out of the completion and out of the reference with the same rule (a gsm8k
reference that holds a whole worked solution ending in ``#### 72`` reads as 72; a reference with a
``\\boxed{..}`` reads as its content; a bare reference reads as itself), then compares the two.
Quality is 1.0 when they match and 0.0 otherwise; ``Verdict.answer`` is the completion's answer in
normalized spelling (None when it holds none).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from system.tasks.base import Verdict
from system.tasks.verifiers import answers
from system.tasks.verifiers.base import AnswerVerifier, VerifyItem, reference_text, shorten

if TYPE_CHECKING:
    from system.tasks.config import VerifierConfig


class ExtractingVerifier(AnswerVerifier):
    """Extract an answer from each side, compare them."""

    describe: ClassVar[str] = "an answer"

    def __init__(self, tolerance: float = 1e-6) -> None:
        self.tolerance = tolerance

    @classmethod
    def from_config(cls, config: "VerifierConfig") -> "ExtractingVerifier":
        return cls(tolerance=config.tolerance)

    def extract(self, completion: str) -> str | None:
        """The completion's answer, normalized; None when it holds none."""
        raise NotImplementedError

    def reference(self, ground_truth: Any) -> str | None:
        """The reference answer, normalized; None when it cannot be read."""
        text = reference_text(ground_truth)
        return None if text is None else self.extract(text)

    def same(self, answer: str, reference: str) -> bool:
        return answer == reference

    def reference_problem(self, ground_truth: Any) -> str | None:
        if self.reference(ground_truth) is not None:
            return None
        return f"the {self.name} verifier finds {self.describe} in the reference {shorten(repr(ground_truth), 80)}"

    def judge(self, items: Sequence[VerifyItem]) -> list[Verdict]:
        return [self._judge(item) for item in items]

    def _judge(self, item: VerifyItem) -> Verdict:
        reference = self.reference(item.ground_truth)
        if reference is None:
            return Verdict.failed(f"unreadable reference: {self.reference_problem(item.ground_truth)}")
        answer = self.extract(item.completion if isinstance(item.completion, str) else "")
        correct = answer is not None and self.same(answer, reference)
        return Verdict(quality=1.0 if correct else 0.0, correct=correct, answer=answer)


class ExactVerifier(ExtractingVerifier):
    """The trimmed completion equals the trimmed reference."""

    name = "exact"
    describe = "no text"

    def extract(self, completion: str) -> str | None:
        return completion.strip() or None


class NumericVerifier(ExtractingVerifier):
    """The number the completion is (or its last number) equals the reference within ``tolerance``.
    Thousands separators (commas, spaces), a leading sign or currency sign and a trailing unit are
    read past: "-$1,234.50", "3 000", "12 apples", "7%". A decimal comma is not a decimal point."""

    name = "numeric"
    describe = "no number"

    def extract(self, completion: str) -> str | None:
        value = answers.read_number(completion)
        return None if value is None else answers.show_number(value)

    def same(self, answer: str, reference: str) -> bool:
        return answers.same_number(answer, reference, self.tolerance)


class Gsm8kVerifier(NumericVerifier):
    """The number after the last ``####`` (GSM8K's answer format). A reference without the marker is
    read as a number."""

    name = "gsm8k"
    describe = "no number (after ####, or alone)"

    def extract(self, completion: str) -> str | None:
        value = answers.after_marker(completion)
        return None if value is None else answers.show_number(value)

    def reference(self, ground_truth: Any) -> str | None:
        text = reference_text(ground_truth)
        if text is None:
            return None
        if answers.GSM8K_MARKER in text:
            return self.extract(text)
        return super().extract(text)


class BoxedVerifier(ExtractingVerifier):
    """The content of the last ``\\boxed{...}`` (nested braces counted), compared without spacing;
    numbers within ``tolerance``. A reference without a box is compared as it is."""

    name = "boxed"
    describe = "no answer (boxed or bare)"

    def extract(self, completion: str) -> str | None:
        content = answers.last_boxed(completion)
        if content is None:
            return None
        return answers.normalize_math(content) or None

    def reference(self, ground_truth: Any) -> str | None:
        text = reference_text(ground_truth)
        if text is None:
            return None
        if answers.last_boxed(text) is not None:
            return self.extract(text)
        return answers.normalize_math(text) or None

    def same(self, answer: str, reference: str) -> bool:
        if answers.is_number_text(answer) and answers.is_number_text(reference):
            return answers.same_number(answer, reference, self.tolerance)
        return answer == reference


class ChoiceVerifier(ExtractingVerifier):
    """A multiple-choice letter A-J: "(B)", "Answer: C", "the answer is d", or a lone letter. A
    reference may also be an integer index (0 -> A, as in MMLU's ``answer`` column)."""

    name = "choice"
    describe = "no choice letter A-J"

    def extract(self, completion: str) -> str | None:
        return answers.choice_letter(completion)

    def reference(self, ground_truth: Any) -> str | None:
        if isinstance(ground_truth, int) and not isinstance(ground_truth, bool):
            return answers.LETTERS[ground_truth] if 0 <= ground_truth < len(answers.LETTERS) else None
        return super().reference(ground_truth)


class RegexVerifier(ExtractingVerifier):
    """The last match of ``pattern``'s one group in the completion (trimmed) equals the reference
    (its last match when the pattern matches it, else the trimmed reference)."""

    name = "regex"
    describe = "no text"

    def __init__(self, pattern: str, tolerance: float = 1e-6) -> None:
        super().__init__(tolerance)
        self.pattern = re.compile(pattern)

    @classmethod
    def from_config(cls, config: "VerifierConfig") -> "RegexVerifier":
        assert config.pattern is not None  # VerifierConfig requires it for name regex
        return cls(config.pattern, tolerance=config.tolerance)

    def extract(self, completion: str) -> str | None:
        last = None
        for m in self.pattern.finditer(completion):
            last = m
        if last is None or last.group(1) is None:
            return None
        return last.group(1).strip() or None

    def reference(self, ground_truth: Any) -> str | None:
        text = reference_text(ground_truth)
        if text is None:
            return None
        return self.extract(text) or text.strip() or None
