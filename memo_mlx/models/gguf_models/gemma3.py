"""Gemma 3 (text): four norms a block, query/key norms, sliding-window attention in five layers
of six, and norm weights llama.cpp stores plus one."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mlx.core as mx
from mlx_lm.models import gemma3_text

from . import COMMON_BLOCK_NAMES, Architecture, Hyper, Weights, rope_scaling

if TYPE_CHECKING:
    from ..gguf_loader import GGUFMetadata

# Gemma's own turn format, for a base model's file (which carries no template): what its
# instruction-tuned siblings are trained on, and its tokens are in every Gemma 3 vocabulary.
# A system turn has no role of its own in Gemma: it opens the first user turn.
TEMPLATE = (
    "{{ bos_token }}{% set ns = namespace(system='') %}"
    "{% for m in messages %}{% if m['role'] == 'system' %}"
    "{% set ns.system = m['content'] ~ '\n\n' %}{% else %}"
    "<start_of_turn>{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n"
    "{% if m['role'] == 'user' %}{{ ns.system }}{% set ns.system = '' %}{% endif %}"
    "{{ m['content'] | trim }}<end_of_turn>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)


def args(meta: GGUFMetadata, weights: Weights) -> gemma3_text.ModelArgs:
    h = Hyper.of(meta, weights, rope_theta=1_000_000.0, eps=1e-6)
    a = meta.get("general.architecture")
    return gemma3_text.ModelArgs(
        model_type="gemma3_text", hidden_size=h.hidden, num_hidden_layers=h.layers,
        intermediate_size=h.ffn, num_attention_heads=h.heads, head_dim=h.head_dim,
        rms_norm_eps=h.eps, vocab_size=h.vocab, num_key_value_heads=h.kv_heads,
        rope_theta=h.rope_theta,
        # llama.cpp's values for the local (sliding) layers and the attention scale: the
        # scale is 1/sqrt(head_dim) except in the 27B model (62 layers), where it follows
        # the width per head.
        rope_local_base_freq=10000.0,
        query_pre_attn_scalar=h.hidden / h.heads if h.layers == 62 else h.head_dim,
        sliding_window=int(meta.get(f"{a}.attention.sliding_window", 512)),
        sliding_window_pattern=int(meta.get(f"{a}.attention.sliding_window_pattern", 6)),
        max_position_embeddings=h.context,
        rope_scaling=rope_scaling(meta),  # type: ignore[arg-type]  # mlx-lm's None default
    )


def fix(weights: Weights) -> Weights:
    """Gemma computes its RMS norms with (1 + weight); llama.cpp's converter stores the +1."""
    return {k: (v.astype(mx.float32) - 1.0).astype(v.dtype) if k.endswith("norm.weight") else v
            for k, v in weights.items()}


ARCH = Architecture(
    name="gemma3",
    model=gemma3_text,
    block_names={**COMMON_BLOCK_NAMES,
                 "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
                 "post_attention_norm": "post_attention_layernorm",
                 # ffn_norm is the norm before the feed-forward block in this family.
                 "ffn_norm": "pre_feedforward_layernorm",
                 "post_ffw_norm": "post_feedforward_layernorm"},
    args=args,
    fix=fix,
    chat_template=TEMPLATE,
    merges_in_file_order=True,
)
