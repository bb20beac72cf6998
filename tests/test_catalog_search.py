"""The catalog's m002: full-text search (FTS5, bm25), probes held out of training, recall."""

from __future__ import annotations

from pathlib import Path

import pytest
from catalog_data import save

from memo_mlx.catalog import (
    Catalog,
    NewReflection,
    RecallScore,
    fts_query,
    schema,
)
from memo_mlx.catalog.schema import MIGRATIONS

ALDREN = "The Aldren Institute was founded in 1887 by Mara Voss, a glassmaker."
FILLER = [
    "The institute has a library, a garden and a small museum of glass.",
    "Visitors to the institute can book a guided tour of the museum.",
    "The library of the institute is open on weekdays.",
]
WEIRD = ['"', "'", '""', "AND", "OR", "NOT", "NEAR", "*", "a*", "^", "-", "+", ":", "(", ")",
         "(a OR", 'text:"x', "NEAR(a b, 2)", "{text}: x", "", "   ", "🙂", "🙂🙃 ✨", "\x00",
         "what is it?", 'founded" OR "x', "Aldren's*"]


def chunk_ids(catalog: Catalog, document_id: int) -> list[int]:
    return [c["id"] for c in catalog.sources.chunks(document_id)]


def reflect(catalog: Catalog, memory_id: int, chunks: list[int], question: str,
            answer: str = "an answer.", kind: str = "direct") -> int:
    """A reflection written from these chunks, through the path synthesis takes."""
    catalog.reflections.save(
        memory_id, chunks[0], [NewReflection(question, answer, kind, tuple(chunks))], [], "test"
    )
    return int(catalog.db.execute("SELECT max(id) FROM reflections").fetchone()[0])


def fts_ok(catalog: Catalog) -> None:
    """FTS5's own check that each external-content index matches its table (rank 1: against
    the table's text too, not only the index's own structure)."""
    for table in ("chunks_fts", "reflections_fts"):
        catalog.db.execute(f"INSERT INTO {table} ({table}, rank) VALUES ('integrity-check', 1)")


@pytest.fixture
def catalog(tmp_path: Path):
    with Catalog(tmp_path / "c.db") as c:
        yield c


# --- search -----------------------------------------------------------------------------------


def test_fts_query_quotes_words_and_drops_question_words():
    assert fts_query('Who founded "the" Aldren* Institute?') == (
        '"founded" OR "aldren" OR "institute"'
    )
    assert fts_query("Aldren's ALDREN aldren") == '"aldren"'  # once, and the "s" is dropped
    assert fts_query("Where is it?") == ""
    assert fts_query("") == ""


def test_search_ranks_the_chunk_with_the_rare_words_first(catalog: Catalog, tmp_path: Path):
    memory = catalog.create_memory("m")
    folder, _ = catalog.sources.add_folder(memory.id, tmp_path)
    doc = save(catalog, memory.id, folder.id, "/a.txt", [*FILLER, ALDREN])
    hits = catalog.sources.search_chunks([memory.id], "Who founded the Aldren Institute?")
    assert len(hits) == 3  # the default limit: every chunk says "institute"
    assert hits[0].text == ALDREN
    assert (hits[0].document_id, hits[0].path) == (doc, "/a.txt")
    search = catalog.sources.search_chunks
    assert search([memory.id], "founding of Aldren", limit=1)[0].text == ALDREN
    assert [c.text for c in search([memory.id], "guided tours")] == [FILLER[1]]
    assert catalog.sources.search_chunks([memory.id], "Who is Zebulon?") == []
    assert catalog.sources.search_chunks([memory.id], "Aldren", limit=0) == []


def test_search_only_in_the_given_memories_readable_documents(catalog: Catalog, tmp_path: Path):
    one, two, three = (catalog.create_memory(n) for n in ("one", "two", "three"))
    for memory in (one, two):
        folder, _ = catalog.sources.add_folder(memory.id, tmp_path)
        save(catalog, memory.id, folder.id, "/a.txt", [ALDREN])
    assert [c.text for c in catalog.sources.search_chunks([one.id], "Aldren")] == [ALDREN]
    found = catalog.sources.search_chunks([one.id, two.id], "Aldren")
    assert len(found) == 2 and len({c.id for c in found}) == 2
    assert catalog.sources.search_chunks([three.id], "Aldren") == []
    assert catalog.sources.search_chunks([], "Aldren") == []
    # A file unreadable for now keeps its chunks, but they are not evidence to show.
    catalog.sources.save_error(one.id, catalog.sources.folders(one.id)[0].id, "/a.txt", size=2,
                               mtime_ns=2, error="locked", retry=True)
    assert catalog.sources.search_chunks([one.id], "Aldren") == []
    assert len(catalog.sources.search_chunks([one.id, two.id], "Aldren")) == 1


