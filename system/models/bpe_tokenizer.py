"""A byte-level BPE tokenizer trained on a task's own text, for scratch models on free text.

Built with HF ``tokenizers`` as GPT-2/Llama 3/Qwen do: the ByteLevel pre-tokenizer maps every byte
to a symbol (the 256 of them are always in the vocabulary, so any UTF-8 text encodes and decodes back
exactly, with no unknown token), and BPE merges are learned from the seed text. Digits are split one
per token first (``pre_tokenizers.Digits(individual_digits=True)``, as Llama and Qwen do): merged digit
tokens ("72" as one token, "73" as another) make arithmetic much harder for a small model to learn.

The specials and their roles are those of the character tokenizer (`system.models.tokenizer`):
``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2, ``<unk>`` 3; the post-processor prepends ``<bos>`` only (TRL
appends ``<eos>`` to completions itself, and generation stops at it); padding is on the left.
``save_pretrained`` writes a folder that ``AutoTokenizer`` reloads and vLLM loads.

Merges never cross a pre-token boundary (a word with its leading space, a single digit, a run of
punctuation), so a prompt's tokens are a prefix of prompt + completion's tokens whenever the prompt
ends at such a boundary: a prompt should not end in a space that the completion's first word would
take ("Q: " + "five" is tokenized differently from "Q: five").
"""

from __future__ import annotations

from typing import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from system.models.tokenizer import SPECIALS, wrap

BYTE_ALPHABET = 256
MIN_VOCAB_SIZE = len(SPECIALS) + BYTE_ALPHABET


def build_bpe_tokenizer(texts: Iterable[str], *, vocab_size: int, model_max_length: int) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on ``texts`` (seed prompts and completions). ``vocab_size`` is
    an upper bound (at least 260: 4 specials + 256 bytes); a small text yields fewer merges. The same
    texts in the same order give the same tokenizer."""
    if vocab_size < MIN_VOCAB_SIZE:
        raise ValueError(f"vocab_size must be at least {MIN_VOCAB_SIZE} (4 specials + 256 bytes), got {vocab_size}")
    core = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    core.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    core.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIALS),  # ids 0-3, in the character tokenizer's order
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    core.train_from_iterator(texts, trainer=trainer)
    return wrap(core, model_max_length)
