"""The byte-level BPE tokenizer for text tasks: digits one per token, specials as the character
tokenizer has them, any UTF-8 text round-trips, save/reload, and a scratch model with it in vLLM."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from system.models.bpe_tokenizer import build_bpe_tokenizer
from system.models.tokenizer import SPECIALS, build_tokenizer, load_tokenizer

SEED_TEXT = [
    "Mia has 12 stickers. She buys 30 more. Then she gives 7 to a friend. How many stickers does Mia have now?",
    "12 + 30 = 42\n42 - 7 = 35\n#### 35",
    "A baker has 48 cupcakes. He packs them equally into 6 boxes and keeps one box. How many cupcakes does he keep?",
    "48 / 6 = 8\n#### 8",
] * 40


@pytest.fixture(scope="module")
def tok():  # type: ignore[no-untyped-def]
    return build_bpe_tokenizer(SEED_TEXT, vocab_size=400, model_max_length=256)


def test_specials_have_the_character_tokenizers_ids_and_roles(tok) -> None:  # type: ignore[no-untyped-def]
    char = build_tokenizer()
    for name in ("pad", "bos", "eos", "unk"):
        assert getattr(tok, f"{name}_token") == getattr(char, f"{name}_token")
        assert getattr(tok, f"{name}_token_id") == getattr(char, f"{name}_token_id")
    ids = tok("How many?")["input_ids"]
    assert ids[0] == tok.bos_token_id and tok.eos_token_id not in ids  # <bos> $A only
    assert tok.padding_side == "left"
    batch = tok(["a", "a much longer text"], padding=True)["input_ids"]
    assert batch[0][0] == tok.pad_token_id and batch[1][0] == tok.bos_token_id


def test_bpe_learns_words_but_splits_digits(tok) -> None:  # type: ignore[no-untyped-def]
    vocab = tok.get_vocab()
    assert 260 < len(tok) <= 400 and "Ġstickers" in vocab  # frequent words merge into one token
    assert not [t for t in vocab if sum(ch.isdigit() for ch in t) > 1]  # no merged digits anywhere
    tokens = tok.convert_ids_to_tokens(tok("48 / 6 = 8 and 12345")["input_ids"])
    assert [t for t in tokens if any(ch.isdigit() for ch in t)] == ["4", "8", "6", "8", "1", "2", "3", "4", "5"]


def test_the_prompt_is_a_token_prefix_of_prompt_and_completion(tok) -> None:  # type: ignore[no-untyped-def]
    prompt, completion = SEED_TEXT[0], "\n12 + 30 = 42\n#### 42"
    assert tok(prompt + completion)["input_ids"][: len(tok(prompt)["input_ids"])] == tok(prompt)["input_ids"]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_text_round_trips(tok, text: str) -> None:  # type: ignore[no-untyped-def]
    assume(not any(special in text for special in SPECIALS))  # "<eos>" in a text is the token, as in every HF tokenizer
    ids = tok(text)["input_ids"]
    assert tok.unk_token_id not in ids
    assert tok.decode(ids, skip_special_tokens=True) == text


def test_rare_scripts_and_control_characters_round_trip(tok) -> None:  # type: ignore[no-untyped-def]
    text = "Ünïcödé 中文 🙂\t\r\n  two  spaces\x00 — “quotes” ½"
    assert tok.decode(tok(text)["input_ids"], skip_special_tokens=True) == text


def test_the_same_text_gives_the_same_tokenizer_and_small_vocabs_are_refused() -> None:
    a = build_bpe_tokenizer(SEED_TEXT, vocab_size=300, model_max_length=64)
    b = build_bpe_tokenizer(SEED_TEXT, vocab_size=300, model_max_length=64)
    assert a.get_vocab() == b.get_vocab() and a.model_max_length == 64
    with pytest.raises(ValueError, match="at least 260"):
        build_bpe_tokenizer(SEED_TEXT, vocab_size=100, model_max_length=64)


def test_saves_and_reloads_with_autotokenizer(tok, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tok.save_pretrained(tmp_path)
    again = load_tokenizer(tmp_path)
    for text in SEED_TEXT[:4] + ["Ünïcödé 🙂 99"]:
        assert again(text)["input_ids"] == tok(text)["input_ids"]
    assert (again.pad_token_id, again.bos_token_id, again.eos_token_id, again.unk_token_id) == (0, 1, 2, 3)
    assert again("35" + again.eos_token)["input_ids"][-1] == again.eos_token_id
    assert again.padding_side == "left"


@pytest.mark.slow
def test_a_scratch_llama_with_it_runs_in_vllm(tok, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """vLLM loads the folder, tokenizes the prompt as we do, and agrees with HF greedy decoding."""
    import torch
    from transformers import LlamaForCausalLM
    from vllm import LLM, SamplingParams

    from system.models.config import ModelConfig
    from system.models.factory import llama_config, save_checkpoint

    torch.manual_seed(0)
    model = LlamaForCausalLM(llama_config(ModelConfig(hidden=64, layers=2, heads=2, intermediate=128), tok))
    folder = save_checkpoint(model, tok, tmp_path / "model")
    prompt = "Mia has 12 stickers. She buys 30 more. How many stickers does Mia have now?"
    llm = LLM(model=str(folder), tokenizer=str(folder), dtype="float32", enforce_eager=True, seed=0,
              max_model_len=256, enable_chunked_prefill=False)
    try:
        [out] = llm.generate([prompt], SamplingParams(temperature=0.0, max_tokens=12, ignore_eos=True))
    finally:
        del llm
    assert list(out.prompt_token_ids) == tok(prompt)["input_ids"]
    ids = list(out.outputs[0].token_ids)
    assert len(ids) == 12 and out.outputs[0].text == tok.decode(ids, skip_special_tokens=True)
    inputs = tok(prompt, return_tensors="pt")
    hf = model.generate(**inputs, max_new_tokens=12, min_new_tokens=12, do_sample=False, pad_token_id=tok.pad_token_id)
    assert hf[0, inputs["input_ids"].shape[1]:].tolist() == ids