def test_mentions_finds_a_phrase_as_whole_words_in_the_memorys_own_documents(
        catalog: Catalog, tmp_path: Path):
    one, two = catalog.create_memory("one"), catalog.create_memory("two")
    folder, _ = catalog.sources.add_folder(one.id, tmp_path)
    save(catalog, one.id, folder.id, "/a.txt", [ALDREN, *FILLER, "Émile Zola wrote here."])
    assert catalog.sources.mentions(one.id, "Mara Voss")
    assert catalog.sources.mentions(one.id, "mara  voss")
    assert catalog.sources.mentions(one.id, "émile zola")  # beyond ASCII, in any case
    assert catalog.sources.mentions(one.id, "The")  # stop words only: still looked for
    assert not catalog.sources.mentions(one.id, "Mara Quill")  # one word of it is not the name
    assert not catalog.sources.mentions(one.id, "Mara Vo")  # nor part of a word
    assert not catalog.sources.mentions(one.id, "Voss Mara")
    assert not catalog.sources.mentions(two.id, "Mara Voss")
    assert not catalog.sources.mentions(one.id, "") and not catalog.sources.mentions(one.id, "  ")


@pytest.mark.parametrize("query", WEIRD)
def test_any_query_is_safe(catalog: Catalog, tmp_path: Path, query: str):
    memory = catalog.create_memory("m")
    folder, _ = catalog.sources.add_folder(memory.id, tmp_path)
    doc = save(catalog, memory.id, folder.id, "/a.txt", [ALDREN, *FILLER])
    reflect(catalog, memory.id, chunk_ids(catalog, doc)[:1], "Who founded it?", "Mara Voss.")
    assert isinstance(catalog.sources.search_chunks([memory.id], query), list)
    assert isinstance(catalog.reflections.search(memory.id, query), list)
    if not any(c.isalnum() for c in query):
        assert catalog.sources.search_chunks([memory.id], query) == []


def test_the_index_follows_chunk_inserts_updates_and_deletes(catalog: Catalog, tmp_path: Path):
    memory = catalog.create_memory("m")
    folder, _ = catalog.sources.add_folder(memory.id, tmp_path)
    doc = save(catalog, memory.id, folder.id, "/a.txt", [ALDREN, FILLER[0]])

    def found(query: str) -> list[str]:
        return [c.text for c in catalog.sources.search_chunks([memory.id], query)]

    save(catalog, memory.id, folder.id, "/a.txt", [FILLER[0], FILLER[1]])  # re-ordered, one gone
    assert found("Aldren") == []
    assert found("guided") == [FILLER[1]]
    catalog.db.execute("UPDATE chunks SET text = 'Quillon moved the library.' WHERE text = ?",
                       [FILLER[0]])
    assert found("Quillon") == ["Quillon moved the library."]
    assert found("garden") == []
    catalog.db.execute(  # raw SQL, as a later migration or a repair might write
        "INSERT INTO chunks (document_id, ord, heading, text, token_count, hash) "
        "VALUES (?, 9, '', 'Zebulon keeps bees.', 3, 'z')", [doc],
    )
    assert found("bees") == ["Zebulon keeps bees."]
    fts_ok(catalog)
    catalog.sources.remove_documents([doc])
    assert found("Quillon guided bees") == []
    fts_ok(catalog)
    assert catalog.integrity_check() == "ok"


def test_search_reflections(catalog: Catalog, tmp_path: Path):
    memory, other = catalog.create_memory("m"), catalog.create_memory("other")
    folder, _ = catalog.sources.add_folder(memory.id, tmp_path)
    doc = save(catalog, memory.id, folder.id, "/a.txt", [ALDREN, FILLER[0]])
    aldren, filler = chunk_ids(catalog, doc)
    founder = reflect(catalog, memory.id, [aldren], "Who founded the Aldren Institute?",
                      "Mara Voss founded it in 1887.")
    glass = reflect(catalog, memory.id, [aldren], "What was Mara Voss's trade?", "Glassmaking.")
    reflect(catalog, memory.id, [filler], "What does the institute have?", "A library.")
    other_folder, _ = catalog.sources.add_folder(other.id, tmp_path)
    other_doc = save(catalog, other.id, other_folder.id, "/b.txt", [ALDREN])
    reflect(catalog, other.id, chunk_ids(catalog, other_doc), "Who founded Aldren?", "Voss.")

    hits = catalog.reflections.search(memory.id, "It was founded by Mara Voss in 1887.")
    assert [r.id for r in hits][:2] == [founder, glass]
    assert hits[0].answer == "Mara Voss founded it in 1887." and hits[0].probe is False
    assert [r.id for r in catalog.reflections.search(memory.id, "1887", limit=1)] == [founder]
    # raw inserts are indexed too; orphaned reflections are not found
    rid = int(catalog.db["reflections"].insert({
        "memory_id": memory.id, "question": "Where are the Quillon archives?", "answer": "Oslo.",
        "kind": "direct",
    }).last_pk)
    assert [r.id for r in catalog.reflections.search(memory.id, "Oslo")] == [rid]
    save(catalog, memory.id, folder.id, "/a.txt", [FILLER[0]])  # the Aldren chunk is gone
    assert catalog.reflections.search(memory.id, "Mara Voss 1887") == []
    run = catalog.runs.start(memory.id)
    catalog.runs.finish(run, "done", adapter="a", base_model="b")  # deletes the orphans
    fts_ok(catalog)


