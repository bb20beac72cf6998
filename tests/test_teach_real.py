"""The promise of the product on the real default model: after `teach`, the memory knows what a
fictional folder says and the base model does not; its health says so per document; after a
file is deleted and the memory re-taught, that file's facts are gone. Slow: minutes of
training on a CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from memo_mlx.catalog import Catalog
from memo_mlx.chunking import Chunker
from memo_mlx.ingest import add_paths
from memo_mlx.runtime import ModelRuntime
from memo_mlx.scoring import key_terms, recalls
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


def knows(reply: str, answer: str) -> bool:
    return bool(key_terms(answer)) and recalls(reply, answer)


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
        reflections = [r for r in catalog.reflections(memory.id)
                       if key_terms(r.answer) and not r.probe]
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

        # Health: the held-out probes were asked, per document.
        health = catalog.recall(memory.id)
        assert health is not None and health.asked > 0, report.to_json()
        print(f"health: {health.right}/{health.asked} held-out probes")

        # Forgetting: quill.md deleted, the memory re-taught without it.
        quill = [r for r, paths in catalog.reflection_sources(
            [r.id for r in catalog.reflections(memory.id)
             if key_terms(r.answer) and not r.probe]).items()
            if paths == [str(root / "quill.md")]]
        # Facts only quill.md states: a name or number no other document has.
        others = " ".join(t for n, t in DOCS.items() if n != "quill.md").lower()
        facts = [r for r in catalog.reflections(memory.id) if r.id in set(quill)
                 and any(t.lower() not in others for t in key_terms(r.answer))]
        assert len(facts) >= 4

        def recalled() -> int:
            replies = runtime.generate_batch(
                [[{"role": "user", "content": r.question}] for r in facts],
                adapter=adapter_dir(memory), max_tokens=48).result()
            return sum(knows(reply.text, r.answer) for r, reply in zip(facts, replies, strict=True))

        before = recalled()
        (root / "quill.md").unlink()
        again = teach_memory(catalog, memory, runtime, chunker=Chunker())
        assert again.strategy == "full"
        after = recalled()
        print(f"quill.md facts recalled: {before}/{len(facts)} before, {after} after deletion")
        assert before >= 0.6 * len(facts) and after <= 1
        health = catalog.recall(memory.id)
        assert health is None or all(Path(d.path).name != "quill.md" for d in health.documents)
