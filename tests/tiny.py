"""Tiny llama models written as real GGUF files, for fast tests of the whole stack.

The GGUF names here are written out independently of `memo_mlx.models.gguf_loader`'s table, so a
wrong mapping there shows up as a logits mismatch against the reference model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import gguf
import mlx.core as mx
import mlx.nn as nn
import numpy as np
from gguf import GGMLQuantizationType as QT
from mlx.utils import tree_flatten
from mlx_lm.models import gemma3_text, llama, qwen2, qwen3

HIDDEN, INTERMEDIATE, LAYERS, HEADS, KV_HEADS = 256, 512, 2, 4, 2
# Teaching settings that make the tiny model's teach take a second or two: few passes, low
# rank, no checkpoints on the way. Tests write them (plus their own sections) to settings.toml.
FAST_TEACHING = """
[training]
rank = 4
epochs = 2
checkpoint_every = 1000

[teaching]
exposures = 0
"""

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
MERGES = ["Ġ t", "h e", "Ġt he", "i n", "a n", "e r", "Ġ a", "o n", "r e", "Ġ i"]
CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Reference mapping, MLX name -> GGUF name, for one block and the top level.
BLOCK = {
    "self_attn.q_proj": "attn_q",
    "self_attn.k_proj": "attn_k",
    "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output",
    "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up",
    "mlp.down_proj": "ffn_down",
    "input_layernorm": "attn_norm",
    "post_attention_layernorm": "ffn_norm",
}
TOP = {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"}


# gguf can decode but not encode these; random bytes with sane scales stand in for real data.
RANDOM_BYTE_TYPES = (QT.Q4_K, QT.Q5_K, QT.Q6_K, QT.Q8_1)
UNDECODABLE = (QT.Q8_1,)  # nothing decodes it: the loader must refuse it by name


def byte_level_vocab() -> list[str]:
    """GPT-2's byte-to-unicode alphabet, then merged pieces, then special tokens."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    printable += list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    pieces = [chars[b] for b in range(256)]
    pieces += ["".join(m.split(" ")) for m in MERGES]
    return SPECIALS + pieces


@dataclass
class TinyModel:
    path: Path
    # Dense float32, weights as the file's decoder gives them back; None for UNDECODABLE.
    reference: nn.Module | None
    vocab: list[str]


def _args(vocab_size: int, tie: bool) -> llama.ModelArgs:
    return llama.ModelArgs(
        model_type="llama", hidden_size=HIDDEN, num_hidden_layers=LAYERS,
        intermediate_size=INTERMEDIATE, num_attention_heads=HEADS, num_key_value_heads=KV_HEADS,
        rms_norm_eps=1e-5, vocab_size=vocab_size, rope_theta=10000.0, rope_traditional=True,
        tie_word_embeddings=tie, max_position_embeddings=512,
    )


