"""Read a GGUF file into mlx-lm's model of its family (`gguf_models`: llama, qwen2, qwen3,
gemma3) and a tokenizer built from the same file.

Weights: `mx.load` decodes F32, F16, Q4_0, Q4_1 and Q8_0 exactly, as MLX affine-quantized
triples (`weight` uint32, `scales`, `biases`, group 32). It silently decodes Q4_K wrongly and
fails on Q5_*, the other K-quants and IQ*, so a file holding any other type is read tensor by
tensor with the `gguf` package's reference dequantizer and re-quantized to 8 bits, which adds
no error visible next to the source's own. Types neither can decode are refused by name.

Tokenizer: GGUF metadata carries the vocabulary; "gpt2" (byte-level BPE) is rebuilt with the
`tokenizers` library, "llama" (SentencePiece BPE with byte fallback) as the SentencePiece model
it came from, which transformers converts; both with the special tokens, bos/eos ids and chat
template of the file (a base model's file has none: its family's turn format), then wrapped
for mlx-lm.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gguf
import mlx.core as mx
import mlx.nn as nn
import numpy as np
from gguf import GGMLQuantizationType as QT
from mlx_lm.tokenizer_utils import (
    BPEStreamingDetokenizer,
    SPMStreamingDetokenizer,
    TokenizerWrapper,
)

# GGUFError is this module's error too: callers catch it from here.
from .gguf_models import TOP_NAMES, Architecture, GGUFError, architectures  # noqa: F401
from .gguf_models.llama import use_rope_freqs

# What mx.load decodes exactly; anything else goes through gguf's dequantizer.
MX_NATIVE_TYPES = frozenset({QT.F32, QT.F16, QT.Q4_0, QT.Q4_1, QT.Q8_0})
FLOAT_TYPES = frozenset({QT.F32, QT.F16, QT.BF16})
GROUP_SIZE = 32  # GGUF's block size for every type mx.load reads; also used for re-quantizing
REQUANT_BITS = 8

ROPE_FREQS = "rope_freqs.weight"

# Pre-tokenizer split patterns of llama.cpp's `tokenizer.ggml.pre` names.
_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
    r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2_SPLIT = _LLAMA3_SPLIT.replace(r"\p{N}{1,3}", r"\p{N}")
_SPLIT_PATTERNS = {"llama-bpe": _LLAMA3_SPLIT, "llama3": _LLAMA3_SPLIT, "qwen2": _QWEN2_SPLIT}

_TOKEN_NORMAL, _TOKEN_CONTROL, _TOKEN_USER_DEFINED = 1, 3, 4
# Tokens that end a turn in the chat formats of the families: stop tokens wherever the
# vocabulary has them (beside the file's eos and eot ids), as llama.cpp finds them by their
# text: a base model's file names none, and a reply in its family's turns ends with one.
_END_OF_TURN = ("<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|end|>")


@dataclass(frozen=True)
class GGUFInfo:
    """What the file says about itself, for status lines and error messages."""

    name: str
    architecture: str
    converted: bool  # True when tensors went through gguf's dequantizer


def load_gguf(path: Path) -> tuple[nn.Module, TokenizerWrapper, GGUFInfo]:
    """The model (quantized as in the file), its tokenizer, and a summary of the file."""
    meta, native, reader = _read(path)
    arch = _architecture(meta)
    converted = reader is not None
    if reader is not None:
        weights = _read_converted(reader, path)
    else:
        assert native is not None  # `_read` gives the weights or the reader to convert them
        weights = native
    rope_freqs = weights.pop(ROPE_FREQS, None)
    if rope_freqs is not None and arch.name != "llama":
        raise GGUFError(f"{path}: a {arch.name} model with rope_freqs is not supported")
    weights = arch.fix({_mlx_name(k, arch, path): v for k, v in weights.items()})

    args = arch.args(meta, weights)
    model = arch.model.Model(args)
    weights = model.sanitize(weights)  # e.g. gemma3 drops its head when it is the embedding
    quantized = {k[: -len(".scales")] for k in weights if k.endswith(".scales")}
    nn.quantize(
        model,
        class_predicate=lambda p, _m: (
            {"group_size": GROUP_SIZE, "bits": _bits(weights, p)} if p in quantized else False
        ),
    )
    try:
        model.load_weights(list(weights.items()), strict=True)
    except ValueError as e:
        raise GGUFError(f"{path}: tensors do not match a {arch.name} model: {e}") from e
    if rope_freqs is not None:
        use_rope_freqs(model, args, rope_freqs)
    mx.eval(model.parameters())

    name = meta.get("general.name") or path.stem
    info = GGUFInfo(name=str(name), architecture=arch.name, converted=converted)
    return model, build_tokenizer(meta), info


def _architecture(meta: GGUFMetadata) -> Architecture:
    name = meta.get("general.architecture")
    known = architectures()
    if name not in known:
        raise GGUFError(f"{meta.path}: architecture {name!r} is not supported "
                        f"(supported: {', '.join(known)})")
    return known[name]


def load_gguf_tokenizer(path: Path) -> TokenizerWrapper:
    """The tokenizer alone, from the file's metadata."""
    return build_tokenizer(_read(path)[0])


