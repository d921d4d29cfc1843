"""A character-level tokenizer for TInt text, as a real ``PreTrainedTokenizerFast``.

Every character of a TInt prompt or completion is one token: digits, the space, the operators and
separators, and the lowercase letters and ``_`` of task names. The ``tokenizers`` pipeline splits
the text into single characters (``Split("", "isolated")``), maps each through a fixed WordLevel
vocabulary and glues them back on decode (``decoders.Fuse``; without it decode would put spaces
between characters). The post-processor prepends ``<bos>`` only: TRL appends ``<eos>`` to
completions itself, and generation stops at it.

The folder written by ``save_pretrained`` reloads with ``AutoTokenizer`` (as ``TokenizersBackend``
in transformers 5) and loads in vLLM.
"""

from __future__ import annotations

import string
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS: tuple[str, ...] = (PAD, BOS, EOS, UNK)
SYMBOLS = " +-*/%<>=!#_"
CHARACTERS: tuple[str, ...] = tuple(string.digits + SYMBOLS + string.ascii_lowercase)
MAX_LENGTH = 512


def vocabulary() -> dict[str, int]:
    """The fixed vocabulary: specials first (ids 0-3), then one id per character."""
    return {tok: i for i, tok in enumerate(SPECIALS + CHARACTERS)}


def build_tokenizer(model_max_length: int = MAX_LENGTH) -> PreTrainedTokenizerFast:
    vocab = vocabulary()
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(pattern=Regex(""), behavior="isolated")
    core.decoder = decoders.Fuse()
    return wrap(core, model_max_length)


def wrap(core: Tokenizer, model_max_length: int) -> PreTrainedTokenizerFast:
    """The project's specials and conventions around a ``tokenizers`` pipeline: ``<bos>`` prepended
    (TRL appends ``<eos>`` itself), padding on the left for decoder-only generation."""
    core.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A $B", special_tokens=[(BOS, core.token_to_id(BOS))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        model_max_length=model_max_length,
        padding_side="left",  # decoder-only generation pads on the left
        clean_up_tokenization_spaces=False,
    )


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerBase:
    """Load the tokenizer of a checkpoint folder (ours or any HF tokenizer)."""
    tok = AutoTokenizer.from_pretrained(str(path))
    if tok.pad_token is None and tok.eos_token is not None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "left"
    return tok
