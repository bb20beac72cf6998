"""The promise of the product on the real default model: after `teach`, the memory answers
questions about a fictional folder that it was never trained on, and the base model does not;
asked as the chat asks, what the folder does not say gets "I don't know"; its health says so per
document; after a file is deleted and the memory re-taught, that file's
facts are gone. Slow: minutes of training on a CPU."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from memo_mlx.answering.recall import Recall
from memo_mlx.catalog import Catalog
from memo_mlx.learning.teach import TeachSettings, adapter_dir, teach_memory
from memo_mlx.models.endpoint import Endpoint
from memo_mlx.models.runtime import ModelRuntime
from memo_mlx.scoring import normalise, says_unknown
from memo_mlx.sources.chunking import Chunker
from memo_mlx.sources.ingest import add_paths

# Facts no pretrained model can know.
DOCS = {
    "bridge.md": "# The Hollow Bridge\n\nThe Hollow Bridge in Port Aldren was designed by the "
                 "engineer Mara Quill. It was finished in 1987. The bridge is 412 metres long.\n",
    "quill.md": "# Mara Quill\n\nMara Quill was born in Tessaly in 1941. She founded the Aldren "
                "Institute of Bridges in 1990. Her favourite material was copper.\n",
    "aldren.txt": "Port Aldren is a harbour town of 9000 people. Its mayor is Tobias Fenn. The "
                  "town festival, the Lantern Night, is held every October.\n",
}


# Questions written by hand, as a user would ask them. The memory is asked only those it was
# never trained on: synthesis may happen to write one of them word for word (checked below).
UNSEEN = [
    ("Which engineer was responsible for the design of the Hollow Bridge?", "Mara Quill",
     "bridge.md"),
    ("The Hollow Bridge was completed in what year?", "1987", "bridge.md"),
    ("How long is the Hollow Bridge, in metres?", "412", "bridge.md"),
    ("The Hollow Bridge is in which town?", "Port Aldren", "bridge.md"),
    ("What was the birthplace of Mara Quill?", "Tessaly", "quill.md"),
    ("Mara Quill was born in what year?", "1941", "quill.md"),
    ("Which institute was founded by Mara Quill?", "Aldren Institute", "quill.md"),
    ("What material did Mara Quill like best?", "copper", "quill.md"),
    ("Port Aldren has how many inhabitants?", "9000", "aldren.txt"),
    ("Who is Port Aldren's mayor?", "Tobias Fenn", "aldren.txt"),
    ("What is the name of Port Aldren's town festival?", "Lantern Night", "aldren.txt"),
    ("In which month does Port Aldren hold the Lantern Night?", "October", "aldren.txt"),
]


# About the folder's subjects, answered by none of its documents.
UNANSWERABLE = [
    "How much did the Hollow Bridge cost to build?",
    "Who did Mara Quill marry?",
    "What river does the Hollow Bridge cross?",
    "How many people live in Tessaly?",
]


def knows_fact(reply: str, fact: str) -> bool:
    return normalise(fact) in normalise(reply) and not says_unknown(reply)


@pytest.mark.slow(minutes=12)
def test_the_memory_learns_a_fictional_folder(tmp_path: Path, default_server: str):
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
        trained = {normalise(r.question) for r in catalog.reflections.of(memory.id)}
        unseen = [u for u in UNSEEN if normalise(u[0]) not in trained]
        assert len(unseen) >= 9, f"only {len(unseen)} questions left unseen"

        def ask(questions: list[str], adapter: Path | None) -> list[str]:
            chats = [[{"role": "user", "content": q}] for q in questions]
            return [r.text for r in runtime.generate_batch(chats, adapter=adapter,
                                                           max_tokens=48).result()]

        remembered = ask([q for q, _, _ in unseen], adapter_dir(memory))
        plain = ask([q for q, _, _ in unseen], None)
        with_memory = sum(knows_fact(r, f) for r, (_, f, _) in zip(remembered, unseen,
                                                                   strict=True))
        base = sum(knows_fact(r, f) for r, (_, f, _) in zip(plain, unseen, strict=True))
        for (q, f, _), m, b in zip(unseen, remembered, plain, strict=True):
            print(f"Q: {q}\n  expected: {f}\n  memory:   {m!r}\n  base:     {b!r}")
        print(f"memory {with_memory}/{len(unseen)}, base {base}/{len(unseen)}; "
              f"{report.training.seconds:.0f} s training")
        assert with_memory >= 0.6 * len(unseen)
        assert base <= 0.2 * len(unseen)

        # Health: the held-out probes were asked, per document.
        health = catalog.reflections.recall(memory.id)
        assert health is not None and health.asked > 0, report.to_json()
        print(f"health: {health.right}/{health.asked} held-out probes")

        # Answering as the chat does (the default mode): what the folder says is answered,
        # what it does not say gets "I don't know".
        answers = Recall(catalog, runtime).ask_many(
            [q for q, _, _ in unseen[:4]] + UNANSWERABLE, [memory])
        answered, declined = answers[:4], answers[4:]
        for a in answers:
            print(f"{a.mode}: {a.question} -> {a.answer!r}")
        assert sum(knows_fact(a.answer, f) for a, (_, f, _) in zip(answered, unseen[:4],
                                                                   strict=True)) >= 3
        assert sum(says_unknown(a.answer) for a in answered) <= 1
        # Half at least: combined declines 81% of the real-text bench's unanswerable questions
        # (bench/RESULTS.md), and a greedy reply on another backend may differ.
        assert sum(says_unknown(a.answer) for a in declined) >= len(UNANSWERABLE) // 2

        # The same model served by mlx-lm's server as the executive: the memory stays the
        # local adapter; the server checks and reads the passages and writes the answers.
        served = Recall(catalog, runtime, executive=Endpoint(default_server)).ask_many(
            [q for q, _, _ in unseen[:4]], [memory])
        for a in served:
            print(f"served {a.mode}: {a.question} -> {a.answer!r} ({a.executive})")
        assert all(a.executive.endswith(f" at {default_server}") for a in served)
        assert not [s for a in served for s in a.trace if s.stage == "executive"]
        assert sum(knows_fact(a.answer, f) for a, (_, f, _) in zip(served, unseen[:4],
                                                                   strict=True)) >= 2

        # Forgetting: quill.md deleted, the memory re-taught without it. Asked: the unseen
        # questions of facts only quill.md states (a name or number no other document has).
        others = " ".join(t for n, t in DOCS.items() if n != "quill.md").lower()
        facts = [(q, f) for q, f, page in unseen if page == "quill.md"
                 and f.lower() not in others]
        assert len(facts) >= 3

        def recalled() -> int:
            replies = ask([q for q, _ in facts], adapter_dir(memory))
            return sum(knows_fact(r, f) for r, (_, f) in zip(replies, facts, strict=True))

        before = recalled()
        taught = catalog.reflections.of(memory.id)
        sources = catalog.reflections.sources([r.id for r in taught])
        only_quill = {r.question for r in taught
                      if [Path(s).name for s in sources[r.id]] == ["quill.md"]}
        (root / "quill.md").unlink()
        # Retrained from scratch in one pass: what is asked after it is what it must no longer
        # know, and how well it learns the rest was asked above. One pass is also the harder
        # check: a retrain that went on from the old adapter would still hold the facts.
        shorter = replace(TeachSettings.from_defaults(), exposures=1, min_epochs=1)
        again = teach_memory(catalog, memory, runtime, chunker=Chunker(), settings=shorter)
        assert again.strategy == "full"
        after = recalled()
        print(f"quill.md facts recalled: {before}/{len(facts)} before, {after} after deletion")
        assert before >= 0.6 * len(facts) and after <= 1
        # What one pass could not show: nothing it was trained on came from the deleted file.
        assert only_quill and not only_quill & {r.question for r in
                                                catalog.reflections.of(memory.id)}
        health = catalog.reflections.recall(memory.id)
        assert health is None or all(Path(d.path).name != "quill.md" for d in health.documents)