# --- reading ------------------------------------------------------------------------------


def _read(path: Path) -> tuple[GGUFMetadata, dict[str, mx.array] | None, gguf.GGUFReader | None]:
    """The metadata, with the weights where MLX decodes every tensor exactly (MLX reads both in
    ~0.1 s), else with the `gguf` reader that converts them (~2 s for the metadata alone)."""
    types = tensor_types(path)
    if types is not None and set(types.values()) <= MX_NATIVE_TYPES:
        weights, metadata = _read_native(path)
        return GGUFMetadata.of_mlx(metadata, path), weights, None
    reader = _open(path)
    return GGUFMetadata.of_reader(reader, path), None, reader


def _open(path: Path) -> gguf.GGUFReader:
    try:
        reader = gguf.GGUFReader(path)
    except Exception as e:  # the reader raises bare ValueError/IndexError/... on bad bytes
        with open(path, "rb") as f:
            magic = f.read(4)
        if magic == b"GGUF":
            raise GGUFError(f"{path}: GGUF file is damaged or truncated ({e})") from e
        raise GGUFError(f"{path}: not a readable GGUF file ({e})") from e
    return reader


class GGUFMetadata:
    """The file's key-value metadata as plain Python values, from either reader."""

    def __init__(self, lookup: Callable[[str], Any], path: Path):
        self._lookup = lookup
        self.path = path

    @classmethod
    def of_reader(cls, reader: gguf.GGUFReader, path: Path) -> GGUFMetadata:
        def lookup(key: str) -> Any:
            field = reader.get_field(key)
            return None if field is None else field.contents()

        return cls(lookup, path)

    @classmethod
    def of_mlx(cls, metadata: dict[str, Any], path: Path) -> GGUFMetadata:
        """From `mx.load(..., return_metadata=True)`: numbers come as MLX arrays."""

        def lookup(key: str) -> Any:
            value = metadata.get(key)
            if isinstance(value, mx.array):
                return value.item() if value.ndim == 0 else value.tolist()
            return value

        return cls(lookup, path)

    def get(self, key: str, default: Any = None) -> Any:
        value = self._lookup(key)
        return default if value is None else value

    def require(self, key: str) -> Any:
        value = self.get(key)
        if value is None:
            raise GGUFError(f"{self.path}: metadata key {key!r} is missing")
        return value


def _read_native(path: Path) -> tuple[dict[str, mx.array], dict[str, Any]]:
    try:
        weights, metadata = mx.load(str(path), return_metadata=True)  # type: ignore[misc]
    except Exception as e:
        _open(path)  # a damaged or truncated file: the gguf reader says so, and how
        raise GGUFError(f"{path}: MLX could not read the tensors ({e})") from e
    return dict(weights), dict(metadata)  # type: ignore[arg-type]


# Value types of GGUF metadata (the spec's gguf_metadata_value_type) -> fixed sizes in bytes;
# 8 is a string, 9 an array.
_VALUE_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def tensor_types(path: Path) -> dict[str, QT] | None:
    """Each tensor's type, from the header alone; None if the header cannot be read so (the
    `gguf` reader then reads it, and says what is wrong). The `gguf` reader takes ~1.8 s on a
    49k-token vocabulary, which it parses into numpy views one string at a time; this skips
    the metadata by its lengths in ~0.05 s, and MLX reads the metadata natively."""
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            if data[:4] != b"GGUF" or struct.unpack_from("<I", data, 4)[0] < 2:
                return None
            tensors, kvs = struct.unpack_from("<QQ", data, 8)
            at = 24

            def skip_value(kind: int, at: int) -> int:
                if kind == 8:
                    return at + 8 + struct.unpack_from("<Q", data, at)[0]
                if kind == 9:
                    item, count = struct.unpack_from("<IQ", data, at)
                    at += 12
                    if item in _VALUE_SIZES:
                        return at + count * _VALUE_SIZES[item]
                    for _ in range(count):
                        at = skip_value(item, at)
                    return at
                return at + _VALUE_SIZES[kind]

            for _ in range(kvs):
                at += 8 + struct.unpack_from("<Q", data, at)[0]  # the key
                kind = struct.unpack_from("<I", data, at)[0]
                at = skip_value(kind, at + 4)
            types: dict[str, QT] = {}
            for _ in range(tensors):
                size = struct.unpack_from("<Q", data, at)[0]
                name = data[at + 8:at + 8 + size].decode()
                at += 8 + size
                dims = struct.unpack_from("<I", data, at)[0]
                at += 4 + 8 * dims
                types[name] = QT(struct.unpack_from("<I", data, at)[0])
                at += 12  # the type and the offset
            return types
    except (OSError, ValueError, KeyError, struct.error):
        return None


