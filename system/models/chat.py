"""The text a model sees for a prompt: the raw prompt, or the model's chat template around it.

With ``task.chat_template: auto`` a model whose tokenizer has a chat template gets the prompt as the
user turn (``add_generation_prompt``), and the completion it learns is the assistant turn: generation,
SFT and evaluation all go through `PromptFormat.text`, so the three see the same text. TRL appends the
tokenizer's EOS to every completion, which for chat models is the end-of-turn token. Scratch models
(TInt's character tokenizer, a dataset's BPE) have no template and see the raw prompt.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from system.tasks.base import TaskPrompt

MESSAGES_FIELD = "messages_json"  # a dataset prompt given as chat messages keeps them here (JSON text)


@dataclass
class PromptFormat:
    tokenizer: "PreTrainedTokenizerBase | None" = None

    @classmethod
    def for_model(cls, model_dir: str | Path, mode: str) -> "PromptFormat":
        """The format for a checkpoint folder or hub id: its chat template when ``mode`` is auto and it has one."""
        if mode == "none":
            return cls(None)
        from system.models.tokenizer import load_tokenizer

        tokenizer = load_tokenizer(model_dir)
        return cls(tokenizer if getattr(tokenizer, "chat_template", None) else None)

    @property
    def chat(self) -> bool:
        return self.tokenizer is not None

    def messages(self, prompt: str, fields: Mapping[str, Any] | None = None) -> list[dict[str, str]]:
        raw = (fields or {}).get(MESSAGES_FIELD)
        return json.loads(raw) if raw else [{"role": "user", "content": prompt}]

    def text(self, prompt: "TaskPrompt | str") -> str:
        """What the model is given for ``prompt`` (a task prompt, or raw prompt text)."""
        text, fields = (prompt, None) if isinstance(prompt, str) else (prompt.prompt, prompt.fields)
        if self.tokenizer is None:
            return text
        return self.tokenizer.apply_chat_template(self.messages(text, fields), tokenize=False,
                                                  add_generation_prompt=True)

    def texts(self, prompts: "Sequence[TaskPrompt | str]") -> list[str]:
        return [self.text(p) for p in prompts]

    def sft_rows(self, rows: Sequence[Mapping[str, Any]]) -> list[dict[str, str]]:
        """prompt/completion rows for the learner, prompts formatted (rows' ``messages_json`` honoured)."""
        if self.tokenizer is None:
            return [{"prompt": r["prompt"], "completion": r["completion"]} for r in rows]
        out = []
        for r in rows:
            msgs = self.messages(r["prompt"], r)
            out.append({"prompt": self.tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True),
                        "completion": r["completion"]})
        return out
