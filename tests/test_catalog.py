"""The catalog: schema and migrations, WAL, transactions, what removing or editing text leaves
of what it taught."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from catalog_data import chunk, save

from memo_mlx.catalog import Catalog, CatalogError, memory_state
from memo_mlx.catalog.schema import MIGRATIONS

TABLES = {"memories", "folders", "documents", "chunks", "reflections", "reflection_sources",
          "chunk_entities", "training_runs", "adapters", "chats", "messages", "migrations",
          "chunks_fts", "reflections_fts", "document_recall"}


def teach(catalog: Catalog, memory_id: int, chunk_ids: list[int]) -> int:
    """A reflection taught by these chunks, as the teaching issue will write them."""
    rid = int(catalog.db["reflections"].insert({
        "memory_id": memory_id, "question": "q?", "answer": "a.", "kind": "direct",
    }).last_pk)
    for cid in chunk_ids:
        catalog.db["reflection_sources"].insert({"reflection_id": rid, "chunk_id": cid})
    return rid


def test_schema_wal_and_migrations_recorded(tmp_path: Path):
    with Catalog(tmp_path / "c.db") as catalog:
        assert TABLES <= set(catalog.db.table_names())
        assert catalog.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert catalog.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        applied = [r["name"] for r in catalog.db["migrations"].rows]
        assert applied == [name for name, _ in MIGRATIONS]
        catalog.create_memory("notes")
    with Catalog(tmp_path / "c.db") as catalog:  # reopening applies nothing twice
        assert [m.name for m in catalog.memories()] == ["notes"]
        assert catalog.db["migrations"].count == len(MIGRATIONS)
        assert catalog.integrity_check() == "ok"


def test_default_location_is_memo_home(tmp_path: Path):
    with Catalog() as catalog:
        assert catalog.path == tmp_path / "memo-home" / "catalog.db"


def test_memory_names(tmp_path: Path):
    with Catalog(tmp_path / "c.db") as catalog:
        assert catalog.create_memory("  Work notes ").name == "Work notes"
        with pytest.raises(CatalogError, match="already exists"):
            catalog.create_memory("Work notes")
        with pytest.raises(CatalogError, match="needs a name"):
            catalog.create_memory("   ")
        with pytest.raises(CatalogError, match="printable"):
            catalog.create_memory("bad\nname")


def test_a_failed_transaction_leaves_nothing(tmp_path: Path):
    with Catalog(tmp_path / "c.db") as catalog:
        memory = catalog.create_memory("m")
        with pytest.raises(RuntimeError), catalog.atomic():
            catalog.db["folders"].insert(
                {"memory_id": memory.id, "path": "/x", "kind": "folder", "state": "ok"}
            )
            raise RuntimeError("killed half-way")
        assert catalog.sources.folders(memory.id) == []


def states(catalog: Catalog) -> dict[int, str]:
    return {r["id"]: r["state"] for r in catalog.db["reflections"].rows}


def test_changed_document_keeps_unchanged_chunks_and_marks_the_rest_edited(tmp_path: Path):
    with Catalog(tmp_path / "c.db") as catalog:
        memory = catalog.create_memory("m")
        folder, _ = catalog.sources.add_folder(memory.id, tmp_path)
        doc = save(catalog, memory.id, folder.id, "/a.txt", ["one", "two", "three"])
        ids = {c["text"]: c["id"] for c in catalog.sources.chunks(doc)}
        kept = teach(catalog, memory.id, [ids["one"]])
        lost = teach(catalog, memory.id, [ids["two"], ids["three"]])  # a cross-chunk pair

        save(catalog, memory.id, folder.id, "/a.txt", ["zero", "one", "three"])
        after = catalog.sources.chunks(doc)
        assert [c["text"] for c in after] == ["zero", "one", "three"]
        assert {c["text"]: c["id"] for c in after}["one"] == ids["one"]  # same row, re-ordered
        assert states(catalog) == {kept: "active", lost: "edited"}  # replaced at the next teach
        # no source points at a deleted chunk's id any more (SQLite may reuse it)
        sources = catalog.db["reflection_sources"].rows_where("reflection_id = ?", [lost])
        assert [r["chunk_id"] for r in sources] == [ids["three"]]


def test_an_edit_marks_edited_a_removal_orphans(tmp_path: Path):
    with Catalog(tmp_path / "c.db") as catalog:
        memory = catalog.create_memory("m")
        folder, _ = catalog.sources.add_folder(memory.id, tmp_path)
        edited_doc = save(catalog, memory.id, folder.id, "/a.txt", ["one", "two"])
        removed_doc = save(catalog, memory.id, folder.id, "/b.txt", ["three"])
        a = {c["text"]: c["id"] for c in catalog.sources.chunks(edited_doc)}
        kept, edited = teach(catalog, memory.id, [a["one"]]), teach(catalog, memory.id, [a["two"]])
        orphaned = teach(catalog, memory.id, [catalog.sources.chunks(removed_doc)[0]["id"]])

        assert catalog.sources.save_document(
            memory.id, folder.id, "/a.txt", size=2, mtime_ns=2, hash="a2", format="text",
            encoding="utf-8", title=None, chunker="c1", chunks=[chunk("one"), chunk("deux")],
        ) == (1, 1)  # (chunks added, reflections marked edited)
        assert catalog.sources.remove_documents([removed_doc]) == 1
        assert states(catalog) == {kept: "active", edited: "edited", orphaned: "orphaned"}
        stats = catalog.stats(memory.id)
        assert (stats.reflections, stats.orphaned_reflections) == (1, 2)  # both need a teach
        assert memory_state(memory, stats) == "stale"


def test_removing_a_document_orphans_what_its_edits_left_behind(tmp_path: Path):
    # An adapter may still hold an edited or outdated reflection: removing its file must forget it.
    with Catalog(tmp_path / "c.db") as catalog:
        memory = catalog.create_memory("m")
        folder, _ = catalog.sources.add_folder(memory.id, tmp_path)
        doc = save(catalog, memory.id, folder.id, "/a.txt", ["one", "two", "three"])
        ids = {c["text"]: c["id"] for c in catalog.sources.chunks(doc)}
        edited = teach(catalog, memory.id, [ids["one"], ids["two"]])
        outdated = teach(catalog, memory.id, [ids["one"], ids["three"]])
        save(catalog, memory.id, folder.id, "/a.txt", ["two", "three"])
        catalog.db.execute("UPDATE reflections SET state = 'outdated' WHERE id = ?", [outdated])
        assert catalog.sources.remove_documents([doc]) == 2
        assert states(catalog) == {edited: "orphaned", outdated: "orphaned"}


def finished(catalog: Catalog, memory_id: int, strategy: str | None) -> None:
    run = catalog.runs.start(memory_id, strategy=strategy)
    catalog.runs.finish(run, "done", adapter="adapters/m", base_model="b")


def edited_and_orphaned(catalog: Catalog, memory_id: int, root: Path) -> tuple[int, int, int]:
    """(active, edited, orphaned) reflections of two documents, one edited, one removed."""
    folder, _ = catalog.sources.add_folder(memory_id, root)
    doc = save(catalog, memory_id, folder.id, "/a.txt", ["one", "two"])
    gone = save(catalog, memory_id, folder.id, "/b.txt", ["three"])
    ids = {c["text"]: c["id"] for c in catalog.sources.chunks(doc)}
    rids = (teach(catalog, memory_id, [ids["one"]]), teach(catalog, memory_id, [ids["two"]]),
            teach(catalog, memory_id, [catalog.sources.chunks(gone)[0]["id"]]))
    save(catalog, memory_id, folder.id, "/a.txt", ["one"])
    catalog.sources.remove_documents([gone])
    return rids


def test_a_run_that_trains_on_outdates_the_edited_a_full_one_drops_all(tmp_path: Path):
    with Catalog(tmp_path / "c.db") as catalog:
        memory = catalog.create_memory("m")
        active, edited, orphaned = edited_and_orphaned(catalog, memory.id, tmp_path)
        finished(catalog, memory.id, "incremental")
        assert states(catalog) == {active: "active", edited: "outdated", orphaned: "orphaned"}
        stats = catalog.stats(memory.id)
        assert (stats.orphaned_reflections, stats.outdated_reflections) == (1, 1)

        failed = catalog.runs.start(memory.id, strategy="full")
        catalog.runs.finish(failed, "failed", error="out of memory")  # forgot nothing
        assert len(states(catalog)) == 3

        finished(catalog, memory.id, "full")
        assert states(catalog) == {active: "active"}
        assert {r["reflection_id"] for r in catalog.db["reflection_sources"].rows} == {active}
        stats = catalog.stats(memory.id)
        assert (stats.orphaned_reflections, stats.outdated_reflections) == (0, 0)


def test_outdated_reflections_leave_the_memory_ready(tmp_path: Path):
    with Catalog(tmp_path / "c.db") as catalog:
        memory = catalog.create_memory("m")
        folder, _ = catalog.sources.add_folder(memory.id, tmp_path)
        doc = save(catalog, memory.id, folder.id, "/a.txt", ["one", "two"])
        ids = {c["text"]: c["id"] for c in catalog.sources.chunks(doc)}
        teach(catalog, memory.id, [ids["one"]])
        edited = teach(catalog, memory.id, [ids["two"]])
        catalog.db.execute("UPDATE chunks SET synthesized_at = 'then'")
        save(catalog, memory.id, folder.id, "/a.txt", ["one"])
        assert memory_state(memory, catalog.stats(memory.id)) == "stale"
        finished(catalog, memory.id, "incremental")
        stats = catalog.stats(memory.id)
        assert (stats.orphaned_reflections, stats.outdated_reflections) == (0, 1)
        assert memory_state(memory, stats) == "ready"
        assert states(catalog)[edited] == "outdated"


def test_forget_all_drops_whatever_text_is_gone(tmp_path: Path):
    with Catalog(tmp_path / "c.db") as catalog:
        memory = catalog.create_memory("m")
        finished(catalog, memory.id, "incremental")  # an adapter
        active, edited, orphaned = edited_and_orphaned(catalog, memory.id, tmp_path)
        outdated = teach(catalog, memory.id, [])
        catalog.db.execute("UPDATE reflections SET state = 'outdated' WHERE id = ?", [outdated])
        catalog.runs.forget_all(memory.id)
        assert states(catalog) == {active: "active"}
        assert {r["reflection_id"] for r in catalog.db["reflection_sources"].rows} == {active}
        assert catalog.runs.adapter(memory.id) is None


def test_errors_keep_what_was_read_before(tmp_path: Path):
    with Catalog(tmp_path / "c.db") as catalog:
        memory = catalog.create_memory("m")
        folder, _ = catalog.sources.add_folder(memory.id, tmp_path)
        doc_id = save(catalog, memory.id, folder.id, "/a.pdf", ["fact"])
        catalog.sources.save_error(memory.id, folder.id, "/a.pdf", size=9, mtime_ns=9,
                           error="damaged PDF", retry=False)
        doc = catalog.sources.document_by_path(memory.id, "/a.pdf")
        assert doc is not None and doc.state == "error" and doc.error == "damaged PDF"
        assert (doc.size, doc.mtime_ns) == (1, 1)  # the good version's keys: retried next time
        assert [c["text"] for c in catalog.sources.chunks(doc_id)] == ["fact"]
        assert catalog.sources.errors(memory.id) == [("/a.pdf", "damaged PDF")]


def test_folders_nest_without_overlap(tmp_path: Path):
    inner = tmp_path / "notes" / "work"
    inner.mkdir(parents=True)
    with Catalog(tmp_path / "c.db") as catalog:
        memory = catalog.create_memory("m")
        work, new = catalog.sources.add_folder(memory.id, inner)
        assert new
        save(catalog, memory.id, work.id, str(inner / "a.txt"), ["x"])
        again, new = catalog.sources.add_folder(memory.id, inner)
        assert (again.id, new) == (work.id, False)
        notes, new = catalog.sources.add_folder(memory.id, tmp_path / "notes")  # takes work over
        assert new and [f.path for f in catalog.sources.folders(memory.id)] == [notes.path]
        assert list(catalog.sources.documents(notes.id)) == [str(inner / "a.txt")]
        covered, new = catalog.sources.add_folder(memory.id, inner)
        assert (covered.id, new) == (notes.id, False)


def test_remove_folder_removes_documents_and_orphans(tmp_path: Path):
    with Catalog(tmp_path / "c.db") as catalog:
        memory = catalog.create_memory("m")
        folder, _ = catalog.sources.add_folder(memory.id, tmp_path)
        doc = save(catalog, memory.id, folder.id, "/a.txt", ["one"])
        teach(catalog, memory.id, [catalog.sources.chunks(doc)[0]["id"]])
        assert catalog.sources.remove_folder(folder) == 1
        stats = catalog.stats(memory.id)
        assert (stats.folders, stats.documents, stats.chunks) == (0, 0, 0)
        assert (stats.reflections, stats.orphaned_reflections) == (0, 1)
        assert memory_state(memory, stats) == "stale"  # it must forget at the next teach


def test_state_follows_the_data(tmp_path: Path):
    with Catalog(tmp_path / "c.db") as catalog:
        memory = catalog.create_memory("m")
        assert memory_state(memory, catalog.stats(memory.id)) == "empty"
        folder, _ = catalog.sources.add_folder(memory.id, tmp_path)
        save(catalog, memory.id, folder.id, "/a.txt", ["one"])
        assert memory_state(memory, catalog.stats(memory.id)) == "stale"


def test_unreadable_catalog_is_a_clear_error(tmp_path: Path):
    bad = tmp_path / "c.db"
    bad.write_bytes(b"this is not a database" * 100)
    with pytest.raises(CatalogError, match="c.db: the catalog is unreadable"):
        Catalog(bad)


def test_two_connections_see_each_others_commits(tmp_path: Path):
    with Catalog(tmp_path / "c.db") as a, Catalog(tmp_path / "c.db") as b:
        with a.atomic():
            a.create_memory("one")
            # b reads the last committed state while a writes (WAL): no waiting, no error
            assert b.memories() == []
        assert [m.name for m in b.memories()] == ["one"]
        with pytest.raises(sqlite3.OperationalError):
            b.db.execute("PRAGMA busy_timeout = 0")
            with a.atomic(), b.atomic():
                pass


def test_a_held_lock_is_said_once_then_waited_for(tmp_path: Path):
    """`lock(name, on_wait)`: free, no word; held (here by another thread, through its own open
    file, as another process would), `on_wait` once, then it waits until the holder is done."""
    import threading
    import time

    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with Catalog(tmp_path / "c.db") as other, other.lock("teach-1"):
            held.set()
            release.wait(30)
            time.sleep(0.3)  # still held a moment after the waiter has spoken

    said: list[float] = []
    with Catalog(tmp_path / "c.db") as catalog:
        with catalog.lock("teach-1", on_wait=lambda: said.append(time.monotonic())):
            pass
        assert said == []
        thread = threading.Thread(target=holder)
        thread.start()
        assert held.wait(30)
        assert catalog.is_locked("teach-1")

        def on_wait() -> None:
            said.append(time.monotonic())
            release.set()

        with catalog.lock("teach-1", on_wait=on_wait):
            acquired = time.monotonic()
        thread.join(30)
    assert len(said) == 1 and acquired - said[0] >= 0.25  # it waited for the holder
