"""The character tokenizer and the model factory: round trips, determinism, loading folders."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from system.models.config import ModelConfig
from system.models.factory import CheckpointError, build_model, count_parameters, load_pretrained, save_checkpoint
from system.models.tokenizer import CHARACTERS, build_tokenizer, load_tokenizer
from system.tint import TASKS, sample_records


def test_every_tint_character_is_one_token_and_decodes_back() -> None:
    tok = build_tokenizer()
    text = "".join(CHARACTERS)
    ids = tok(text)["input_ids"]
    assert ids[0] == tok.bos_token_id and len(ids) == len(text) + 1
    assert tok.unk_token_id not in ids
    assert tok.decode(ids, skip_special_tokens=True) == text
    for task in TASKS:
        for r in sample_records(task, "id", 5, seed=1):
            full = r["prompt"] + r["completion"]
            assert tok.decode(tok(full)["input_ids"], skip_special_tokens=True) == full


def test_tokenizer_saves_and_reloads(tmp_path: Path) -> None:
    tok = build_tokenizer()
    tok.save_pretrained(tmp_path)
    again = load_tokenizer(tmp_path)
    text = "sum 12 7 33 = 12+7=19 19+33=52 #52"
    assert again(text)["input_ids"] == tok(text)["input_ids"]
    assert (again.bos_token_id, again.eos_token_id, again.pad_token_id) == (1, 2, 0)
    assert again("9#" + again.eos_token)["input_ids"][-1] == again.eos_token_id
    assert again.padding_side == "left"


def test_scratch_init_is_seeded_and_sized_from_the_recipe() -> None:
    cfg = ModelConfig(hidden=32, layers=2, heads=4, intermediate=64)
    a, _ = build_model(cfg, seed=3)
    b, _ = build_model(cfg, seed=3)
    c, _ = build_model(cfg, seed=4)
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert any(not torch.equal(sa[k], sc[k]) for k in sa)
    assert a.config.num_hidden_layers == 2 and a.config.num_attention_heads == 4 and a.config.hidden_size == 32
    assert type(a).__name__ == "LlamaForCausalLM" and count_parameters(a) > 0


def test_a_saved_folder_loads_as_a_pretrained_model(tmp_path: Path) -> None:
    model, tok = build_model(ModelConfig(hidden=32, layers=1, heads=2), seed=0)
    save_checkpoint(model, tok, tmp_path / "m")
    assert (tmp_path / "m" / "model.safetensors").is_file() and (tmp_path / "m" / "tokenizer.json").is_file()
    again, tok2 = build_model(ModelConfig(init="pretrained", path=str(tmp_path / "m")), seed=99)
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in model.state_dict().items())
    assert tok2.eos_token_id == tok.eos_token_id
    # a `path:` alone means a pretrained model
    assert ModelConfig(path=str(tmp_path / "m")).init == "pretrained"


def test_missing_or_wrong_model_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_pretrained(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="config.json"):
        load_pretrained(tmp_path / "empty")
