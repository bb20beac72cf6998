"""What differs between the model families a GGUF file may hold, one module per family as
mlx-lm keeps one per model: which mlx-lm model class it loads into, the llama.cpp tensor names
of its blocks, its hyperparameters from the file's metadata, and any fix its weights need.

`gguf_loader` reads the file and the tokenizer; this says what the tensors are.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

import mlx.core as mx

from ...errors import MemoError

if TYPE_CHECKING:
    from ..gguf_loader import GGUFMetadata

Weights = dict[str, mx.array]


class GGUFError(MemoError):
    """A GGUF file MeMo cannot load, and why, naming the file."""

# Every family names these the same way (llama.cpp's names -> mlx-lm's).
COMMON_BLOCK_NAMES = {
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
    "attn_norm": "input_layernorm",
}
TOP_NAMES = {"token_embd": "model.embed_tokens", "output_norm": "model.norm", "output": "lm_head"}
# ChatML, what llama.cpp uses for a file that carries no chat template of its own.
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True)
class Architecture:
    name: str  # general.architecture, as llama.cpp writes it
    model: ModuleType  # the mlx-lm model module: its Model and ModelArgs
    block_names: Mapping[str, str]  # blk.N.<gguf> -> model.layers.N.<mlx>
    args: Callable[[GGUFMetadata, Weights], Any]  # the module's ModelArgs
    fix: Callable[[Weights], Weights] = lambda weights: weights  # llama.cpp's changes undone
    # For a file without `tokenizer.chat_template` (a base model): the family's turn format.
    chat_template: str = CHATML
    # SentencePiece merges ranked by the tokens' order in the file, not their scores: Gemma's
    # scores do not follow its merge order (as transformers' GGUF tokenizer reads it).
    merges_in_file_order: bool = False


@dataclass(frozen=True)
class Hyper:
    """The hyperparameters every family's metadata holds under `{arch}.`."""

    hidden: int
    layers: int
    ffn: int
    heads: int
    kv_heads: int
    head_dim: int
    eps: float
    context: int
    rope_theta: float
    vocab: int
    tied: bool  # no output tensor: the head is the embedding

    @classmethod
    def of(cls, meta: GGUFMetadata, weights: Weights, rope_theta: float,
           eps: float = 1e-5) -> Hyper:
        a = meta.get("general.architecture")
        hidden = int(meta.require(f"{a}.embedding_length"))
        heads = int(meta.require(f"{a}.attention.head_count"))
        embed = weights.get("model.embed_tokens.weight")
        if embed is None:
            raise GGUFError(f"{meta.path}: the token embedding (token_embd.weight) is missing")
        return cls(
            hidden=hidden,
            layers=int(meta.require(f"{a}.block_count")),
            ffn=int(meta.require(f"{a}.feed_forward_length")),
            heads=heads,
            kv_heads=int(meta.get(f"{a}.attention.head_count_kv", heads)),
            head_dim=int(meta.get(f"{a}.attention.key_length", hidden // heads)),
            eps=float(meta.get(f"{a}.attention.layer_norm_rms_epsilon", eps)),
            context=int(meta.get(f"{a}.context_length", 4096)),
            rope_theta=float(meta.get(f"{a}.rope.freq_base", rope_theta)),
            vocab=int(embed.shape[0]),
            tied="lm_head.weight" not in weights,
        )


def rope_scaling(meta: GGUFMetadata) -> dict[str, Any] | None:
    """Linear RoPE scaling, the one kind these families' small files use; others refused."""
    a = meta.get("general.architecture")
    kind = meta.get(f"{a}.rope.scaling.type")
    if kind in (None, "none"):
        return None
    if kind == "linear":
        return {"type": "linear", "factor": float(meta.get(f"{a}.rope.scaling.factor", 1))}
    raise GGUFError(f"{meta.path}: RoPE scaling {kind!r} is not supported (linear is)")


def architectures() -> dict[str, Architecture]:
    """The families MeMo loads, by `general.architecture`."""
    from . import gemma3, llama, qwen2, qwen3

    return {m.ARCH.name: m.ARCH for m in (llama, qwen2, qwen3, gemma3)}
