"""Answer verifiers behind one interface, a registry by ``task.verifier.name``.

    verifier = build_verifier(recipe.task.verifier)
    verdicts = verifier.judge([VerifyItem(prompt, completion, ground_truth, data_source, extra_info), ...])

Built in: exact, numeric, regex, gsm8k, boxed, choice (`builtin`); python: the user's function in
verl's or TRL's convention (`python_function`). A verifier holds the user's imported function and a
worker thread: build it in the process that uses it (it is not meant to be pickled).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from system.tasks.verifiers.base import AnswerVerifier, VerifierTimeout, VerifyItem

if TYPE_CHECKING:
    from system.tasks.config import VerifierConfig

_VERIFIERS: dict[str, str] = {
    "exact": "system.tasks.verifiers.builtin:ExactVerifier",
    "numeric": "system.tasks.verifiers.builtin:NumericVerifier",
    "regex": "system.tasks.verifiers.builtin:RegexVerifier",
    "gsm8k": "system.tasks.verifiers.builtin:Gsm8kVerifier",
    "boxed": "system.tasks.verifiers.builtin:BoxedVerifier",
    "choice": "system.tasks.verifiers.builtin:ChoiceVerifier",
    "python": "system.tasks.verifiers.python_function:PythonVerifier",
}


def verifier_names() -> tuple[str, ...]:
    return tuple(_VERIFIERS)


def verifier_class(name: str) -> type[AnswerVerifier]:
    if name not in _VERIFIERS:
        raise KeyError(f"unknown verifier {name!r}; known: {', '.join(_VERIFIERS)}")
    module_name, _, class_name = _VERIFIERS[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def build_verifier(config: "VerifierConfig") -> AnswerVerifier:
    """The verifier ``task.verifier`` names (a python function is imported and its convention read here:
    a function with neither `solution_str` nor `completions` is refused with a TaskDataError)."""
    return verifier_class(config.name).from_config(config)


__all__ = ["AnswerVerifier", "VerifierTimeout", "VerifyItem", "build_verifier", "verifier_class", "verifier_names"]