def _random_k_blocks(rows: int, cols: int, qtype: QT, rng: np.random.Generator) -> np.ndarray:
    """Valid K-quant bytes: random quants and scales, small finite fp16 super-block scales.
    (gguf can decode K-quants but not encode them.)"""
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(rows, cols // block, size), dtype=np.uint8)
    d = rng.uniform(0.001, 0.004, size=(rows, cols // block, 2)).astype(np.float16)
    if qtype == QT.Q6_K:  # d is the last two bytes
        raw[..., -2:] = d[..., :1].view(np.uint8)
    else:  # d and dmin are the first four bytes
        raw[..., :4] = d.view(np.uint8)
    return raw.reshape(rows, -1)


def _add_tokenizer(writer: gguf.GGUFWriter, vocab: list[str], model: str = "gpt2") -> None:
    """The byte-level BPE vocabulary of `byte_level_vocab`, its merges, specials and ChatML."""
    writer.add_tokenizer_model(model)
    writer.add_tokenizer_pre("default")
    writer.add_token_list(vocab)
    writer.add_token_types([3] * len(SPECIALS) + [1] * (len(vocab) - len(SPECIALS)))
    writer.add_token_merges(MERGES)
    writer.add_bos_token_id(0)
    writer.add_eos_token_id(2)
    writer.add_chat_template(CHATML)


def _write(writer: gguf.GGUFWriter) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def write_tiny_gguf(
    path: Path,
    qtype: QT = QT.Q8_0,
    *,
    arch: str = "llama",
    tie: bool = True,
    rope_freqs: np.ndarray | None = None,
    tokenizer_model: str = "gpt2",
    seed: int = 0,
) -> TinyModel:
    """A 2-layer llama with matrices stored as `qtype` (norms in F32), a byte-level BPE
    tokenizer and a ChatML template, and the dense reference model it decodes to."""
    rng = np.random.default_rng(seed)
    vocab = byte_level_vocab()
    shapes: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (len(vocab), HIDDEN)}
    head = HIDDEN // HEADS
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        shapes |= {
            p + "self_attn.q_proj.weight": (HEADS * head, HIDDEN),
            p + "self_attn.k_proj.weight": (KV_HEADS * head, HIDDEN),
            p + "self_attn.v_proj.weight": (KV_HEADS * head, HIDDEN),
            p + "self_attn.o_proj.weight": (HIDDEN, HEADS * head),
            p + "mlp.gate_proj.weight": (INTERMEDIATE, HIDDEN),
            p + "mlp.up_proj.weight": (INTERMEDIATE, HIDDEN),
            p + "mlp.down_proj.weight": (HIDDEN, INTERMEDIATE),
            p + "input_layernorm.weight": (HIDDEN,),
            p + "post_attention_layernorm.weight": (HIDDEN,),
        }
    shapes["model.norm.weight"] = (HIDDEN,)
    if not tie:
        shapes["lm_head.weight"] = (len(vocab), HIDDEN)

    writer = gguf.GGUFWriter(str(path), arch=arch)
    writer.add_name("tiny-test-model")
    writer.add_context_length(512)
    writer.add_embedding_length(HIDDEN)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(INTERMEDIATE)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_freq_base(10000.0)
    _add_tokenizer(writer, vocab, tokenizer_model)

    reference: dict[str, mx.array] = {}
    for name, shape in shapes.items():
        module, _ = name.rsplit(".", 1)
        parts = module.split(".")
        if parts[0] == "model" and parts[1] == "layers":
            gname = f"blk.{parts[2]}.{BLOCK['.'.join(parts[3:])]}.weight"
        else:
            gname = f"{TOP[module]}.weight"
        if len(shape) == 1:
            values = (1.0 + 0.1 * rng.standard_normal(shape)).astype(np.float32)
            writer.add_tensor(gname, values)
            reference[name] = mx.array(values)
            continue
        if qtype in RANDOM_BYTE_TYPES:
            data = _random_k_blocks(*shape, qtype, rng)
        else:
            values = (0.05 * rng.standard_normal(shape)).astype(np.float32)
            data = values.astype(np.float16) if qtype == QT.F16 else values
            if qtype not in (QT.F32, QT.F16):
                data = gguf.quants.quantize(values, qtype)
        if qtype in (QT.F32, QT.F16):
            writer.add_tensor(gname, data)
        else:
            writer.add_tensor(gname, data, raw_dtype=qtype)
        if qtype in UNDECODABLE:
            continue
        decoded = gguf.quants.dequantize(data, qtype) if qtype not in (QT.F32, QT.F16) else data
        reference[name] = mx.array(np.asarray(decoded, dtype=np.float32))
    if rope_freqs is not None:
        writer.add_tensor("rope_freqs.weight", rope_freqs.astype(np.float32))
    _write(writer)

    if qtype in UNDECODABLE:
        return TinyModel(path=path, reference=None, vocab=vocab)
    model = llama.Model(_args(len(vocab), tie))
    model.load_weights(list(reference.items()), strict=True)
    mx.eval(model.parameters())
    return TinyModel(path=path, reference=model, vocab=vocab)


# The other families: llama.cpp's names for what differs from llama, written out here apart from
# `memo_mlx.models.gguf_models` (MLX name -> GGUF name).
FAMILY_BLOCK = {
    "qwen2": {**BLOCK, "self_attn.q_proj.bias": "attn_q.bias", "self_attn.k_proj.bias":
              "attn_k.bias", "self_attn.v_proj.bias": "attn_v.bias"},
    "qwen3": {**BLOCK, "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm"},
    "gemma3": {**{k: v for k, v in BLOCK.items() if k != "post_attention_layernorm"},
               "self_attn.q_norm": "attn_q_norm", "self_attn.k_norm": "attn_k_norm",
               "post_attention_layernorm": "post_attention_norm",
               "pre_feedforward_layernorm": "ffn_norm",
               "post_feedforward_layernorm": "post_ffw_norm"},
}
FAMILY_HEAD_DIM = {"qwen2": HIDDEN // HEADS, "qwen3": 32, "gemma3": 48}
SLIDING_WINDOW = 8  # gemma3: shorter than the tests' prompts, so the window is exercised


def _family_reference(arch: str, vocab_size: int) -> nn.Module:
    head_dim = FAMILY_HEAD_DIM[arch]
    common = dict(hidden_size=HIDDEN, num_hidden_layers=LAYERS, intermediate_size=INTERMEDIATE,
                  num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, rms_norm_eps=1e-6,
                  vocab_size=vocab_size, max_position_embeddings=512)
    if arch == "qwen2":
        return qwen2.Model(qwen2.ModelArgs(model_type="qwen2", rope_theta=1e6, **common))
    if arch == "qwen3":
        return qwen3.Model(qwen3.ModelArgs(model_type="qwen3", head_dim=head_dim,
                                           tie_word_embeddings=True, rope_theta=1e6, **common))
    return gemma3_text.Model(gemma3_text.ModelArgs(
        model_type="gemma3_text", head_dim=head_dim, rope_theta=1e6,
        rope_local_base_freq=10000.0, query_pre_attn_scalar=head_dim,
        sliding_window=SLIDING_WINDOW, sliding_window_pattern=2, **common))


def write_tiny_family_gguf(path: Path, arch: str, qtype: QT = QT.Q8_0, seed: int = 0
                           ) -> TinyModel:
    """A 2-layer qwen2, qwen3 or gemma3 model (tied head) as llama.cpp writes one: its own
    tensor names, q/k biases (qwen2), per-head q/k norms (qwen3, gemma3), gemma's four norms a
    block stored plus one and a sliding window in one layer of two; with the byte-level BPE
    tokenizer of `write_tiny_gguf`, and the mlx-lm model it decodes to."""
    rng = np.random.default_rng(seed)
    vocab = byte_level_vocab()
    reference_model = _family_reference(arch, len(vocab))
    if arch == "gemma3":
        reference_model.sanitize({})  # the head is the embedding
    shapes = {k: v.shape for k, v in tree_flatten(reference_model.parameters())}

    writer = gguf.GGUFWriter(str(path), arch=arch)
    writer.add_name(f"tiny-{arch}")
    writer.add_context_length(512)
    writer.add_embedding_length(HIDDEN)
    writer.add_block_count(LAYERS)
    writer.add_feed_forward_length(INTERMEDIATE)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(KV_HEADS)
    writer.add_key_length(FAMILY_HEAD_DIM[arch])
    writer.add_value_length(FAMILY_HEAD_DIM[arch])
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_rope_freq_base(1e6)
    if arch == "gemma3":
        writer.add_sliding_window(SLIDING_WINDOW)
        writer.add_sliding_window_pattern(2)
    _add_tokenizer(writer, vocab)

    reference: dict[str, mx.array] = {}
    for name, shape in shapes.items():
        parts = name.split(".")
        if parts[:2] == ["model", "layers"]:
            inner = ".".join(parts[3:])
            key = inner if inner in FAMILY_BLOCK[arch] else inner.rsplit(".", 1)[0]
            gname = f"blk.{parts[2]}.{FAMILY_BLOCK[arch][key]}"
            gname += "" if key == inner else "." + parts[-1]
        else:
            gname = f"{TOP[name.rsplit('.', 1)[0]]}.{parts[-1]}"
        if len(shape) == 1:
            values = (0.1 * rng.standard_normal(shape)).astype(np.float32)
            if not name.endswith(".bias"):
                values += 0.0 if arch == "gemma3" else 1.0
            # Gemma computes with (1 + weight): llama.cpp writes the weight plus one.
            stored = values + 1.0 if arch == "gemma3" and name.endswith("norm.weight") else values
            writer.add_tensor(gname, stored)
            reference[name] = mx.array(values)
            continue
        values = (0.05 * rng.standard_normal(shape)).astype(np.float32)
        data = gguf.quants.quantize(values, qtype) if qtype != QT.F32 else values
        writer.add_tensor(gname, data, raw_dtype=qtype if qtype != QT.F32 else None)
        decoded = gguf.quants.dequantize(data, qtype) if qtype != QT.F32 else data
        reference[name] = mx.array(np.asarray(decoded, dtype=np.float32))
    _write(writer)
    reference_model.load_weights(list(reference.items()), strict=True)
    mx.eval(reference_model.parameters())
    return TinyModel(path=path, reference=reference_model, vocab=vocab)