def _read_converted(reader: gguf.GGUFReader, path: Path) -> dict[str, mx.array]:
    weights: dict[str, mx.array] = {}
    for t in reader.tensors:
        try:
            values = gguf.quants.dequantize(t.data, t.tensor_type)
        except NotImplementedError as e:
            raise GGUFError(
                f"{path}: tensor {t.name} has quantization type {t.tensor_type.name}, "
                "which cannot be decoded; convert the model to Q4_K, Q8_0 or F16"
            ) from e
        array = mx.array(np.ascontiguousarray(values))
        base = t.name.removesuffix(".weight")
        if t.tensor_type in FLOAT_TYPES or array.ndim == 1:
            weights[t.name] = array.astype(mx.float16 if t.tensor_type != QT.F32 else mx.float32)
            continue
        wq, scales, biases = mx.quantize(array, group_size=GROUP_SIZE, bits=REQUANT_BITS)
        weights[t.name] = wq
        weights[f"{base}.scales"] = scales.astype(mx.float16)
        weights[f"{base}.biases"] = biases.astype(mx.float16)
        mx.eval(wq, scales, biases)  # one tensor in float32 at a time, never the whole model
    return weights


def _mlx_name(name: str, arch: Architecture, path: Path) -> str:
    parts = name.split(".")
    if parts[0] == "blk" and len(parts) >= 4 and parts[2] in arch.block_names:
        return ".".join(["model.layers", parts[1], arch.block_names[parts[2]], *parts[3:]])
    if parts[0] in TOP_NAMES:
        return ".".join([TOP_NAMES[parts[0]], *parts[1:]])
    raise GGUFError(f"{path}: unexpected tensor {name!r} for a {arch.name} model")


def _bits(weights: dict[str, mx.array], module: str) -> int:
    # Group size is fixed at 32, so bits follow from how many uint32 words a group takes.
    return int(weights[f"{module}.weight"].shape[-1] // weights[f"{module}.scales"].shape[-1])


# --- tokenizer ------------------------------------------------------------------------------


def build_tokenizer(meta: GGUFMetadata) -> TokenizerWrapper:
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        pre_tokenizers,
        processors,
    )
    from transformers import PreTrainedTokenizerFast

    kind = meta.require("tokenizer.ggml.model")
    arch = architectures().get(meta.get("general.architecture"))
    tokens: list[str] = list(meta.require("tokenizer.ggml.tokens"))
    token_types = list(meta.get("tokenizer.ggml.token_type") or [1] * len(tokens))
    if len(token_types) != len(tokens):
        raise GGUFError(f"{meta.path}: {len(tokens)} tokens but {len(token_types)} token types")
    vocab = {t: i for i, t in enumerate(tokens)}

    if kind == "gpt2":
        merges = [tuple(m.split(" ", 1)) for m in meta.require("tokenizer.ggml.merges")]
        pre = meta.get("tokenizer.ggml.pre", "default")
        # Llama 3 looks a word up whole before merging its pieces (llama.cpp and its own
        # tokenizer.json do); merging could reach another token for the same text.
        tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False,
                                   ignore_merges=pre in ("llama-bpe", "llama3")))
        byte_level = pre_tokenizers.ByteLevel(
            add_prefix_space=False, use_regex=pre not in _SPLIT_PATTERNS
        )
        if pre in _SPLIT_PATTERNS:
            split = pre_tokenizers.Split(Regex(_SPLIT_PATTERNS[pre]), behavior="isolated")
            tok.pre_tokenizer = pre_tokenizers.Sequence([split, byte_level])
        elif pre == "smollm":
            digits = pre_tokenizers.Digits(individual_digits=True)
            tok.pre_tokenizer = pre_tokenizers.Sequence([digits, byte_level])
        else:
            tok.pre_tokenizer = byte_level
        tok.decoder = decoders.ByteLevel()
        detokenizer: Any = BPEStreamingDetokenizer
        add_bos_default = False
    elif kind == "llama":
        tok, tokens = _sentencepiece_tokenizer(meta)
        vocab = {t: i for i, t in enumerate(tokens)}
        detokenizer = SPMStreamingDetokenizer
        add_bos_default = True
    else:
        raise GGUFError(
            f"{meta.path}: tokenizer model {kind!r} is not supported (supported: gpt2, llama)"
        )

    tok.add_special_tokens(
        [
            AddedToken(t, special=(ty == _TOKEN_CONTROL), normalized=False)
            for t, ty in zip(tokens, token_types, strict=True)
            if ty in (_TOKEN_CONTROL, _TOKEN_USER_DEFINED)
        ]
    )

    def token(key: str) -> str | None:
        i = meta.get(f"tokenizer.ggml.{key}_token_id")
        return tokens[int(i)] if i is not None and int(i) < len(tokens) else None

    bos, eos = token("bos"), token("eos")
    if bos is not None and meta.get("tokenizer.ggml.add_bos_token", add_bos_default):
        tok.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, vocab[bos])]
        )
    hf = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=bos,
        eos_token=eos,
        unk_token=token("unknown"),
        pad_token=token("padding") or eos,
    )
    hf.chat_template = meta.get("tokenizer.chat_template") or (
        arch.chat_template if arch is not None else None)
    stops = {vocab[t] for t in _END_OF_TURN if t in vocab}
    eot = meta.get("tokenizer.ggml.eot_token_id")
    if eot is not None:
        stops.add(int(eot))
    if eos is not None:
        stops.add(vocab[eos])
    return TokenizerWrapper(hf, detokenizer, eos_token_ids=sorted(stops) or None)


