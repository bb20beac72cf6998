"""Qwen3 (dense): RMS norms on each head's queries and keys, no projection biases."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlx_lm.models import qwen3

from . import COMMON_BLOCK_NAMES, Architecture, Hyper, Weights, rope_scaling

if TYPE_CHECKING:
    from ..gguf_loader import GGUFMetadata


def args(meta: GGUFMetadata, weights: Weights) -> qwen3.ModelArgs:
    h = Hyper.of(meta, weights, rope_theta=1_000_000.0, eps=1e-6)
    return qwen3.ModelArgs(
        model_type="qwen3", hidden_size=h.hidden, num_hidden_layers=h.layers,
        intermediate_size=h.ffn, num_attention_heads=h.heads, rms_norm_eps=h.eps,
        vocab_size=h.vocab, num_key_value_heads=h.kv_heads, max_position_embeddings=h.context,
        head_dim=h.head_dim, tie_word_embeddings=h.tied, rope_theta=h.rope_theta,
        rope_scaling=rope_scaling(meta),
    )


ARCH = Architecture(
    name="qwen3",
    model=qwen3,
    block_names={**COMMON_BLOCK_NAMES, "ffn_norm": "post_attention_layernorm",
                 "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm"},
    args=args,
)
