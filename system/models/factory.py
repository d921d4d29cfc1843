"""The model factory: a seeded scratch Llama from recipe sizes, or any HF causal LM folder.

A scratch model is paired with its task family's tokenizer (TInt's character tokenizer by default,
a BPE trained on a dataset's seed text); a pretrained one brings its own tokenizer from its folder. Checkpoints are plain ``save_pretrained`` folders (safetensors) holding
the model and its tokenizer, so vLLM, transformers or the next iteration load them directly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from system.errors import QdcError
from system.models.config import ModelConfig

if TYPE_CHECKING:
    import torch
    from transformers import LlamaConfig, PreTrainedModel, PreTrainedTokenizerBase


class CheckpointError(QdcError):
    """A model folder that cannot be loaded; the message names the folder and what is missing."""


def torch_dtype(name: str) -> "torch.dtype":
    import torch

    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def llama_config(cfg: ModelConfig, tokenizer: "PreTrainedTokenizerBase") -> "LlamaConfig":
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden,
        intermediate_size=cfg.intermediate or 4 * cfg.hidden,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.kv_heads or cfg.heads,
        max_position_embeddings=cfg.max_positions,
        rope_parameters={"rope_type": "default", "rope_theta": cfg.rope_theta},
        tie_word_embeddings=cfg.tie_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        dtype=cfg.dtype,
    )


def build_scratch(cfg: ModelConfig, seed: int, tokenizer_dir: str | Path | None = None
                  ) -> tuple["PreTrainedModel", "PreTrainedTokenizerBase"]:
    """A new Llama with the tokenizer saved in ``tokenizer_dir`` (a task family's scratch tokenizer),
    or TInt's character tokenizer; the same seed gives bit-identical weights."""
    import torch
    from transformers import GenerationConfig, LlamaForCausalLM

    from system.models.tokenizer import build_tokenizer, load_tokenizer

    if tokenizer_dir is not None:
        tokenizer = load_tokenizer(tokenizer_dir)
        tokenizer.model_max_length = cfg.max_positions
    else:
        tokenizer = build_tokenizer(model_max_length=cfg.max_positions)
    config = llama_config(cfg, tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.to(torch_dtype(cfg.dtype))
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return model, tokenizer


def check_model_dir(path: str | Path) -> Path:
    p = Path(path)
    if not p.is_dir():
        raise CheckpointError(f"{p}: model folder not found")
    if not (p / "config.json").is_file():
        raise CheckpointError(f"{p}: not a save_pretrained folder (no config.json)")
    for weights in sorted(p.glob("*.safetensors")):
        check_safetensors(weights)
    return p


def check_safetensors(path: Path) -> None:
    """Read the header (no tensor data): a file cut short or not safetensors at all is named here,
    not in a traceback from the loader."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "pt"):
            pass
    except (SafetensorError, OSError) as e:
        raise CheckpointError(f"{path}: not a complete safetensors file ({e})") from None
def model_source(path: str | Path) -> str:
    """What transformers and vLLM are given for ``path``: a checked local folder (absolute), or a hub id
    as written (``Qwen/Qwen2.5-0.5B``), which every node then fetches into its own HF cache. A path that
    looks local (absolute, ``./``, ``~``) or exists must be a save_pretrained folder."""
    source = str(path)
    local = Path(source).expanduser()
    if local.exists() or local.is_absolute() or source.startswith((".", "~")):
        return str(check_model_dir(local).resolve())
    return source


def is_local(source: str) -> bool:
    return Path(source).is_absolute()


def local_folder(path: str | Path) -> Path:
    """A local folder holding the checkpoint: the folder itself, or a hub id's snapshot in the HF cache
    (downloaded once per node where the hub can be reached)."""
    source = model_source(path)
    if is_local(source):
        return Path(source)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(source, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt"]))
    except Exception as e:  # noqa: BLE001 - the hub client raises many kinds; one clear message
        raise CheckpointError(f"{source}: cannot fetch the model from the hub ({type(e).__name__}: {e})") from None


def model_config(source: str) -> dict:
    """The config.json of a local folder or a hub id (read through the HF cache)."""
    if is_local(source):
        return json.loads((Path(source) / "config.json").read_text())
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source).to_dict()
    except OSError as e:
        raise CheckpointError(f"{source}: cannot read the model's config ({e})") from None


def load_pretrained(
    path: str | Path, dtype: str = "float32"
) -> tuple["PreTrainedModel", "PreTrainedTokenizerBase"]:
    """Any HF causal LM: a local folder, or a hub id where the hub can be reached."""
    from transformers import AutoModelForCausalLM

    from system.models.tokenizer import load_tokenizer

    source = model_source(path)
    try:
        tokenizer = load_tokenizer(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=torch_dtype(dtype))
    except OSError as e:
        raise CheckpointError(f"{path}: cannot load a causal LM ({e})") from None
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def build_model(cfg: ModelConfig, seed: int, tokenizer_dir: str | Path | None = None
                ) -> tuple["PreTrainedModel", "PreTrainedTokenizerBase"]:
    """The model and tokenizer a recipe's `model:` section asks for (``tokenizer_dir``: a scratch model's)."""
    if cfg.init == "scratch":
        return build_scratch(cfg, seed, tokenizer_dir)
    assert cfg.path is not None  # the config validator guarantees it
    return load_pretrained(cfg.path, cfg.dtype)


def save_checkpoint(
    model: "PreTrainedModel",
    tokenizer: "PreTrainedTokenizerBase",
    out: str | Path,
    state_dict: "dict[str, torch.Tensor] | None" = None,
) -> Path:
    """Write a save_pretrained folder (safetensors) with the tokenizer next to the weights."""
    p = Path(out)
    p.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(p), state_dict=state_dict)
    tokenizer.save_pretrained(str(p))
    return p


def max_positions(source: str | Path) -> int | None:
    """The context length a checkpoint (folder or hub id) declares (caps the vLLM engine's max_model_len)."""
    cfg = model_config(model_source(source))
    value = cfg.get("max_position_embeddings")
    return int(value) if isinstance(value, int) else None


def count_parameters(model: "torch.nn.Module") -> int:
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
