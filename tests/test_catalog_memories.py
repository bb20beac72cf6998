"""The catalog's m003: pausing, renaming and deleting memories; chats kept across restarts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from catalog_data import save

from memo_mlx.catalog import (
    Catalog,
    CatalogError,
    ChatMessage,
    Memory,
    NewReflection,
    chats,
    schema,
)
from memo_mlx.catalog.schema import MIGRATIONS

# Every table that holds a memory's rows, and how to find that memory's rows in it.
OWNED = {
    "memories": "SELECT * FROM memories WHERE id = :m",
    "folders": "SELECT * FROM folders WHERE memory_id = :m",
    "documents": "SELECT * FROM documents WHERE memory_id = :m",
    "chunks": "SELECT c.* FROM chunks c JOIN documents d ON d.id = c.document_id "
              "WHERE d.memory_id = :m",
    "chunk_entities": "SELECT e.* FROM chunk_entities e JOIN chunks c ON c.id = e.chunk_id "
                      "JOIN documents d ON d.id = c.document_id WHERE d.memory_id = :m",
    "reflections": "SELECT * FROM reflections WHERE memory_id = :m",
    "reflection_sources": "SELECT s.* FROM reflection_sources s "
                          "JOIN reflections r ON r.id = s.reflection_id WHERE r.memory_id = :m",
    "training_runs": "SELECT * FROM training_runs WHERE memory_id = :m",
    "adapters": "SELECT * FROM adapters WHERE memory_id = :m",
    "document_recall": "SELECT * FROM document_recall WHERE memory_id = :m",
}


@pytest.fixture
def catalog():
    with Catalog() as c:
        yield c


def rows(catalog: Catalog, table: str, sql: str | None = None, **args: object) -> set[tuple]:
    return set(catalog.db.execute(sql or f"SELECT * FROM {table}", args).fetchall())


def fts_rowids(catalog: Catalog, table: str, word: str) -> list[int]:
    """What the full-text index itself holds for a word, whatever the joins would hide."""
    return [r[0] for r in catalog.db.execute(
        f"SELECT rowid FROM {table} WHERE {table} MATCH ?", [f'"{word}"']
    )]


def teach_memory(catalog: Catalog, name: str, word: str, tmp_path: Path) -> int:
    """A memory with something in every table it owns: two documents, their chunks and
    names, reflections (one a probe), a finished run with its adapter, and a recall measure."""
    memory = catalog.create_memory(name).id
    folder, _ = catalog.sources.add_folder(memory, tmp_path / name)
    docs = [
        save(catalog, memory, folder.id, f"{tmp_path}/{name}/{i}.md",
             [f"{word} chapter {i} tells of the harbour.", f"{word} appendix {i} lists ships."])
        for i in range(2)
    ]
    for doc in docs:
        chunk_ids = [c["id"] for c in catalog.sources.chunks(doc)]
        for cid in chunk_ids:
            reflection = NewReflection(f"What does {word} say?", f"{word} answers.", "direct",
                                       (cid,))
            catalog.reflections.save(memory, cid, [reflection, reflection], [word, "harbour"],
                                     "test")
    assert catalog.reflections.choose_probes(memory, per_document=1, min_reflections=1) == 2
    run = catalog.runs.start(memory)
    taught = [r.id for r in catalog.reflections.of(memory) if not r.probe]
    catalog.runs.finish(run, "done", adapter=f"adapters/{name}", base_model="b", taught=taught)
    catalog.reflections.save_recall(memory, run, {doc: (1, 1) for doc in docs})
    return memory


# --- memories ---------------------------------------------------------------------------------


def test_paused_is_the_last_field_of_a_memory():
    names = [f.name for f in dataclasses.fields(Memory)]
    assert names == ["id", "name", "enabled", "state", "error", "paused"]


def test_pause_round_trips_and_survives_reopening():
    with Catalog() as catalog:
        notes = catalog.create_memory("notes")
        other = catalog.create_memory("other")
        assert notes.paused is False
        catalog.set_paused(notes.id, True)
        assert catalog.memory_by_id(notes.id).paused is True
        assert catalog.memory_by_id(other.id).paused is False
    with Catalog() as catalog:
        paused = {m.name: m.paused for m in catalog.memories()}
        assert paused == {"notes": True, "other": False}
        catalog.set_paused(notes.id, False)
        memory = catalog.memory("notes")
        assert memory is not None and memory.paused is False
        assert memory.enabled is True  # pausing is not switching off


def test_rename_memory(catalog: Catalog, tmp_path: Path):
    notes = catalog.create_memory("notes")
    folder, _ = catalog.sources.add_folder(notes.id, tmp_path / "notes")
    catalog.create_memory("work")
    renamed = catalog.rename_memory(notes.id, "  Diary ")
    assert renamed == dataclasses.replace(notes, name="Diary")
    assert catalog.memory("notes") is None
    assert [f.id for f in catalog.sources.folders(notes.id)] == [folder.id]  # what it owns stays
    with pytest.raises(CatalogError, match="a memory named 'work' already exists"):
        catalog.rename_memory(notes.id, "work")
    assert catalog.rename_memory(notes.id, " Diary ") == renamed  # its own name: nothing
    with pytest.raises(CatalogError, match="needs a name"):
        catalog.rename_memory(notes.id, "  ")
    with pytest.raises(CatalogError, match="printable"):
        catalog.rename_memory(notes.id, "bad\nname")
    with pytest.raises(CatalogError, match="no memory with id 999"):
        catalog.rename_memory(999, "ghost")
    assert sorted(m.name for m in catalog.memories()) == ["Diary", "work"]


def test_delete_memory_removes_all_it_owns_and_nothing_else(catalog: Catalog, tmp_path: Path):
    gone = teach_memory(catalog, "gone", "aldren", tmp_path)
    kept = teach_memory(catalog, "kept", "brimley", tmp_path)
    chat = catalog.chats.create()
    catalog.chats.add_message(chat.id, "user", "What did aldren say?", memories=["gone"])
    owned = {table: rows(catalog, table, sql, m=gone) for table, sql in OWNED.items()}
    assert all(owned.values()), [t for t, r in owned.items() if not r]  # every table is tested
    before = {table: rows(catalog, table) for table in [*OWNED, "chats", "messages"]}
    gone_chunks = fts_rowids(catalog, "chunks_fts", "aldren")
    gone_reflections = fts_rowids(catalog, "reflections_fts", "aldren")
    assert gone_chunks and gone_reflections
    assert catalog.sources.search_chunks([gone], "aldren harbour")

    catalog.delete_memory(gone)

    for table, old in before.items():
        assert rows(catalog, table) == old - owned.get(table, set()), table
    assert catalog.memories() == [catalog.memory_by_id(kept)]
    assert fts_rowids(catalog, "chunks_fts", "aldren") == []
    assert fts_rowids(catalog, "reflections_fts", "aldren") == []
    assert catalog.sources.search_chunks([gone, kept], "aldren") == []
    assert catalog.reflections.search(gone, "aldren") == []
    assert catalog.sources.search_chunks([kept], "brimley harbour")
    assert catalog.reflections.search(kept, "brimley")
    assert catalog.reflections.recall(kept) is not None and catalog.runs.adapter(kept) is not None
    for table in ("chunks_fts", "reflections_fts"):
        catalog.db.execute(f"INSERT INTO {table} ({table}, rank) VALUES ('integrity-check', 1)")
    assert catalog.integrity_check() == "ok"
    assert catalog.db.execute("PRAGMA foreign_key_check").fetchall() == []
    catalog.delete_memory(gone)  # already gone: nothing to do
    assert catalog.create_memory("gone").name == "gone"  # the name is free again


def test_m002_catalog_upgrades(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "old.db"
    with monkeypatch.context() as m:
        m.setattr(schema, "MIGRATIONS", MIGRATIONS[:2])
        with Catalog(path) as old:
            old.db["memories"].insert({"name": "notes", "created_at": "2024-01-01"})
            old.db["chats"].insert({"id": 1, "title": "Old", "created_at": "2024-01-01",
                                    "updated_at": "2024-01-01"})
            old.db["messages"].insert({"chat_id": 1, "ord": 0, "role": "user", "content": "hi",
                                       "memories": '["notes"]', "trace": None})
    with Catalog(path) as catalog:
        applied = [r["name"] for r in catalog.db["migrations"].rows]
        assert applied == ["m001_initial", "m002_recall", "m003_app", "m004_quotes",
                           "m005_executive", "m006_adapter_digest"]
        assert "digest" in catalog.db["adapters"].columns_dict  # NULL: recorded before
        memory = catalog.memory("notes")
        assert memory is not None and memory.paused is False
        [message] = catalog.chats.messages(1)
        assert (message.content, message.mode, message.memories, message.trace,
                message.sources, message.quotes) == ("hi", None, ["notes"], [], [], [])
        assert catalog.integrity_check() == "ok"


# --- chats ------------------------------------------------------------------------------------


def test_create_chat(catalog: Catalog):
    chat = catalog.chats.create()
    assert chat.title == "New chat" and chat.created_at == chat.updated_at
    assert catalog.chats.get(chat.id) == chat
    assert catalog.chats.get(chat.id + 1) is None
    assert catalog.chats.create("  Plans  ").title == "Plans"
    with pytest.raises(CatalogError, match="needs a title"):
        catalog.chats.create(" ")
    assert catalog.chats.messages(chat.id) == []


def test_messages_round_trip_across_restarts():
    trace = [{"step": "search", "hits": 3, "found": {"paths": ["/d/café.md"], "score": 0.5}},
             {"step": "answer", "tokens": 42, "done": True, "error": None}]
    with Catalog() as catalog:
        chat = catalog.chats.create()
        question = catalog.chats.add_message(chat.id, "user", "Who founded it?")
        answer = catalog.chats.add_message(
            chat.id, "assistant", "Mara Voss, in 1887.", mode="memory",
            memories=["notes", "work"], trace=trace, sources=["/d/café.md", "/d/b.txt"],
        )
    assert question == ChatMessage(question.id, chat.id, "user", "Who founded it?", None, [],
                                   [], [], question.created_at)
    assert (answer.mode, answer.memories, answer.trace, answer.sources) == (
        "memory", ["notes", "work"], trace, ["/d/café.md", "/d/b.txt"])
    with Catalog() as catalog:
        assert catalog.chats.messages(chat.id) == [question, answer]
        assert catalog.chats.get(chat.id).updated_at == answer.created_at  # type: ignore[union-attr]
        ords = catalog.db.execute("SELECT ord FROM messages ORDER BY id").fetchall()
        assert ords == [(0,), (1,)]


def test_title_from_the_first_question(catalog: Catalog):
    chat = catalog.chats.create()
    catalog.chats.add_message(chat.id, "assistant", "Hello! Ask me anything.")
    assert catalog.chats.get(chat.id).title == "New chat"  # type: ignore[union-attr]
    catalog.chats.add_message(chat.id, "user", "\n   What did Mara Voss found?  \nAnd when?")
    assert catalog.chats.get(chat.id).title == "What did Mara Voss found?"  # type: ignore[union-attr]
    catalog.chats.add_message(chat.id, "user", "Another question")
    assert catalog.chats.get(chat.id).title == "What did Mara Voss found?"  # type: ignore[union-attr]

    long = catalog.chats.create()
    catalog.chats.add_message(long.id, "user", "word " * 30)
    title = catalog.chats.get(long.id).title  # type: ignore[union-attr]
    assert len(title) == 60 and title.endswith("…") and title.startswith("word word")
    exact = catalog.chats.create()
    catalog.chats.add_message(exact.id, "user", "x" * 60)
    assert catalog.chats.get(exact.id).title == "x" * 60  # type: ignore[union-attr]

    named = catalog.chats.create("Trip")
    catalog.chats.add_message(named.id, "user", "Where to?")
    assert catalog.chats.get(named.id).title == "Trip"  # type: ignore[union-attr]
    blank = catalog.chats.create()
    catalog.chats.add_message(blank.id, "user", "  \n ")
    assert catalog.chats.get(blank.id).title == "New chat"  # type: ignore[union-attr]


def test_chats_newest_activity_first(catalog: Catalog, monkeypatch: pytest.MonkeyPatch):
    a, b, c = (catalog.chats.create(t).id for t in "abc")
    assert [ch.id for ch in catalog.chats.all()] == [c, b, a]
    catalog.chats.add_message(a, "user", "back to a")
    assert [ch.id for ch in catalog.chats.all()] == [a, c, b]
    catalog.chats.rename(b, "renamed")  # a new title is not activity
    assert [ch.id for ch in catalog.chats.all()] == [a, c, b]
    monkeypatch.setattr(chats, "_instant", lambda: "2100-01-01T00:00:00.000000+00:00")
    for chat_id in (b, a, c):
        catalog.chats.add_message(chat_id, "user", "same instant")
    assert [ch.id for ch in catalog.chats.all()] == [c, b, a]  # a tie: the newer chat first


def test_rename_chat(catalog: Catalog):
    chat = catalog.chats.create()
    renamed = catalog.chats.rename(chat.id, "  Holiday plans \n")
    assert renamed == dataclasses.replace(chat, title="Holiday plans")
    assert catalog.chats.rename(chat.id, "t" * 250).title == "t" * 200
    with pytest.raises(CatalogError, match="needs a title"):
        catalog.chats.rename(chat.id, "   ")
    with pytest.raises(CatalogError, match="no chat with id 4242"):
        catalog.chats.rename(4242, "x")
    assert catalog.chats.get(chat.id).title == "t" * 200  # type: ignore[union-attr]


def test_delete_chat(catalog: Catalog):
    gone, kept = catalog.chats.create(), catalog.chats.create()
    for chat in (gone, kept):
        catalog.chats.add_message(chat.id, "user", "q")
        catalog.chats.add_message(chat.id, "assistant", "a", trace=[{"step": "x"}])
    kept_messages = catalog.chats.messages(kept.id)
    catalog.chats.delete(gone.id)
    assert catalog.chats.get(gone.id) is None
    assert catalog.chats.messages(gone.id) == []
    assert [c.id for c in catalog.chats.all()] == [kept.id]
    assert catalog.chats.messages(kept.id) == kept_messages
    assert catalog.db.execute("SELECT count(*) FROM messages").fetchone()[0] == 2
    catalog.chats.delete(gone.id)  # already gone: nothing to do
    assert catalog.integrity_check() == "ok"


def test_message_errors(catalog: Catalog):
    chat = catalog.chats.create()
    with pytest.raises(CatalogError, match="'system'"):
        catalog.chats.add_message(chat.id, "system", "be nice")
    with pytest.raises(CatalogError, match="no chat with id 12345"):
        catalog.chats.add_message(12345, "user", "hello")
    assert catalog.chats.messages(chat.id) == []
    assert catalog.db.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    assert catalog.chats.get(chat.id) == chat  # untouched: no title, no activity
