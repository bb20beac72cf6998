"""The catalog's tables: numbered migrations, applied in order when a catalog is opened
(`Catalog._migrate`); one that has been released is never changed, only followed by another.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils


def _m001_initial(db: sqlite_utils.Database) -> None:
    db.table("memories").create(
        {"id": int, "name": str, "enabled": int, "state": str, "error": str,
         "settings": str, "created_at": str},
        pk="id", not_null={"name", "enabled", "state"},
        defaults={"enabled": 1, "state": "idle", "settings": "{}"},
    )
    db.table("memories").create_index(["name"], unique=True)
    db.table("folders").create(
        {"id": int, "memory_id": int, "path": str, "kind": str, "state": str, "error": str,
         "added_at": str, "scanned_at": str},
        pk="id", not_null={"memory_id", "path", "kind", "state"},
        foreign_keys=[("memory_id", "memories", "id")], defaults={"state": "ok"},
    )
    db.table("folders").create_index(["memory_id", "path"], unique=True)
    db.table("documents").create(
        {"id": int, "memory_id": int, "folder_id": int, "path": str, "format": str,
         "size": int, "mtime_ns": int, "hash": str, "encoding": str, "title": str,
         "chunker": str, "state": str, "error": str, "retry": int, "scanned_at": str},
        pk="id", not_null={"memory_id", "folder_id", "path", "size", "mtime_ns", "state"},
        foreign_keys=[("memory_id", "memories", "id"), ("folder_id", "folders", "id")],
        defaults={"retry": 0},
    )
    db.table("documents").create_index(["memory_id", "path"], unique=True)
    db.table("documents").create_index(["folder_id"])
    db.table("chunks").create(
        {"id": int, "document_id": int, "ord": int, "heading": str, "text": str,
         "token_count": int, "hash": str, "synthesized_at": str},
        pk="id", not_null={"document_id", "ord", "text", "token_count", "hash"},
        foreign_keys=[("document_id", "documents", "id")],
    )
    db.table("chunks").create_index(["document_id", "ord"])
    # Names each chunk mentions: how cross-document reflections find related chunks.
    db.table("chunk_entities").create(
        {"chunk_id": int, "entity": str}, pk=("chunk_id", "entity"),
        foreign_keys=[("chunk_id", "chunks", "id")],
    )
    db.table("chunk_entities").create_index(["entity"])
    # state: active; orphaned (its file is gone: forgotten at the next teach, a full retrain);
    # edited (its text vanished from a file still there: replaced at the next teach); outdated
    # (an edited one an incremental teach trained past: dropped at the next full retrain).
    # run_id: the training run that first taught it (NULL: not taught yet).
    db.table("reflections").create(
        {"id": int, "memory_id": int, "question": str, "answer": str, "kind": str,
         "state": str, "generator": str, "run_id": int, "created_at": str},
        pk="id", not_null={"memory_id", "question", "answer", "kind", "state"},
        foreign_keys=[("memory_id", "memories", "id")], defaults={"state": "active"},
    )
    db.table("reflections").create_index(["memory_id", "state"])
    # No foreign key to chunks: a vanished chunk must leave its reflections behind, orphaned.
    db.table("reflection_sources").create(
        {"reflection_id": int, "chunk_id": int, "document_id": int},
        pk=("reflection_id", "chunk_id"),
        foreign_keys=[("reflection_id", "reflections", "id")],
    )
    db.table("reflection_sources").create_index(["chunk_id"])
    db.table("training_runs").create(
        {"id": int, "memory_id": int, "status": str, "strategy": str, "data_hash": str,
         "base_model": str, "settings": str, "examples": int, "new_examples": int,
         "steps": int, "tokens": int, "final_loss": float, "seconds": float, "error": str,
         "started_at": str, "finished_at": str},
        pk="id", not_null={"memory_id", "status"},
        foreign_keys=[("memory_id", "memories", "id")],
    )
    db.table("adapters").create(
        {"id": int, "memory_id": int, "run_id": int, "path": str, "base_model": str,
         "active": int, "created_at": str},
        pk="id", not_null={"memory_id", "path", "active"},
        foreign_keys=[("memory_id", "memories", "id"), ("run_id", "training_runs", "id")],
    )
    db.table("chats").create(
        {"id": int, "title": str, "created_at": str, "updated_at": str}, pk="id"
    )
    db.table("messages").create(
        {"id": int, "chat_id": int, "ord": int, "role": str, "content": str,
         "memories": str, "trace": str, "created_at": str},
        pk="id", not_null={"chat_id", "ord", "role", "content"},
        foreign_keys=[("chat_id", "chats", "id")],
    )
    db.table("messages").create_index(["chat_id", "ord"])


# External-content FTS5 indexes: the text is stored once, in its table; triggers keep the index in
# step with every write, sqlite-utils or raw SQL. The update triggers fire only when the indexed
# text changes: chunks are re-ordered and reflections re-stated (taught, orphaned, probed) often.
# Porter stemming lets "founded" find "founding"; remove_diacritics lets "cafe" find "café".
# Never INSERT OR REPLACE into chunks or reflections: the row it replaces skips the delete trigger
# (recursive_triggers is off) and its words would stay in the index.
_M002_FTS = [
    "CREATE VIRTUAL TABLE chunks_fts USING fts5(text, content='chunks', content_rowid='id', "
    "tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN "
    "INSERT INTO chunks_fts (rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN "
    "INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER chunks_fts_update AFTER UPDATE OF id, text ON chunks BEGIN "
    "INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO chunks_fts (rowid, text) VALUES (new.id, new.text); END",
    "INSERT INTO chunks_fts (chunks_fts) VALUES ('rebuild')",
    "CREATE VIRTUAL TABLE reflections_fts USING fts5(question, answer, content='reflections', "
    "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER reflections_fts_insert AFTER INSERT ON reflections BEGIN "
    "INSERT INTO reflections_fts (rowid, question, answer) "
    "VALUES (new.id, new.question, new.answer); END",
    "CREATE TRIGGER reflections_fts_delete AFTER DELETE ON reflections BEGIN "
    "INSERT INTO reflections_fts (reflections_fts, rowid, question, answer) "
    "VALUES ('delete', old.id, old.question, old.answer); END",
    "CREATE TRIGGER reflections_fts_update AFTER UPDATE OF id, question, answer ON reflections "
    "BEGIN INSERT INTO reflections_fts (reflections_fts, rowid, question, answer) "
    "VALUES ('delete', old.id, old.question, old.answer); "
    "INSERT INTO reflections_fts (rowid, question, answer) "
    "VALUES (new.id, new.question, new.answer); END",
    "INSERT INTO reflections_fts (reflections_fts) VALUES ('rebuild')",
]


def _m002_recall(db: sqlite_utils.Database) -> None:
    for sql in _M002_FTS:
        db.execute(sql)
    db.table("reflections").add_column("probe", int, not_null_default=0)
    # The last measure of each document's probes; a new measure replaces it.
    db.table("document_recall").create(
        {"document_id": int, "memory_id": int, "run_id": int, "asked": int, "right": int,
         "measured_at": str},
        pk="document_id", not_null={"memory_id", "asked", "right"},
        foreign_keys=[("document_id", "documents", "id"), ("memory_id", "memories", "id"),
                      ("run_id", "training_runs", "id")],
    )
    db.table("document_recall").create_index(["memory_id"])


def _m003_app(db: sqlite_utils.Database) -> None:
    db.table("memories").add_column("paused", int, not_null_default=0)
    # messages.memories and .trace are JSON text already; .sources is a JSON list of paths.
    db.table("messages").add_column("mode", str)
    db.table("messages").add_column("sources", str)
    db.table("chats").create_index(["updated_at"])


def _m004_quotes(db: sqlite_utils.Database) -> None:
    db.table("messages").add_column("quotes", str)  # JSON: [{"path", "text"}]


def _m005_executive(db: sqlite_utils.Database) -> None:
    db.table("messages").add_column("executive", str)  # who wrote it: a server, or local


def _m006_adapter_digest(db: sqlite_utils.Database) -> None:
    # The sha256 of the adapter's weights file as saved (`training.weights_digest`): a file
    # changed since is damaged. NULL for adapters recorded before: checked as far as can be.
    db.table("adapters").add_column("digest", str)


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("m001_initial", _m001_initial),
    ("m002_recall", _m002_recall),
    ("m003_app", _m003_app),
    ("m004_quotes", _m004_quotes),
    ("m005_executive", _m005_executive),
    ("m006_adapter_digest", _m006_adapter_digest),
]
