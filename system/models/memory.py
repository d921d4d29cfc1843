"""How many sequences fit in one forward pass on a GPU: a deliberately rough, conservative estimate.

Used only when the recipe fixes neither ``learner.micro_batch`` nor ``learner.grad_accum``: the
global batch is then split into as many accumulation steps as the estimate says the GPU needs. A
batch of 64 at 1024 tokens with a 152k vocabulary and no gradient checkpointing needs well over
100 GB of activations, mostly the logits (every token gets a vocabulary-sized row, kept in the
model's dtype, upcast to fp32 for the loss, and its gradient), so the logits term dominates for
small models with large vocabularies.
"""

from __future__ import annotations

from dataclasses import dataclass

# Share of the free GPU memory the estimate lets training use (allocator fragmentation, NCCL and
# CUDA workspaces, kernels' scratch space).
USABLE_FRACTION = 0.85


@dataclass(frozen=True)
class ModelShape:
    n_params: int
    hidden: int
    layers: int
    intermediate: int
    vocab: int
    param_bytes: int  # bytes per weight as loaded (2 for bf16/fp16, 4 for fp32)

    @classmethod
    def of(cls, model: object) -> "ModelShape":
        """The shape of an HF causal LM (config attributes every decoder-only model in transformers has)."""
        from system.models.factory import count_parameters

        cfg = model.config  # type: ignore[attr-defined]
        first = next(model.parameters())  # type: ignore[attr-defined]
        hidden = int(cfg.hidden_size)
        return cls(
            n_params=count_parameters(model),  # type: ignore[arg-type]
            hidden=hidden,
            layers=int(cfg.num_hidden_layers),
            intermediate=int(getattr(cfg, "intermediate_size", None) or 4 * hidden),
            vocab=int(cfg.vocab_size),
            param_bytes=first.element_size(),
        )


def training_state_bytes(shape: ModelShape, zero_stage: int | None, world_size: int) -> int:
    """Weights, gradients and AdamW state on one rank (fp32 moments; an fp32 master copy when the
    weights are not fp32), partitioned the way the ZeRO stage partitions them."""
    weights = shape.n_params * shape.param_bytes
    grads = shape.n_params * shape.param_bytes
    optim = shape.n_params * (8 + (4 if shape.param_bytes < 4 else 0))
    n = max(1, world_size)
    stage = zero_stage or 0
    if stage == 0:
        return weights + grads + optim
    if stage == 1:
        return weights + grads + optim // n
    if stage == 2:
        return weights + (grads + optim) // n
    return (weights + grads + optim) // n


def activation_bytes_per_token(shape: ModelShape, act_bytes: int, checkpointing: bool) -> int:
    """Activations kept for the backward pass, per token.

    A decoder layer keeps about 10 hidden-sized and 4 FFN-sized values per token (projections,
    norms, residuals, SwiGLU's gate/up/product; fused attention keeps no score matrix). With
    checkpointing only each layer's input is kept, plus one layer recomputed at a time. The logits
    cost the vocabulary four times over: in the model's dtype, their fp32 copy, its gradient and
    the fp32 log-softmax the per-token metrics read.
    """
    layer = act_bytes * (10 * shape.hidden + 4 * shape.intermediate)
    layers = shape.layers * shape.hidden * act_bytes + layer if checkpointing else shape.layers * layer
    logits = shape.vocab * (act_bytes + 4 + 4 + 4)
    return layers + logits


def sequences_that_fit(
    shape: ModelShape,
    *,
    free_bytes: int,
    max_length: int,
    zero_stage: int | None,
    world_size: int,
    act_bytes: int,
    checkpointing: bool,
    weights_resident: bool = True,
) -> int:
    """Sequences of ``max_length`` tokens one rank can run forward and backward at once (0 if none).

    ``free_bytes`` is the memory training may have (the learner passes the GPU's total, the same on
    every rank of a group of like GPUs); with ``weights_resident`` the model's weights are already
    counted out of it, so only gradients and optimizer state are still to come.
    """
    state = training_state_bytes(shape, zero_stage, world_size)
    if weights_resident:
        state -= shape.n_params * shape.param_bytes
    budget = free_bytes * USABLE_FRACTION - max(state, 0)
    per_sequence = activation_bytes_per_token(shape, act_bytes, checkpointing) * max_length
    return max(0, int(budget // per_sequence))
