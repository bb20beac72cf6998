"""GGUF loading: every tensor mapping, every quantization path, and clear refusals."""

from __future__ import annotations

from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from gguf import GGMLQuantizationType as QT

from memo_mlx.models.gguf_loader import GGUFError, load_gguf
from tiny import SLIDING_WINDOW, write_tiny_family_gguf, write_tiny_gguf

PROMPT = [3 + i for i in (72, 101, 108, 108, 111, 44, 32, 119, 111, 114, 108, 100)]


def logits(model: nn.Module, tokens: list[int] = PROMPT) -> mx.array:
    out = model(mx.array([tokens])).astype(mx.float32)
    mx.eval(out)
    return out[0]


def assert_logits_close(got: mx.array, want: mx.array, tolerance: float) -> None:
    """Within `tolerance` of the largest logit, and the same top token wherever the
    reference's top two are further apart than that error could bridge."""
    assert mx.all(mx.isfinite(got)).item()
    bound = tolerance * mx.abs(want).max().item()
    assert mx.abs(got - want).max().item() <= bound
    top2 = mx.sort(want, axis=-1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 2 * bound
    assert clear.any().item()
    assert mx.all(mx.where(clear, got.argmax(-1) == want.argmax(-1), True)).item()


# Native types are decoded by mx.load exactly, so the dense float32 copy computes what the
# reference does; the rest go through gguf's dequantizer and an 8-bit re-quantization, whose
# ~0.2%-of-range weight error random tiny networks amplify to the measured logit errors below.
CONVERTED_TOLERANCE = {QT.Q5_0: 3e-2, QT.Q4_K: 3e-3, QT.Q6_K: 3e-2}
CASES = [
    (QT.F32, True, 1e-5),
    (QT.F16, True, 1e-5),
    (QT.Q8_0, True, 1e-5),
    (QT.Q4_0, True, 1e-5),
    (QT.Q4_1, False, 1e-5),
    (QT.Q5_0, True, CONVERTED_TOLERANCE[QT.Q5_0]),
    (QT.Q4_K, True, CONVERTED_TOLERANCE[QT.Q4_K]),
    (QT.Q6_K, False, CONVERTED_TOLERANCE[QT.Q6_K]),
]


@pytest.mark.parametrize(("qtype", "tie", "tolerance"), CASES, ids=lambda v: str(v))
def test_dense_model_matches_reference(tmp_path: Path, qtype: QT, tie: bool, tolerance: float):
    from memo_mlx.models.base import load_base

    tiny = write_tiny_gguf(tmp_path / f"m-{qtype.name}.gguf", qtype, tie=tie)
    assert tiny.reference is not None
    base = load_base(str(tiny.path), compute="dense")
    assert_logits_close(logits(base.model), logits(tiny.reference), tolerance)
    assert not any(isinstance(m, nn.QuantizedLinear) for m in base.model.modules())
    assert ("lm_head" in dict(base.model.named_modules())) == (not tie)


@pytest.mark.parametrize("qtype", [QT.Q8_0, QT.Q4_1, QT.Q4_K])
def test_quantized_model_matches_reference(tmp_path: Path, qtype: QT):
    """As the file is, for Metal: quantized layers, computed in float16."""
    tiny = write_tiny_gguf(tmp_path / f"m-{qtype.name}.gguf", qtype)
    assert tiny.reference is not None
    model, _, info = load_gguf(tiny.path)
    tolerance = CONVERTED_TOLERANCE.get(qtype, 5e-3)
    assert_logits_close(logits(model), logits(tiny.reference), tolerance)
    assert isinstance(model.layers[0].mlp.down_proj, nn.QuantizedLinear)
    assert info.architecture == "llama"
    assert info.converted == (qtype == QT.Q4_K)


@pytest.mark.parametrize("qtype", [QT.Q8_0, QT.Q5_0], ids=["native", "converted"])
@pytest.mark.parametrize("arch", ["qwen2", "qwen3", "gemma3"])
def test_other_families_match_their_reference(tmp_path: Path, arch: str, qtype: QT):
    """Each family's names, hyperparameters and fixes: its mlx-lm model computes what the
    reference does, dense and quantized, over a prompt longer than gemma3's sliding window."""
    from memo_mlx.models.base import load_base

    assert len(PROMPT) > SLIDING_WINDOW
    tiny = write_tiny_family_gguf(tmp_path / f"{arch}.gguf", arch, qtype)
    assert tiny.reference is not None
    tolerance = CONVERTED_TOLERANCE.get(qtype, 1e-5)
    dense = load_base(str(tiny.path), compute="dense")
    assert_logits_close(logits(dense.model), logits(tiny.reference), tolerance)
    model, tokenizer, info = load_gguf(tiny.path)
    assert info.architecture == arch and info.converted == (qtype == QT.Q5_0)
    assert type(model).__module__ == type(tiny.reference).__module__
    assert_logits_close(logits(model), logits(tiny.reference), max(tolerance, 5e-3))
    assert isinstance(model.layers[0].mlp.down_proj, nn.QuantizedLinear)


def test_a_family_generates_and_learns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A gemma3 file through the whole engine: streamed generation and a memory taught."""
    from memo_mlx.catalog import Catalog
    from memo_mlx.learning.teach import teach_memory
    from memo_mlx.models.runtime import ModelRuntime
    from memo_mlx.settings import memo_home
    from memo_mlx.sources.chunking import Chunker
    from memo_mlx.sources.ingest import add_paths
    from tiny import FAST_TEACHING

    tiny = write_tiny_family_gguf(tmp_path / "gemma3.gguf", "gemma3")
    monkeypatch.setenv("MEMO_MODEL", str(tiny.path))
    memo_home().mkdir(parents=True, exist_ok=True)
    (memo_home() / "settings.toml").write_text(FAST_TEACHING)
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "bridge.md").write_text("The Hollow Bridge was designed by Mara Quill in 1987.\n")
    with Catalog() as catalog, ModelRuntime() as runtime:
        pieces: list[str] = []
        reply = runtime.generate([{"role": "user", "content": "hi"}], max_tokens=6,
                                 on_text=pieces.append).result()
        assert reply.generation_tokens > 0 and "".join(pieces) == reply.text
        memory = add_paths(catalog, [folder], "notes")
        report = teach_memory(catalog, memory, runtime, chunker=Chunker())
        assert report.training is not None and report.training.steps > 0
        assert catalog.runs.adapter(memory.id) is not None


def test_rope_freqs_are_applied(tmp_path: Path):
    """Llama 3 files carry per-dimension RoPE factors; factors of 1 change nothing, others do."""
    dims = 256 // 4 // 2
    plain = write_tiny_gguf(tmp_path / "plain.gguf", QT.F32)
    ones = write_tiny_gguf(tmp_path / "ones.gguf", QT.F32, rope_freqs=np.ones(dims))
    scaled = write_tiny_gguf(tmp_path / "x8.gguf", QT.F32, rope_freqs=np.full(dims, 8.0))
    base = logits(load_gguf(plain.path)[0])
    assert mx.allclose(logits(load_gguf(ones.path)[0]), base, atol=1e-4).item()
    assert not mx.allclose(logits(load_gguf(scaled.path)[0]), base, atol=1e-2).item()


def test_tokenizer_round_trip_and_specials(tiny_q8):
    _, tokenizer, _ = load_gguf(tiny_q8.path)
    text = "the cat in the hat, 42 times: café ✓"
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert tokenizer.decode(ids) == text
    # Merges apply: "Ġthe" is one token.
    assert tiny_q8.vocab.index("Ġthe") in ids
    # Special tokens of the chat template are single tokens, never split into bytes.
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "hi"}], add_generation_prompt=True, tokenize=False
    )
    assert prompt == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    ids = tokenizer.encode(prompt, add_special_tokens=False)
    assert ids.count(tiny_q8.vocab.index("<|im_start|>")) == 2
    assert tokenizer.eos_token_ids == {2}


def test_sentencepiece_tokenizer(tmp_path: Path):
    """The "llama" (SentencePiece) tokenizer model: merges from scores, byte fallback."""
    import gguf

    from memo_mlx.models.gguf_loader import GGUFMetadata, build_tokenizer

    pieces = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    words = ["▁", "h", "e", "l", "o", "w", "r", "d", "he", "ll", "▁he", "llo", "▁hello", "▁w"]
    pieces += words
    scores = [0.0] * 259 + [-float(i) for i in range(len(words))]
    # The last is of llama.cpp's type 0, "undefined": read as a normal piece.
    types = [2, 3, 3] + [6] * 256 + [1] * (len(words) - 1) + [0]
    path = tmp_path / "spm.gguf"
    w = gguf.GGUFWriter(str(path), arch="llama")
    w.add_tokenizer_model("llama")
    w.add_token_list(pieces)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tok = build_tokenizer(GGUFMetadata.of_reader(gguf.GGUFReader(path), path))
    assert_spells_as_sentencepiece(path, ["hello world", "  hello  ", "wörld\nhe", "low", ""])
    ids = tok.encode("hello world")
    assert ids[0] == 1  # BOS is added for SentencePiece models
    assert pieces.index("▁hello") in ids
    assert pieces.index("▁w") in ids  # its piece of type 0
    assert tok.decode(ids, skip_special_tokens=True) == "hello world"
    # Characters outside the vocabulary fall back to bytes, and come back intact.
    ids = tok.encode("é", add_special_tokens=False)
    assert [pieces[i] for i in ids] == ["▁", "<0xC3>", "<0xA9>"]
    assert tok.decode(ids) == "é"


def assert_spells_as_sentencepiece(path: Path, texts: list[str]) -> None:
    """The file's tokenizer encodes `texts` as SentencePiece itself does with the vocabulary
    (`sentencepiece_model`), apart from the beginning-of-text token."""
    import gguf
    from sentencepiece import SentencePieceProcessor

    from memo_mlx.models.gguf_loader import GGUFMetadata, build_tokenizer, sentencepiece_model

    meta = GGUFMetadata.of_reader(gguf.GGUFReader(path), path)
    tok = build_tokenizer(meta)
    reference = SentencePieceProcessor(model_proto=sentencepiece_model(meta).SerializeToString())
    for text in texts:
        assert tok.encode(text, add_special_tokens=False) == reference.encode(text), text


def _tokenizer_only(path: Path, arch: str, kind: str, pieces: list[str], *,
                    scores: list[float] | None = None, types: list[int] | None = None,
                    merges: list[str] | None = None, pre: str = "default",
                    template: str | None = None, ids: dict[str, int] | None = None,
                    space_prefix: bool = True):
    """The tokenizer of a file holding only a vocabulary (no tensors)."""
    import gguf

    from memo_mlx.models.gguf_loader import GGUFMetadata, build_tokenizer

    w = gguf.GGUFWriter(str(path), arch=arch)
    w.add_tokenizer_model(kind)
    w.add_tokenizer_pre(pre)
    w.add_token_list(pieces)
    w.add_token_types(types or [1] * len(pieces))
    if scores is not None:
        w.add_token_scores(scores)
    if merges is not None:
        w.add_token_merges(merges)
    if template is not None:
        w.add_chat_template(template)
    w.add_add_space_prefix(space_prefix)
    for key, value in (ids or {}).items():
        getattr(w, f"add_{key}_token_id")(value)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return build_tokenizer(GGUFMetadata.of_reader(gguf.GGUFReader(path), path))


def test_gemma_sentencepiece_vocabulary(tmp_path: Path):
    """Gemma's files: merges follow the tokens' order in the file (not their scores), runs of
    spaces are stored as spaces, <unk> is named by id (not the first token), the file of a base
    model has no chat template (Gemma's turns are used) and <end_of_turn> ends a reply."""
    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"]
    words = ["▁", "a", "b", "c", "ab", "bc", "  "]
    pieces = specials + [f"<0x{b:02X}>" for b in range(256)] + words
    scores = [0.0] * (len(specials) + 256) + [-1.0, -2.0, -3.0, -4.0, -9.0, -5.0, -1000.0]
    types = [3] * len(specials) + [6] * 256 + [1] * 6 + [4]
    ids = {"bos": 2, "eos": 1, "unk": 3, "pad": 0}

    def spelled(tok, text: str) -> list[str]:
        return [pieces[i] for i in tok.encode(text, add_special_tokens=False)]

    gemma = _tokenizer_only(tmp_path / "g.gguf", "gemma3", "llama", pieces, scores=scores,
                            types=types, ids=ids, space_prefix=False)
    assert spelled(gemma, "abc") == ["ab", "c"]  # "ab" comes first in the file
    assert_spells_as_sentencepiece(tmp_path / "g.gguf", ["abc", "a  b", "cab  c", " ba", "é"])
    assert spelled(gemma, "a  b") == ["a", "  ", "b"]  # one token: "  " looked up as "▁▁"
    assert gemma.unk_token == "<unk>"
    prompt = gemma.apply_chat_template(
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
        add_generation_prompt=True, tokenize=False)
    assert prompt == ("<bos><start_of_turn>user\nBe brief.\n\nhi<end_of_turn>\n"
                      "<start_of_turn>model\n")
    assert gemma.eos_token_ids == {1, pieces.index("<end_of_turn>")}
    # The same vocabulary in a llama file ranks merges by score, as SentencePiece does.
    llama_spm = _tokenizer_only(tmp_path / "l.gguf", "llama", "llama", pieces, scores=scores,
                                types=types, ids=ids, space_prefix=False)
    assert spelled(llama_spm, "abc") == ["a", "bc"]
    assert_spells_as_sentencepiece(tmp_path / "l.gguf", ["abc", "a  b", "cab  c", " ba", "é"])


def test_llama3_words_are_looked_up_whole(tmp_path: Path):
    """Llama 3's pre-tokenizer names: a word in the vocabulary is one token even where the
    merges would not reach it (as llama.cpp and Llama 3's own tokenizer.json do)."""
    pieces = ["a", "b", "c", "ab", "abc", "<|eot_id|>"]
    merges = ["a b"]

    def spelled(pre: str) -> list[str]:
        tok = _tokenizer_only(tmp_path / f"{pre}.gguf", "llama", "gpt2", pieces, merges=merges,
                              pre=pre, template="{{ messages[0]['content'] }}")
        return [pieces[i] for i in tok.encode("abc", add_special_tokens=False)]

    assert spelled("llama-bpe") == ["abc"]
    assert spelled("default") == ["ab", "c"]


def test_a_thinking_template_is_asked_not_to_think(tmp_path: Path):
    """Qwen3's template opens a <think> block unless told not to: the prompt tells it."""
    from memo_mlx.models.chat_template import prompt_ids

    template = ("{{ messages[0]['content'] }}{% if add_generation_prompt %}"
                "{% if enable_thinking is defined and not enable_thinking %}[no thinking]"
                "{% else %}[think]{% endif %}{% endif %}")
    pieces = [chr(c) for c in range(ord("!"), ord("~") + 1)] + ["hi", "<|im_end|>"]
    tok = _tokenizer_only(tmp_path / "q.gguf", "qwen3", "gpt2", pieces, merges=["h i"],
                          template=template)
    text = tok.decode(prompt_ids(tok, [{"role": "user", "content": "hi"}]))
    assert text == "hi[nothinking]"  # (the vocabulary has no space)


def test_unsupported_quantization_is_refused_by_name(tmp_path: Path):
    tiny = write_tiny_gguf(tmp_path / "q8_1.gguf", QT.Q8_1)
    with pytest.raises(GGUFError, match=r"q8_1\.gguf: tensor .* type Q8_1.*cannot be decoded"):
        load_gguf(tiny.path)


def test_unsupported_architecture(tmp_path: Path):
    tiny = write_tiny_gguf(tmp_path / "bert.gguf", QT.F32, arch="bert")
    with pytest.raises(GGUFError, match=r"bert\.gguf: architecture 'bert' is not supported"):
        load_gguf(tiny.path)


def test_unsupported_tokenizer(tmp_path: Path):
    tiny = write_tiny_gguf(tmp_path / "wp.gguf", QT.F32, tokenizer_model="bert")
    with pytest.raises(GGUFError, match=r"wp\.gguf: tokenizer model 'bert' is not supported"):
        load_gguf(tiny.path)


@pytest.mark.parametrize("keep", [0.66, -64, -1], ids=["two-thirds", "last-tensor", "one-byte"])
def test_truncated_file(tmp_path: Path, tiny_q8, keep: float):
    cut = tmp_path / "cut.gguf"
    data = tiny_q8.path.read_bytes()
    cut.write_bytes(data[: int(len(data) * keep) if keep > 0 else int(keep)])
    with pytest.raises(GGUFError, match=r"cut\.gguf: GGUF file is damaged or truncated"):
        load_gguf(cut)


@pytest.mark.parametrize("content", [b"", b"not a gguf file at all"])
def test_not_a_gguf_file(tmp_path: Path, content: bytes):
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(content)
    with pytest.raises(GGUFError, match=r"bad\.gguf: not a readable GGUF file"):
        load_gguf(bad)


@pytest.mark.slow
def test_default_model_logits_are_sensible(default_model):
    tok = default_model.tokenizer
    out = logits(default_model.model, tok.encode("The capital of France is"))
    assert mx.all(mx.isfinite(out)).item()
    assert tok.decode([out[-1].argmax().item()]).strip() == "Paris"


@pytest.mark.slow
def test_default_model_quantized_and_dense_agree():
    """The CPU's dense compute copy computes what the file's quantized weights say (both
    loaded explicitly, so the two paths are compared on any backend)."""
    from memo_mlx.models.base import load_base

    quantized, dense = load_base(compute="quantized"), load_base(compute="dense")
    assert dense.compute == "dense float32" and quantized.compute == "quantized"
    tokens = dense.tokenizer.encode("The quick brown fox jumps over the lazy")
    assert_logits_close(logits(quantized.model, tokens), logits(dense.model, tokens), 2e-2)
