"""One entry point, three sources: GGUF file, MLX folder, hub id; and what each refuses."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import pytest
from mlx.utils import tree_flatten

from memo_mlx.models.base import ModelError, backend, compute_for, load_base, resolve_source
from memo_mlx.models.gguf_loader import load_gguf
from tiny import HEADS, HIDDEN, INTERMEDIATE, KV_HEADS, LAYERS


def test_gguf_source_and_backend_compute(tiny_q8):
    base = load_base(str(tiny_q8.path))
    assert base.source.kind == "gguf"
    assert base.source.name == "tiny-test-model (tiny-q8_0)"
    assert base.backend == backend()
    assert base.compute == compute_for(backend())  # dense on the CPU, quantized on a GPU
    assert compute_for("cpu") == "dense float32"
    assert compute_for("metal") == "quantized"
    assert compute_for("cpu", "quantized") == "quantized"
    with pytest.raises(ModelError, match="compute must be"):
        compute_for("cpu", "fast")


def test_mlx_folder_source(tmp_path: Path, tiny_q8):
    """An MLX model folder (config.json, safetensors, tokenizer files) loads through mlx-lm."""
    folder = tmp_path / "tiny-mlx"
    folder.mkdir()
    ref = tiny_q8.reference
    mx.save_safetensors(str(folder / "model.safetensors"), dict(tree_flatten(ref.parameters())))
    config = {
        "model_type": "llama", "hidden_size": HIDDEN, "num_hidden_layers": LAYERS,
        "intermediate_size": INTERMEDIATE, "num_attention_heads": HEADS,
        "num_key_value_heads": KV_HEADS, "rms_norm_eps": 1e-5, "vocab_size": len(tiny_q8.vocab),
        "rope_theta": 10000.0, "rope_traditional": True, "tie_word_embeddings": True,
    }
    (folder / "config.json").write_text(json.dumps(config))
    _, tokenizer, _ = load_gguf(tiny_q8.path)
    tokenizer._tokenizer.save_pretrained(str(folder))

    base = load_base(str(folder))
    assert base.source.kind == "mlx" and base.source.name == "tiny-mlx"
    tokens = mx.array([tokenizer.encode("the hat")])
    assert mx.allclose(base.model(tokens), ref(tokens), atol=1e-4).item()
    chat = [{"role": "user", "content": "hi"}]
    assert base.tokenizer.apply_chat_template(chat, tokenize=False) == (
        tokenizer.apply_chat_template(chat, tokenize=False)
    )


def test_hub_id_offline_gives_a_clear_error():
    with pytest.raises(ModelError, match=r"someone/no-such-model: could not get the model from "
                                         r"the Hugging Face hub .*set MEMO_MODEL to a local"):
        load_base("someone/no-such-model")


def test_memo_model_environment_variable(tiny_q8, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MEMO_MODEL", str(tiny_q8.path))
    assert resolve_source().location == str(tiny_q8.path)


def test_default_source_is_the_bundled_model():
    source = resolve_source()
    assert source.kind == "gguf"
    assert source.location.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert Path(source.location).is_file()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.gguf", r"missing\.gguf: no such model file or folder"),
        (lambda p: (p / "notes.txt").write_text("x") and p / "notes.txt",
         r"notes\.txt: not a model file"),
        (lambda p: p, r": not an MLX model folder \(no config\.json"),
        (lambda p: "./relative/dir", r"relative/dir: no such model file or folder"),
    ],
)
def test_bad_sources_say_what_and_where(tmp_path: Path, make, message: str):
    with pytest.raises(ModelError, match=message):
        resolve_source(str(make(tmp_path)))