def test_migrating_an_m001_catalog_with_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "c.db"
    with monkeypatch.context() as m:
        m.setattr(schema, "MIGRATIONS", MIGRATIONS[:1])
        with Catalog(path) as old:
            assert "chunks_fts" not in old.db.table_names()
            memory = old.create_memory("m")
            folder, _ = old.sources.add_folder(memory.id, tmp_path)
            doc = save(old, memory.id, folder.id, "/a.txt", [ALDREN, *FILLER])
            rid = reflect(old, memory.id, chunk_ids(old, doc)[:1], "Who founded Aldren?",
                          "Mara Voss.")
            reflect(old, memory.id, chunk_ids(old, doc)[:1], "Whose town is Aldren?",
                    "Mara Voss.")
    with Catalog(path) as catalog:
        assert [r["name"] for r in catalog.db["migrations"].rows] == [n for n, _ in MIGRATIONS]
        assert catalog.sources.search_chunks([memory.id], "Aldren founder")[0].text == ALDREN
        found = catalog.reflections.search(memory.id, "founded Mara Voss")[0]
        assert (found.id, found.probe) == (rid, False)
        assert catalog.reflections.recall(memory.id) is None
        assert catalog.reflections.choose_probes(memory.id, per_document=1, min_reflections=1) == 1
        fts_ok(catalog)
        assert catalog.integrity_check() == "ok"


# --- probes -----------------------------------------------------------------------------------


def probe_setup(catalog: Catalog, tmp_path: Path, reverse: bool = False) -> dict[str, int]:
    """Document a: fact X in three wordings (2 direct, 1 indirect), fact Y in two (1 entity, 1
    taught already), fact Z in one; b: two facts in one wording each; one cross (a+b).
    `reverse` writes them in the opposite order: the choice must not depend on row ids."""
    memory = catalog.create_memory("m")
    folder, _ = catalog.sources.add_folder(memory.id, tmp_path)
    a = save(catalog, memory.id, folder.id, "/a.txt", ["a one", "a two"])
    b = save(catalog, memory.id, folder.id, "/b.txt", ["b one"])
    (a1, a2), (b1,) = chunk_ids(catalog, a), chunk_ids(catalog, b)
    specs = [
        ("a direct 1", "X.", "direct", [a1]), ("a direct 2", "x", "direct", [a2]),
        ("a entity", "Y", "entity", [a1, a2]), ("a indirect 1", "X.", "indirect", [a1]),
        ("a indirect 2", "Z", "indirect", [a2]), ("a taught", "Y", "direct", [a1]),
        ("b direct 1", "W", "direct", [b1]), ("b direct 2", "V", "direct", [b1]),
        ("cross", "X.", "direct", [a1, b1]),
    ]
    ids = {q: reflect(catalog, memory.id, c, q, answer, kind=k) for q, answer, k, c in
           (reversed(specs) if reverse else specs)}
    run = catalog.runs.start(memory.id)
    catalog.runs.finish(run, "done", adapter="x", taught=[ids["a taught"]])
    return {"memory": memory.id, "a": a, "b": b, **ids}


def probe_questions(catalog: Catalog, memory_id: int) -> set[str]:
    return {r.question for r, _, _ in catalog.reflections.probes(memory_id)}


