"""Qwen2 and Qwen2.5: biases on the attention's q, k and v projections."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlx_lm.models import qwen2

from . import COMMON_BLOCK_NAMES, Architecture, GGUFError, Hyper, Weights, rope_scaling

if TYPE_CHECKING:
    from ..gguf_loader import GGUFMetadata


def args(meta: GGUFMetadata, weights: Weights) -> qwen2.ModelArgs:
    h = Hyper.of(meta, weights, rope_theta=1_000_000.0, eps=1e-6)
    if h.head_dim != h.hidden // h.heads:  # mlx-lm's qwen2 has no head_dim of its own
        raise GGUFError(f"{meta.path}: a qwen2 model with heads of {h.head_dim} dimensions, "
                        f"not {h.hidden // h.heads}, is not supported")
    # llama.cpp does not permute this family's Q and K: rotation by halves, mlx-lm's default.
    return qwen2.ModelArgs(
        model_type="qwen2", hidden_size=h.hidden, num_hidden_layers=h.layers,
        intermediate_size=h.ffn, num_attention_heads=h.heads, rms_norm_eps=h.eps,
        vocab_size=h.vocab, num_key_value_heads=h.kv_heads, max_position_embeddings=h.context,
        rope_theta=h.rope_theta, rope_traditional=False, rope_scaling=rope_scaling(meta),
        tie_word_embeddings=h.tied,
    )


ARCH = Architecture(
    name="qwen2",
    model=qwen2,
    block_names={**COMMON_BLOCK_NAMES, "ffn_norm": "post_attention_layernorm"},
    args=args,
)
