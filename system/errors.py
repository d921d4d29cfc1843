"""Errors the CLI reports as one clear message (and a non-zero exit) instead of a traceback."""

from __future__ import annotations

import reprlib
from typing import Any

_short = reprlib.Repr()
_short.maxlist = 6
_short.maxstring = 40
_short.maxother = 40
_short.maxlong = 40


def short(value: Any) -> str:
    """A repr of ``value`` cut to a few dozen characters: messages name an input, never echo it whole."""
    text = _short.repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class QdcError(Exception):
    """Bad input from the user: a recipe, a file, a flag. The message names what to fix."""


class InputFileError(QdcError):
    """A data file that cannot be used; the message names the file and, where known, the line."""
