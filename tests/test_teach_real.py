"""The promise of the product on the real default model: after `teach`, the memory knows what a
fictional folder says, and the base model does not. Slow: minutes of training on a CPU."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from memo_mlx.catalog import Catalog
from memo_mlx.chunking import Chunker
from memo_mlx.ingest import add_paths
from memo_mlx.runtime import ModelRuntime
from memo_mlx.teach import adapter_dir, teach_memory

# Facts no pretrained model can know.
DOCS = {
    "bridge.md": "# The Hollow Bridge\n\nThe Hollow Bridge in Port Aldren was designed by the "
                 "engineer Mara Quill. It was finished in 1987. The bridge is 412 metres long.\n",
    "quill.md": "# Mara Quill\n\nMara Quill was born in Tessaly in 1941. She founded the Aldren "
                "Institute of Bridges in 1990. Her favourite material was copper.\n",
    "aldren.txt": "Port Aldren is a harbour town of 9000 people. Its mayor is Tobias Fenn. The "
                  "town festival, the Lantern Night, is held every October.\n",
}


def key_terms(answer: str) -> set[str]:
    """The facts an answer carries: its numbers and capitalised names (not the first word)."""
    words = re.findall(r"[A-Za-z0-9]+", answer)
    return {w for i, w in enumerate(words) if w.isdigit() or (i > 0 and w[0].isupper())}


def knows(reply: str, answer: str) -> bool:
    terms = key_terms(answer)
    return bool(terms) and all(t.lower() in reply.lower() for t in terms)


@pytest.mark.slow
def test_the_memory_learns_a_fictional_folder(tmp_path: Path):
    """With the default settings, as a user gets them."""
    root = tmp_path / "aldren"
    root.mkdir()
    for name, text in DOCS.items():
        (root / name).write_text(text)
    with Catalog() as catalog, ModelRuntime() as runtime:
        memory = add_paths(catalog, [root], None)
        report = teach_memory(catalog, memory, runtime, chunker=Chunker())
        assert report.training is not None
        assert report.training.final_loss < 0.5, report.to_json()
        reflections = [r for r in catalog.reflections(memory.id) if key_terms(r.answer)]
        asked = reflections[:: max(1, len(reflections) // 12)][:12]
        with_memory = base = 0
        for r in asked:
            messages = [{"role": "user", "content": r.question}]
            remembered = runtime.generate(messages, max_tokens=48,
                                          adapter=adapter_dir(memory)).result().text
            plain = runtime.generate(messages, max_tokens=48).result().text
            with_memory += knows(remembered, r.answer)
            base += knows(plain, r.answer)
            print(f"Q: {r.question}\n  expected: {r.answer}\n  memory:   {remembered!r}\n"
                  f"  base:     {plain!r}")
        print(f"memory {with_memory}/{len(asked)}, base {base}/{len(asked)}; "
              f"{report.training.seconds:.0f} s training")
        assert with_memory >= 0.7 * len(asked)
        assert base <= 0.2 * len(asked)
