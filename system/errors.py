"""Errors the CLI reports as one clear message (and a non-zero exit) instead of a traceback."""


class QdcError(Exception):
    """Bad input from the user: a recipe, a file, a flag. The message names what to fix."""


class InputFileError(QdcError):
    """A data file that cannot be used; the message names the file and, where known, the line."""