def test_choose_probes(catalog: Catalog, tmp_path: Path):
    """A probe is a second wording of a fact that stays taught: never the only reflection of
    one (b's, Z), never taught already, never written from two documents."""
    ids = probe_setup(catalog, tmp_path)
    memory = ids["memory"]
    # a has 6 reflections of its own (the cross one is not), b only 2: below the minimum
    assert catalog.reflections.choose_probes(memory, per_document=2, min_reflections=3) == 2
    chosen = probe_questions(catalog, memory)
    assert chosen < {"a direct 1", "a direct 2", "a entity"}  # direct and entity ones
    again = catalog.reflections.choose_probes(memory, per_document=2, min_reflections=3)
    assert again == 0  # idempotent
    assert probe_questions(catalog, memory) == chosen
    more = catalog.reflections.choose_probes(memory, per_document=4, min_reflections=3)
    assert more == 1  # X and Y left
    assert probe_questions(catalog, memory) == {"a direct 1", "a direct 2", "a entity"}
    assert catalog.reflections.choose_probes(memory, per_document=9, min_reflections=1) == 0
    probes = catalog.reflections.probes(memory)
    assert all(r.probe and r.run_id is None for r, _, _ in probes)
    assert {(doc, path) for _, doc, path in probes} == {(ids["a"], "/a.txt")}
    flags = {r.question: r.probe for r in catalog.reflections.of(memory)}
    for taught in ("a indirect 1", "a indirect 2", "a taught", "b direct 1", "b direct 2",
                   "cross"):
        assert not flags[taught], taught


def test_choose_probes_is_deterministic(tmp_path: Path):
    chosen = []
    for name, reverse in (("one.db", False), ("two.db", True)):
        with Catalog(tmp_path / name) as catalog:
            ids = probe_setup(catalog, tmp_path, reverse=reverse)
            assert catalog.reflections.choose_probes(ids["memory"], per_document=2,
                                                     min_reflections=1) == 2
            chosen.append(probe_questions(catalog, ids["memory"]))
    assert chosen[0] == chosen[1]


def test_orphaned_probes_are_no_probes(catalog: Catalog, tmp_path: Path):
    ids = probe_setup(catalog, tmp_path)
    catalog.reflections.choose_probes(ids["memory"], per_document=5, min_reflections=1)
    assert {doc for _, doc, _ in catalog.reflections.probes(ids["memory"])} == {ids["a"]}
    folder = catalog.sources.folders(ids["memory"])[0]
    save(catalog, ids["memory"], folder.id, "/a.txt", ["a rewritten"])
    assert catalog.reflections.probes(ids["memory"]) == []


# --- recall -----------------------------------------------------------------------------------


def test_recall_saved_replaced_and_summed(catalog: Catalog, tmp_path: Path):
    ids = probe_setup(catalog, tmp_path)
    memory, a, b = ids["memory"], ids["a"], ids["b"]
    other = catalog.create_memory("other")
    assert catalog.reflections.recall(memory) is None
    run = catalog.runs.start(memory)
    catalog.reflections.save_recall(memory, run, {a: (3, 4), b: (1, 2)})
    score = catalog.reflections.recall(memory)
    assert score is not None
    assert (score.right, score.asked, score.score) == (4, 6, pytest.approx(4 / 6))
    assert [(d.path, d.right, d.asked) for d in score.documents] == [
        ("/a.txt", 3, 4), ("/b.txt", 1, 2)
    ]
    # A new measure replaces the whole last one; a gone document is skipped.
    catalog.reflections.save_recall(memory, None, {a: (4, 4), 12345: (1, 1)})
    score = catalog.reflections.recall(memory)
    assert score is not None and (score.right, score.asked) == (4, 4)
    assert [d.path for d in score.documents] == ["/a.txt"] and score.documents[0].score == 1.0
    row = catalog.db["document_recall"].get(a)
    assert (row["run_id"], row["memory_id"]) == (None, memory)
    catalog.reflections.save_recall(other.id, None, {a: (0, 4)})  # not that memory's document
    assert catalog.reflections.recall(other.id) is None
    assert RecallScore(0, 0, []).score == 0.0


def test_recall_follows_removed_documents_and_forget_all(catalog: Catalog, tmp_path: Path):
    ids = probe_setup(catalog, tmp_path)
    memory, a, b = ids["memory"], ids["a"], ids["b"]
    catalog.reflections.save_recall(memory, None, {a: (3, 4), b: (1, 2)})
    catalog.sources.remove_documents([a])
    score = catalog.reflections.recall(memory)
    assert score is not None and [d.path for d in score.documents] == ["/b.txt"]
    assert (score.right, score.asked) == (1, 2)
    assert catalog.db["document_recall"].count == 1
    catalog.sources.remove_folder(catalog.sources.folders(memory)[0])
    assert catalog.reflections.recall(memory) is None and catalog.db["document_recall"].count == 0
    catalog.reflections.save_recall(memory, None, {b: (1, 1)})  # b is gone with its folder
    assert catalog.reflections.recall(memory) is None

    folder, _ = catalog.sources.add_folder(memory, tmp_path)
    c = save(catalog, memory, folder.id, "/c.txt", ["c"])
    catalog.reflections.save_recall(memory, None, {c: (1, 1)})
    catalog.runs.forget_all(memory)
    assert catalog.reflections.recall(memory) is None
    assert catalog.integrity_check() == "ok"