def sentencepiece_model(meta: GGUFMetadata) -> Any:
    """The file's "llama" vocabulary as the SentencePiece model it was converted from (a BPE
    `ModelProto` of sentencepiece's own schema): what `SentencePieceProcessor` encodes with, and
    what transformers' converter reads. Runs of spaces that some converters store as spaces
    (Gemma's files) are spelled with "▁", as SentencePiece looks them up."""
    from sentencepiece import sentencepiece_model_pb2 as spm

    tokens: list[str] = list(meta.require("tokenizer.ggml.tokens"))
    types = list(meta.get("tokenizer.ggml.token_type") or [1] * len(tokens))
    scores = list(meta.require("tokenizer.ggml.scores"))
    for name, values in (("token types", types), ("token scores", scores)):
        if len(values) != len(tokens):
            raise GGUFError(f"{meta.path}: {len(tokens)} tokens but {len(values)} {name}")
    known = set(tokens)
    tokens = ["\u2581" * len(t) if t and not t.strip(" ") and "\u2581" * len(t) not in known
              else t for t in tokens]
    arch = architectures().get(meta.get("general.architecture"))
    if arch is not None and arch.merges_in_file_order:
        scores = [-float(i) for i in range(len(tokens))]
    # Generated protobuf classes, which mypy cannot see.
    model = spm.ModelProto()  # type: ignore[attr-defined]
    model.trainer_spec.model_type = spm.TrainerSpec.BPE  # type: ignore[attr-defined]
    model.trainer_spec.byte_fallback = True
    unknown = meta.get("tokenizer.ggml.unknown_token_id")
    model.trainer_spec.unk_id = int(unknown) if unknown is not None else 0
    model.trainer_spec.unk_piece = tokens[model.trainer_spec.unk_id]
    model.normalizer_spec.name = "identity"
    model.normalizer_spec.add_dummy_prefix = bool(meta.get("tokenizer.ggml.add_space_prefix",
                                                           True))
    model.normalizer_spec.remove_extra_whitespaces = False
    model.normalizer_spec.escape_whitespaces = True
    for token, score, kind in zip(tokens, scores, types, strict=True):
        piece = model.pieces.add()
        # GGUF numbers its token types as SentencePiece numbers its piece types (1-6); llama.cpp
        # writes 0 ("undefined") for a token it does not know the type of: a normal one.
        piece.piece, piece.score = token, score
        piece.type = int(kind) if 1 <= int(kind) <= 6 else _TOKEN_NORMAL
    return model


def _sentencepiece_tokenizer(meta: GGUFMetadata) -> tuple[Any, list[str]]:
    """A fast tokenizer (mlx-lm runs with one) that encodes as SentencePiece does, by
    transformers' converter of the file's SentencePiece model; and the pieces as it spells
    them. It replaced merges of our own from the scores: both spell every text of
    bench/sentencepiece_agreement.py as SentencePiece does, and the converter is the library's
    (tests/test_gguf_loader.py holds it to `SentencePieceProcessor`)."""
    from transformers.convert_slow_tokenizer import SpmConverter

    model = sentencepiece_model(meta)
    pieces = [p.piece for p in model.pieces]
    tokenizer = SpmConverter.build_tokenizer_from_spm_proto(
        model, {t: i for i, t in enumerate(pieces)})
    return tokenizer, pieces
