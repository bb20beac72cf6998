"""A real file of another family than the bundled model's: Gemma 3 270M, a base model in
Q4_K_M with a SentencePiece vocabulary of 262k tokens, from the package registry. It loads,
its tokenizer spells text as Gemma's does, it continues text sensibly, and it learns a memory.
Slow: ~40 s to load (its tensors are converted) and a minute of training on a CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from memo_mlx.catalog import Catalog
from memo_mlx.learning.teach import adapter_dir, teach_memory
from memo_mlx.models.runtime import ModelRuntime
from memo_mlx.settings import memo_home
from memo_mlx.sources.chunking import Chunker
from memo_mlx.sources.ingest import add_paths
from tiny import FAST_TEACHING

# Gemma 3's token ids for these texts (its published tokenizer; the ids of a text are the
# same in every Gemma 3 size).
SPELLED = {
    "The capital of France is": [818, 5279, 529, 7001, 563],
    "Hello world": [9259, 1902],
}


@pytest.mark.slow(minutes=2)
def test_gemma3_loads_spells_continues_and_learns(gemma3_file: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch):
    from mlx_lm import generate

    monkeypatch.setenv("MEMO_MODEL", str(gemma3_file))
    memo_home().mkdir(parents=True, exist_ok=True)
    (memo_home() / "settings.toml").write_text(FAST_TEACHING.replace("epochs = 2", "epochs = 8"))
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "bridge.md").write_text("# The Hollow Bridge\n\nThe Hollow Bridge in Port Aldren "
                                      "was designed by Mara Quill. It was finished in 1987.\n")
    with Catalog() as catalog, ModelRuntime() as runtime:
        base = runtime.loaded.result()
        assert base.source.name.startswith("Gemma 3 270m")
        tok = base.tokenizer
        for text, ids in SPELLED.items():
            assert tok.encode(text) == [tok.bos_token_id, *ids]
            assert tok.decode(ids) == text
        assert tok.bos_token == "<bos>" and tok.unk_token == "<unk>"
        said = runtime.submit(lambda b: generate(b.model, b.tokenizer, "The capital of France "
                                                 "is", max_tokens=8)).result()
        assert "paris" in said.lower() or "france" in said.lower(), said

        memory = add_paths(catalog, [folder], "notes")
        report = teach_memory(catalog, memory, runtime, chunker=Chunker())
        assert report.training is not None, report.to_json()
        question = [{"role": "user", "content": "Who designed the Hollow Bridge?"}]
        with_memory = runtime.generate(question, adapter=adapter_dir(memory),
                                       max_tokens=16).result()
        plain = runtime.generate(question, max_tokens=16).result()
        print(f"{report.training}\nmemory: {with_memory.text!r}\nbase: {plain.text!r}")
        assert report.training.final_loss < 1.0  # it fits the folder's reflections
        assert with_memory.text != plain.text
