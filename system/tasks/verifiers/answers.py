"""Reading a final answer out of free text: numbers, ``#### n``, ``\\boxed{...}``, choice letters.

Pure string functions (regular expressions and a brace counter); nothing is evaluated. Each reader
returns the answer as a normalized string, or None when the text holds no answer of its kind; none
of them raises on any input text.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

CURRENCY = "$€£¥₹"
_MINUS = "-\u2212"  # ASCII hyphen-minus and the Unicode minus sign
_GROUP_SPACE = " \u00a0\u202f"  # space, no-break space, narrow no-break space (thousands separators)

# A number somewhere in a text: an optional sign and currency sign, digits with comma thousands
# separators or plain digits, an optional decimal part. Not inside a word or right after a digit or a
# point: in "10-12" the second number is 12, not -12; in "x2" there is no number.
_SIGNS = re.escape(_MINUS + CURRENCY)
_NUMBER_IN_TEXT = re.compile(
    rf"(?<![\w.])(?P<lead>[{_SIGNS}]{{0,2}})"
    r"(?P<digits>[0-9]{1,3}(?:,[0-9]{3})+(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?![0-9])"
)
# A whole text that is one number: sign and currency first (either order), thousands separated by
# commas or spaces, then an optional unit (letters, %, °, with no digit in it).
_WHOLE_NUMBER = re.compile(
    rf"^(?P<lead>[+{_SIGNS}\s]{{0,4}})"
    rf"(?P<digits>[0-9]{{1,3}}(?:[,{_GROUP_SPACE}][0-9]{{3}})+(?:\.[0-9]+)?|[0-9]+(?:\.[0-9]+)?|\.[0-9]+)"
    r"(?P<unit>[^0-9]*)$"
)
_UNIT_START = re.compile(r"^\s*(?:[^\W\d_]|[%°µ'\"])")


def _decimal(lead: str, digits: str) -> Decimal | None:
    lead = "".join(lead.split())
    signs = sum(lead.count(m) for m in _MINUS) + lead.count("+")
    currencies = sum(lead.count(c) for c in CURRENCY)
    if signs > 1 or currencies > 1:
        return None
    for sep in "," + _GROUP_SPACE:
        digits = digits.replace(sep, "")
    try:
        value = Decimal(digits)
    except InvalidOperation:  # pragma: no cover - the patterns only pass digit strings
        return None
    return -value if any(m in lead for m in _MINUS) else value


def whole_number(text: str) -> Decimal | None:
    """The number a text consists of ("-1,234.5", "$ 40", "12 apples", "7%", "3 000"), else None."""
    s = text.strip()
    if s.endswith(".") and len(s) > 1 and s[-2].isalnum():  # a sentence's full stop
        s = s[:-1]
    m = _WHOLE_NUMBER.match(s)
    if m is None:
        return None
    unit = m.group("unit") or ""
    if unit.strip() and not _UNIT_START.match(unit):
        return None
    return _decimal(m.group("lead"), m.group("digits"))


def numbers_in(text: str) -> list[Decimal]:
    """Every number in a text, in order (comma thousands separators, signs, currency signs)."""
    out = []
    for m in _NUMBER_IN_TEXT.finditer(text):
        value = _decimal(m.group("lead"), m.group("digits"))
        if value is not None:
            out.append(value)
    return out


def read_number(text: str, *, last: bool = True) -> Decimal | None:
    """The number a text is, else its last (or first) number, else None."""
    value = whole_number(text)
    if value is not None:
        return value
    found = numbers_in(text)
    if not found:
        return None
    return found[-1] if last else found[0]


def show_number(value: Decimal) -> str:
    """A normalized spelling: no exponent, no trailing zeros, no "-0" ("72", "-3.5", "1000")."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


def same_number(a: str, b: str, tolerance: float) -> bool:
    try:
        return abs(Decimal(a) - Decimal(b)) <= Decimal(repr(float(tolerance)))
    except InvalidOperation:
        return False


# ------------------------------------------------------------------------------------------------
# gsm8k: the number after the last "####"

GSM8K_MARKER = "####"


def after_marker(text: str) -> Decimal | None:
    """The number after the last ``####`` (on the same line), else None."""
    at = text.rfind(GSM8K_MARKER)
    if at < 0:
        return None
    rest = text[at + len(GSM8K_MARKER):].lstrip(" \t").split("\n", 1)[0]
    return read_number(rest, last=False)


# ------------------------------------------------------------------------------------------------
# boxed: the content of the last \boxed{...}, nested braces counted

_BOXED = re.compile(r"\\boxed\s*\{")
_LATEX_SPACING = re.compile(r"\\[,;:! ]|\\left|\\right|\s+")


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (braces inside it balanced), else None. A last box
    that never closes (a cut-off generation) gives None."""
    starts = [m.end() for m in _BOXED.finditer(text)]
    if not starts:
        return None
    depth, start = 1, starts[-1]
    for i in range(start, len(text)):
        ch = text[i]
        if ch == "{" and text[i - 1] != "\\":
            depth += 1
        elif ch == "}" and text[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[start:i]
    return None


def normalize_math(content: str) -> str:
    """A box's content compared as text: LaTeX spacing and whitespace removed, ``$`` stripped,
    ``\\dfrac``/``\\tfrac`` read as ``\\frac``; a plain number in its normalized spelling."""
    s = content.strip().strip("$")
    s = _LATEX_SPACING.sub("", s).replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    value = whole_number(s)
    return show_number(value) if value is not None else s


def is_number_text(s: str) -> bool:
    try:
        Decimal(s)
    except InvalidOperation:
        return False
    return True


# ------------------------------------------------------------------------------------------------
# choice: a letter A-J

LETTERS = "ABCDEFGHIJ"
_CLOSE = r"(?=\s*(?:$|[.,;:!?]))"
# "the answer is d", "Answer: C", "answer is (B) because ...", "The correct answer is option E."
_STATED = re.compile(
    r"\banswer\b\s*(?:is|:|=|-)?\s*(?:option|choice|letter)?\s*:?\s*"
    r"(?:[(\[]\s*(?P<bracketed>[A-J])\s*[)\]]|(?P<bare>[A-J])(?!\w))",
    re.IGNORECASE,
)
_BRACKETED = re.compile(r"[(\[]\s*([A-J])\s*[)\]]")
_ALONE = re.compile(r"^\s*[(\[]?\s*([A-Ja-j])\s*[)\].:]?\s*$")


def choice_letter(text: str) -> str | None:
    """The chosen letter (upper case): the last stated answer ("the answer is (B)", "Answer: C",
    "the answer is d"), else a text that is only a letter ("B", "(c)", "D."), else the last
    bracketed capital "(B)"; None when there is none. A bare lower-case letter after "answer is"
    must close the clause: "the answer is a dog" states no letter."""
    stated = None
    for m in _STATED.finditer(text):
        letter = m.group("bracketed")
        bare = m.group("bare")
        if bare is not None and (bare.isupper() or re.match(_CLOSE, text[m.end():])):
            letter = bare
        if letter:
            stated = letter
    if stated:
        return stated.upper()
    alone = _ALONE.match(text)
    if alone:
        return alone.group(1).upper()
    bracketed = [m.group(1) for m in _BRACKETED.finditer(text) if m.group(1).isupper()]
    return bracketed[-1] if bracketed else None
