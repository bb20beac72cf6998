"""Llama (1, 2, 3) and the families llama.cpp writes as "llama" (SmolLM2, Mistral 7B)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mlx.core as mx
import mlx.nn as nn
from mlx_lm.models import llama

from . import COMMON_BLOCK_NAMES, Architecture, Hyper, Weights, rope_scaling

if TYPE_CHECKING:
    from ..gguf_loader import GGUFMetadata


def args(meta: GGUFMetadata, weights: Weights) -> llama.ModelArgs:
    h = Hyper.of(meta, weights, rope_theta=10000.0)
    return llama.ModelArgs(
        model_type="llama", hidden_size=h.hidden, num_hidden_layers=h.layers,
        intermediate_size=h.ffn, num_attention_heads=h.heads, num_key_value_heads=h.kv_heads,
        rms_norm_eps=h.eps, vocab_size=h.vocab, head_dim=h.head_dim,
        max_position_embeddings=h.context, rope_theta=h.rope_theta,
        # llama.cpp's converter permutes Q and K of this family (only) for interleaved
        # ("traditional") rotation.
        rope_traditional=True, rope_scaling=rope_scaling(meta),
        tie_word_embeddings=h.tied,
    )


ARCH = Architecture(
    name="llama",
    model=llama,
    block_names={**COMMON_BLOCK_NAMES, "ffn_norm": "post_attention_layernorm"},
    args=args,
)


class _FreqRoPE(nn.Module):
    """RoPE with per-dimension frequency factors (Llama 3's `rope_freqs` tensor)."""

    def __init__(self, dims: int, periods: mx.array):
        super().__init__()
        self.dims = dims
        self._periods = periods

    def __call__(self, x: mx.array, offset: int = 0) -> mx.array:
        return mx.fast.rope(
            x, self.dims, traditional=True, base=None, scale=1.0, offset=offset,
            freqs=self._periods,
        )


def use_rope_freqs(model: nn.Module, args: llama.ModelArgs, factors: mx.array) -> None:
    dims = args.head_dim or args.hidden_size // args.num_attention_heads
    # llama.cpp divides each frequency by its factor; mx.fast.rope takes periods (1/frequency).
    exponents = mx.arange(0, dims, 2, dtype=mx.float32) / dims
    periods = (args.rope_theta**exponents) * factors.astype(mx.float32)
    for layer in model.layers:
        layer.self_attn.rope = _FreqRoPE(dims, periods)
