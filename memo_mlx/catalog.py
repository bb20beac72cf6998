"""The catalog: one SQLite file in MEMO_HOME that records everything MeMo knows.

The data model, outermost first:

- a **memory** is what the user switches on and off in the chat; it owns one adapter. A
  paused one keeps what it knows but learns nothing new until resumed.
- a memory learns from **folders** (or single files) the user added.
- every readable file in a folder is a **document** (path, size, mtime, content hash, the
  chunker that cut it, state `ok` or `error` with the reason).
- a document's text is cut into **chunks** (order, heading path, text, token count, hash).
- **reflections** are question-answer pairs written from chunks; `reflection_sources` says
  which chunks taught each one, so removing a file orphans exactly what it taught, and editing
  one marks edited exactly what its vanished text taught.
- **training_runs** and **adapters** record how each memory was taught.
- **chats** and their **messages** keep conversations across restarts: each message with the
  mode it was answered in, the memories that were on, the steps it took (trace), the
  documents it cited (sources) and what in them supports it (quotes), all shown again as they
  were.
- a few reflections per document are **probes**: held out of training and asked of the memory
  after each teach; **document_recall** keeps how many it got right, per document.
- chunk texts and reflections have full-text indexes (FTS5, ranked by bm25), kept in sync by
  triggers: how a question finds the text that answers it.

Writes happen in `atomic()` blocks (`BEGIN IMMEDIATE`, so two processes queue rather than
deadlock), one per document during a scan: a process killed at any moment leaves the catalog as
it was after the last whole document. The file is in WAL mode so readers (the app, `memo
status`) never wait for a scan. Schema changes are numbered migrations applied on open.

A `Catalog` owns one connection; open one per thread.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import sqlite3
import unicodedata
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from .errors import MemoError, quoted
from .scoring import normalise
from .settings import memo_home, read_only

CATALOG_FILE = "catalog.db"
BUSY_TIMEOUT_MS = 30_000  # a scan in another process holds the write lock per document only


class CatalogError(MemoError):
    pass


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Memory:
    id: int
    name: str
    enabled: bool
    state: str  # what the memory is doing: "idle", "teaching" or "error" (see memory_state)
    error: str | None
    paused: bool  # learns nothing new (no scan, no teach) until resumed; still answers


@dataclass(frozen=True)
class Folder:
    id: int
    memory_id: int
    path: str
    kind: str  # "folder" or "file"
    state: str  # "ok" or "missing" (unplugged, moved away)
    error: str | None
    scanned_at: str | None


@dataclass(frozen=True)
class Document:
    id: int
    folder_id: int
    path: str
    format: str | None
    size: int
    mtime_ns: int
    hash: str | None
    chunker: str | None
    state: str  # "ok" or "error"
    error: str | None
    retry: bool  # an error worth retrying even if the file looks unchanged (permissions, I/O)


@dataclass(frozen=True)
class NewChunk:
    heading: str
    text: str
    token_count: int
    hash: str


@dataclass(frozen=True)
class ChunkText:
    """A chunk with where it comes from: what synthesis reads."""

    id: int
    document_id: int
    path: str
    title: str | None
    heading: str
    text: str


@dataclass(frozen=True)
class NewReflection:
    question: str
    answer: str
    # the synthesis step: direct, indirect, consolidated, entity, cross, text or abstain
    kind: str
    chunk_ids: tuple[int, ...]  # the chunks it was written from


@dataclass(frozen=True)
class Reflection:
    id: int
    question: str
    answer: str
    kind: str
    run_id: int | None  # the run that first taught it; None: not taught yet
    probe: bool  # held out of training, asked after each teach to measure recall


@dataclass(frozen=True)
class DocumentRecall:
    path: str
    right: int
    asked: int

    @property
    def score(self) -> float:
        return self.right / self.asked if self.asked else 0.0


@dataclass(frozen=True)
class RecallScore:
    """How many of its probes the memory answered right at the last measure, per document."""

    right: int
    asked: int
    documents: list[DocumentRecall]

    @property
    def score(self) -> float:
        return self.right / self.asked if self.asked else 0.0


@dataclass(frozen=True)
class Chat:
    id: int
    title: str
    created_at: str
    updated_at: str  # its last message (or creation): the chat list is newest first


@dataclass(frozen=True)
class ChatMessage:
    id: int
    chat_id: int
    role: str  # "user" or "assistant"
    content: str
    mode: str | None  # how it was answered; None for the user's own
    memories: list[str]  # the memories switched on when it was answered
    trace: list[dict[str, Any]]  # the steps the answer took, as the app shows them
    sources: list[str]  # the documents it cites
    created_at: str
    # What supports it: {"path", "text"}, a passage's sentence or a reflection, per document.
    quotes: list[dict[str, str]] = field(default_factory=list)
    # Who wrote it (`recall.Answer.executive`): a server's name, this computer's model, or ""
    executive: str = ""


@dataclass(frozen=True)
class MemoryStats:
    folders: int
    documents: int
    failed: int
    chunks: int
    untaught_chunks: int  # chunks no reflection has been written for yet
    reflections: int
    # Taught by text that is gone (orphaned: its file removed; edited: its file changed): the
    # next teach forgets or replaces them.
    orphaned_reflections: int
    outdated_reflections: int  # edited ones an incremental teach trained past: no teach needed
    adapter: str | None


# --- migrations -----------------------------------------------------------------------------


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


# The foreign keys above are declared without ON DELETE rules (sqlite-utils cannot say them), so
# deletions cascade explicitly here, children first, inside the caller's transaction.
_DELETE_DOCUMENTS = [
    "DELETE FROM chunks WHERE document_id IN ({ids})",
    "DELETE FROM document_recall WHERE document_id IN ({ids})",
    "DELETE FROM documents WHERE id IN ({ids})",
]
# What a memory owns besides its documents, children first (adapters name training runs).
_DELETE_MEMORY = [
    "DELETE FROM document_recall WHERE memory_id = ?",
    "DELETE FROM reflection_sources WHERE reflection_id IN "
    "(SELECT id FROM reflections WHERE memory_id = ?)",
    "DELETE FROM reflections WHERE memory_id = ?",
    "DELETE FROM adapters WHERE memory_id = ?",
    "DELETE FROM training_runs WHERE memory_id = ?",
    "DELETE FROM folders WHERE memory_id = ?",
    "DELETE FROM memories WHERE id = ?",
]

NEW_CHAT = "New chat"  # the title of a chat until its first question names it
_CHAT_TITLE = 60  # characters of the first question that name a chat
_MAX_CHAT_TITLE = 200
_ROLES = ("user", "assistant")
_MESSAGE = (  # the columns of `ChatMessage`, in its order
    "SELECT id, chat_id, role, content, mode, memories, trace, sources, created_at, quotes, "
    "executive FROM messages"
)


_DOCUMENT = (  # the columns of `Document`, in its order
    "SELECT id, folder_id, path, format, size, mtime_ns, hash, chunker, state, error, retry "
    "FROM documents"
)
_REFLECTION = "r.id, r.question, r.answer, r.kind, r.run_id, r.probe"  # `Reflection`, in order

# What removing a chunk makes of the reflections it taught, and from which states: an edit leaves
# them to be replaced (edited); a removed file's must be forgotten (orphaned), even those an
# earlier edit left behind, since the adapter may still hold them.
_VANISHED = {"edited": ("active",), "orphaned": ("active", "edited", "outdated")}
# States of reflections whose text is gone: a full retrain (or forgetting all) deletes them.
_STALE = ("orphaned", "edited", "outdated")
# Strategies that train on from the memory's adapter: it still holds what they did not retrain.
_CONTINUING = ("incremental", "ties")

# Kinds whose questions ask one fact of one passage: the fairest probes of what a text taught.
_PROBE_KINDS = ("direct", "entity")


class Catalog:
    """The SQLite catalog; see the module docstring for its data model."""

    def __init__(self, path: Path | str | None = None, *, reads_only: bool = False):
        """`reads_only`: the caller only reads (`memo status`, `memo ask`), so a catalog MeMo
        cannot write (a read-only data folder) is opened read-only rather than refused."""
        self.path = Path(path) if path is not None else memo_home() / CATALOG_FILE
        why = _unwritable(self.path)
        if why is not None and not reads_only:
            raise CatalogError(why)
        self.read_only = why is not None
        try:
            # Used by one thread at a time, but it may be closed by another once that is done.
            conn = self._open_read_only() if self.read_only else sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
        except sqlite3.Error as e:
            raise CatalogError(f"{self.path}: cannot open the catalog ({e})") from e
        self.db = sqlite_utils.Database(conn)
        try:
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if not self.read_only:
                self.db.enable_wal()
                # NORMAL is durable against a killed process in WAL mode; FULL only adds power
                # loss.
                self.db.execute("PRAGMA synchronous = NORMAL")
            self.db.execute("PRAGMA foreign_keys = ON")
            self._migrate(why)
        except sqlite3.DatabaseError as e:
            conn.close()
            raise CatalogError(f"{self.path}: the catalog is unreadable ({e})") from e

    def _open_read_only(self) -> sqlite3.Connection:
        """The catalog file opened for reading only: as SQLite's read-only mode where it can
        share the WAL index (-shm) with writers, else as an immutable file (a read-only
        folder where the index cannot be made). No file yet: an empty catalog, in memory."""
        if not self.path.exists():
            return sqlite3.connect(":memory:", check_same_thread=False)
        uri = "file:" + urllib.parse.quote(str(self.path.absolute()))

        def opened(mode: str) -> sqlite3.Connection:
            conn = sqlite3.connect(f"{uri}?{mode}", uri=True, timeout=BUSY_TIMEOUT_MS / 1000,
                                   check_same_thread=False)
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # opens it now
            except sqlite3.Error:
                conn.close()
                raise
            return conn

        try:
            return opened("mode=ro")
        except sqlite3.OperationalError:
            return opened("immutable=1")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """One transaction; nested blocks become savepoints. IMMEDIATE takes the write lock up
        front, so a writer in another process makes this one wait instead of failing later."""
        if self.db.conn.in_transaction:
            with self.db.atomic():
                yield
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.rollback()
            raise
        self.db.execute("COMMIT")

    def _migrate(self, unwritable: str | None = None) -> None:
        """Apply the migrations not applied yet; with `unwritable` (why the catalog cannot be
        written), none may be missing, since none can be applied."""
        if unwritable is not None and self.path.exists():
            done = ({r[0] for r in self.db.execute("SELECT name FROM migrations")}
                    if self.db["migrations"].exists() else set())
            if any(name not in done for name, _ in MIGRATIONS):
                raise CatalogError(f"the catalog {self.path} needs an update for this MeMo, "
                                   f"which cannot be saved: {unwritable}")
            return
        with self.atomic():
            self.db.table("migrations").create(
                {"name": str, "applied_at": str}, pk="name", if_not_exists=True
            )
            done = {r["name"] for r in self.db.table("migrations").rows}
            for name, migration in MIGRATIONS:
                if name not in done:
                    migration(self.db)
                    self.db.table("migrations").insert({"name": name, "applied_at": now()})

    def integrity_check(self) -> str:
        return str(self.db.execute("PRAGMA integrity_check").fetchone()[0])

    @contextmanager
    def lock(self, name: str, on_wait: Callable[[], None] | None = None) -> Iterator[None]:
        """A lock across processes and threads (flock on a file beside the catalog): one scan
        of a memory at a time, whoever runs it (the app, `memo scan`, a watcher). When another
        holds it, `on_wait()` is called once (to say so) before waiting for it."""
        folder = self.path.parent / "locks"
        folder.mkdir(exist_ok=True)
        with open(folder / f"{name}.lock", "w") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if on_wait is not None:
                    on_wait()
                fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def is_locked(self, name: str) -> bool:
        """Whether some process holds `lock(name)` right now (a teach under way)."""
        path = self.path.parent / "locks" / f"{name}.lock"
        if not path.exists():
            return False
        with open(path, "rb") as f:  # read: a read-only data folder can be asked too
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
            return False

    # --- memories ---------------------------------------------------------------------------

    def memories(self) -> list[Memory]:
        return [_memory(r) for r in self.db.query("SELECT * FROM memories ORDER BY name")]

    def memory(self, name: str) -> Memory | None:
        rows = list(self.db.query("SELECT * FROM memories WHERE name = ?", [name]))
        return _memory(rows[0]) if rows else None

    def memory_by_id(self, memory_id: int) -> Memory:
        return _memory(self.db.table("memories").get(memory_id))

    def create_memory(self, name: str) -> Memory:
        name = check_memory_name(name)
        with self.atomic():
            if self.memory(name) is not None:
                raise CatalogError(f"a memory named {quoted(name)} already exists")
            self.db.table("memories").insert({"name": name, "created_at": now()})
        memory = self.memory(name)
        assert memory is not None
        return memory

    def set_enabled(self, memory_id: int, enabled: bool) -> None:
        self.db.table("memories").update(memory_id, {"enabled": int(enabled)})

    def set_paused(self, memory_id: int, paused: bool) -> None:
        """Pause or resume a memory's learning. Only the flag: whoever scans or teaches reads
        it, and what the memory knows stays (unlike switching it off, it still answers)."""
        self.db.table("memories").update(memory_id, {"paused": int(paused)})

    def rename_memory(self, memory_id: int, name: str) -> Memory:
        """Only the name changes: adapters and locks go by id, so nothing else moves."""
        name = check_memory_name(name)
        with self.atomic():
            memory = self._memory_or_error(memory_id)
            if name != memory.name:
                other = self.memory(name)
                if other is not None:
                    raise CatalogError(f"a memory named {quoted(name)} already exists")
                self.db.execute("UPDATE memories SET name = ? WHERE id = ?", [name, memory_id])
        return self.memory_by_id(memory_id)

    def delete_memory(self, memory_id: int) -> None:
        """Forget a memory and all it owns in one transaction (an unknown id is no error).
        Its adapter files stay on disk: the caller removes them once this has committed, so a
        failure here leaves a memory that still works."""
        with self.atomic():
            ids = [r[0] for r in self.db.execute(
                "SELECT id FROM documents WHERE memory_id = ?", [memory_id]
            )]
            self.remove_documents(ids)  # chunks, their names and sources, recall, FTS rows
            for sql in _DELETE_MEMORY:
                self.db.execute(sql, [memory_id])

    def _memory_or_error(self, memory_id: int) -> Memory:
        rows = list(self.db.query("SELECT * FROM memories WHERE id = ?", [memory_id]))
        if not rows:
            raise CatalogError(f"no memory with id {memory_id}")
        return _memory(rows[0])

    # --- folders ----------------------------------------------------------------------------

    def folders(self, memory_id: int | None = None) -> list[Folder]:
        where, args = ("WHERE memory_id = ?", [memory_id]) if memory_id is not None else ("", [])
        return [
            _folder(r)
            for r in self.db.query(f"SELECT * FROM folders {where} ORDER BY path", args)
        ]

    def add_folder(self, memory_id: int, path: Path) -> tuple[Folder, bool]:
        """Register a folder or file (an absolute, resolved path) in a memory; returns it and
        whether it is new. A folder inside one already registered is covered by it; a folder
        that contains registered ones takes them and their documents over."""
        kind = "folder" if path.is_dir() else "file"
        with self.atomic():
            for folder in self.folders(memory_id):
                existing = Path(folder.path)
                if existing == path or (folder.kind == "folder" and path.is_relative_to(existing)):
                    return folder, False
            folder_id = self._insert(
                "folders",
                {"memory_id": memory_id, "path": str(path), "kind": kind, "added_at": now()},
            )
            if kind == "folder":
                for folder in self.folders(memory_id):
                    if folder.id != folder_id and Path(folder.path).is_relative_to(path):
                        self.db.execute(
                            "UPDATE documents SET folder_id = ? WHERE folder_id = ?",
                            [folder_id, folder.id],
                        )
                        self.db.execute("DELETE FROM folders WHERE id = ?", [folder.id])
        return _folder(self.db.table("folders").get(folder_id)), True

    def remove_folder(self, folder: Folder) -> int:
        """Forget a folder and its documents; returns how many reflections that orphaned."""
        with self.atomic():
            ids = [r["id"] for r in self.db.query(
                "SELECT id FROM documents WHERE folder_id = ?", [folder.id]
            )]
            orphaned = self.remove_documents(ids)
            self.db.execute("DELETE FROM folders WHERE id = ?", [folder.id])
        return orphaned

    def set_folder_state(self, folder_id: int, state: str, error: str | None = None) -> None:
        self.db.table("folders").update(folder_id, {"state": state, "error": error})

    def folder_scanned(self, folder_id: int) -> None:
        self.db.table("folders").update(
            folder_id, {"state": "ok", "error": None, "scanned_at": now()}
        )

    # --- documents and chunks ---------------------------------------------------------------

    def documents(self, folder_id: int) -> dict[str, Document]:
        """The folder's documents by path."""
        # Tuples straight from the cursor: this read is most of a re-scan's cost per file.
        rows = self.db.execute(f"{_DOCUMENT} WHERE folder_id = ?", [folder_id]).fetchall()
        return {row[2]: _document(row) for row in rows}

    def document_by_path(self, memory_id: int, path: str) -> Document | None:
        row = self.db.execute(
            f"{_DOCUMENT} WHERE memory_id = ? AND path = ?", [memory_id, path]
        ).fetchone()
        return None if row is None else _document(row)

    def chunks(self, document_id: int) -> list[dict[str, Any]]:
        return list(self.db.query(
            "SELECT * FROM chunks WHERE document_id = ? ORDER BY ord", [document_id]
        ))

    def save_document(
        self,
        memory_id: int,
        folder_id: int,
        path: str,
        *,
        size: int,
        mtime_ns: int,
        hash: str,
        format: str,
        encoding: str | None,
        title: str | None,
        chunker: str,
        chunks: Sequence[NewChunk],
    ) -> tuple[int, int]:
        """Record a readable document and its chunks in one transaction.

        Chunks whose text is unchanged are kept (with what they taught); only new text is
        added and only vanished text removed, what it taught marked edited. Returns (chunks
        added, reflections marked edited).
        """
        with self.atomic():
            fields = {
                "memory_id": memory_id, "folder_id": folder_id, "path": path, "size": size,
                "mtime_ns": mtime_ns, "hash": hash, "format": format, "encoding": encoding,
                "title": title, "chunker": chunker, "state": "ok", "error": None, "retry": 0,
                "scanned_at": now(),
            }
            existing = self.document_by_path(memory_id, path)
            if existing is None:
                doc_id = self._insert("documents", fields)
                old: dict[str, list[int]] = {}
            else:
                doc_id = existing.id
                self.db.table("documents").update(doc_id, fields)
                old = {}
                for r in self.db.query(
                    "SELECT id, hash FROM chunks WHERE document_id = ? ORDER BY ord", [doc_id]
                ):
                    old.setdefault(r["hash"], []).append(r["id"])
            added, kept = [], []
            for order, chunk in enumerate(chunks):
                same = old.get(chunk.hash)
                if same:
                    chunk_id = same.pop(0)
                    kept.append(chunk_id)
                    self.db.execute("UPDATE chunks SET ord = ? WHERE id = ?", [order, chunk_id])
                else:
                    added.append({
                        "document_id": doc_id, "ord": order, "heading": chunk.heading,
                        "text": chunk.text, "token_count": chunk.token_count, "hash": chunk.hash,
                    })
            gone = [i for ids in old.values() for i in ids]
            edited = self._remove_chunks(gone, "edited")
            if added:
                self.db.table("chunks").insert_all(added)
        return len(added), edited

    def save_error(
        self,
        memory_id: int,
        folder_id: int,
        path: str,
        *,
        size: int,
        mtime_ns: int,
        error: str,
        retry: bool,
    ) -> None:
        """Record why a file could not be read. A document read before keeps its chunks and
        what they taught: a file that is unreadable for now is not a file that was deleted."""
        fields = {"state": "error", "error": error, "retry": int(retry), "scanned_at": now()}
        with self.atomic():
            existing = self.document_by_path(memory_id, path)
            if existing is None:
                self.db.table("documents").insert({
                    "memory_id": memory_id, "folder_id": folder_id, "path": path,
                    "size": size, "mtime_ns": mtime_ns, **fields,
                })
            elif existing.hash is None:  # never read: remember the failing version
                self.db.table("documents").update(
                    existing.id, {"size": size, "mtime_ns": mtime_ns, **fields}
                )
            else:
                # Keep size and mtime of the good version: the next scan must try again.
                self.db.table("documents").update(existing.id, fields)

    def touch_document(self, document_id: int, size: int, mtime_ns: int) -> None:
        """Same content under a new mtime (a `touch`, a copy): only the fast-path keys move."""
        self.db.table("documents").update(document_id, {"size": size, "mtime_ns": mtime_ns})

    def move_document(
        self, document_id: int, folder_id: int, path: str, size: int, mtime_ns: int
    ) -> None:
        """A renamed or moved file keeps its chunks and everything they taught."""
        self.db.table("documents").update(document_id, {
            "folder_id": folder_id, "path": path, "size": size, "mtime_ns": mtime_ns,
            "scanned_at": now(),
        })

    def remove_documents(self, ids: Iterable[int]) -> int:
        """Remove documents and their chunks; returns how many reflections that orphaned."""
        ids = list(ids)
        if not ids:
            return 0
        with self.atomic():
            orphaned = 0
            for batch in _batches(ids):
                marks = ",".join("?" * len(batch))
                chunk_ids = [r["id"] for r in self.db.query(
                    f"SELECT id FROM chunks WHERE document_id IN ({marks})", batch
                )]
                orphaned += self._remove_chunks(chunk_ids, "orphaned")
                for sql in _DELETE_DOCUMENTS:
                    self.db.execute(sql.format(ids=marks), batch)
        return orphaned

    def _remove_chunks(self, chunk_ids: list[int], state: str) -> int:
        """Delete chunks and give the reflections they taught `state` ("edited" or "orphaned",
        see `_VANISHED`); returns how many reflections that marked."""
        marked = 0
        before = _VANISHED[state]
        for batch in _batches(chunk_ids):
            marks = ",".join("?" * len(batch))
            marked += self.db.execute(
                f"UPDATE reflections SET state = ? WHERE state IN ({_marks(before)}) AND id IN "
                f"(SELECT reflection_id FROM reflection_sources WHERE chunk_id IN ({marks}))",
                [state, *before, *batch],
            ).rowcount
            # Row ids of deleted chunks can be reused: no source may point at a stranger.
            self.db.execute(f"DELETE FROM reflection_sources WHERE chunk_id IN ({marks})", batch)
            self.db.execute(f"DELETE FROM chunk_entities WHERE chunk_id IN ({marks})", batch)
            self.db.execute(f"DELETE FROM chunks WHERE id IN ({marks})", batch)
        return marked

    # --- teaching ---------------------------------------------------------------------------

    def untaught_chunks(self, memory_id: int) -> list[ChunkText]:
        """Chunks no reflection has been written for yet, in document order."""
        return self._chunk_texts("d.memory_id = ? AND c.synthesized_at IS NULL", [memory_id])

    def chunk_texts(self, chunk_ids: Sequence[int]) -> list[ChunkText]:
        marks = ",".join("?" * len(chunk_ids))
        return self._chunk_texts(f"c.id IN ({marks})", list(chunk_ids)) if chunk_ids else []

    def _chunk_texts(self, where: str, args: list[Any]) -> list[ChunkText]:
        rows = self.db.execute(
            "SELECT c.id, c.document_id, d.path, d.title, c.heading, c.text FROM chunks c "
            f"JOIN documents d ON c.document_id = d.id WHERE {where} ORDER BY d.path, c.ord",
            args,
        ).fetchall()
        return [ChunkText(*row) for row in rows]

    def related_chunks(
        self, memory_id: int, entities: Sequence[str], exclude: int, limit: int
    ) -> list[int]:
        """Chunks already taught that mention the most of `entities`, most shared first."""
        if not entities:
            return []
        marks = ",".join("?" * len(entities))
        rows = self.db.execute(
            "SELECT e.chunk_id, count(*) AS shared FROM chunk_entities e "
            "JOIN chunks c ON c.id = e.chunk_id JOIN documents d ON d.id = c.document_id "
            f"WHERE d.memory_id = ? AND e.entity IN ({marks}) AND e.chunk_id != ? "
            "AND c.synthesized_at IS NOT NULL GROUP BY e.chunk_id "
            "ORDER BY shared DESC, e.chunk_id LIMIT ?",
            [memory_id, *entities, exclude, limit],
        ).fetchall()
        return [int(r[0]) for r in rows]

    def save_reflections(
        self,
        memory_id: int,
        chunk_id: int,
        reflections: Sequence[NewReflection],
        entities: Sequence[str],
        generator: str,
    ) -> None:
        """What one chunk taught, its names, and that it is done: one transaction, so a chunk is
        either wholly synthesized or not at all (a killed run redoes only unfinished chunks)."""
        with self.atomic():
            created = now()
            for r in reflections:
                rid = self._insert("reflections", {
                    "memory_id": memory_id, "question": r.question, "answer": r.answer,
                    "kind": r.kind, "generator": generator, "created_at": created,
                })
                for source in dict.fromkeys(r.chunk_ids):
                    self.db.execute(
                        "INSERT INTO reflection_sources (reflection_id, chunk_id, document_id) "
                        "SELECT ?, id, document_id FROM chunks WHERE id = ?", [rid, source],
                    )
            self.db.execute("DELETE FROM chunk_entities WHERE chunk_id = ?", [chunk_id])
            self.db.table("chunk_entities").insert_all(
                ({"chunk_id": chunk_id, "entity": e} for e in dict.fromkeys(entities)),
            )
            self.db.execute("UPDATE chunks SET synthesized_at = ? WHERE id = ?",
                            [created, chunk_id])

    def reflections(self, memory_id: int, state: str = "active") -> list[Reflection]:
        """Probes included (`probe` says which): training must leave those out."""
        rows = self.db.execute(
            f"SELECT {_REFLECTION} FROM reflections r "
            "WHERE r.memory_id = ? AND r.state = ? ORDER BY r.id", [memory_id, state],
        ).fetchall()
        return [_reflection(row) for row in rows]

    def reflection_sources(self, reflection_ids: Sequence[int]) -> dict[int, list[str]]:
        """The documents each reflection was written from, by path."""
        out: dict[int, list[str]] = {}
        for batch in _batches(list(reflection_ids)):
            marks = ",".join("?" * len(batch))
            for rid, path in self.db.execute(
                "SELECT DISTINCT s.reflection_id, d.path FROM reflection_sources s "
                f"JOIN documents d ON d.id = s.document_id WHERE s.reflection_id IN ({marks}) "
                "ORDER BY d.path", batch,
            ):
                out.setdefault(rid, []).append(path)
        return out

    def start_run(self, memory_id: int, **fields: Any) -> int:
        with self.atomic():
            self.db.execute("UPDATE memories SET state = 'teaching', error = NULL WHERE id = ?",
                            [memory_id])
            return self._insert("training_runs", {
                "memory_id": memory_id, "status": "running", "started_at": now(), **fields,
            })

    def finish_run(
        self,
        run_id: int,
        status: str,
        *,
        adapter: str | None = None,
        base_model: str | None = None,
        digest: str | None = None,
        taught: Sequence[int] = (),
        **fields: Any,
    ) -> None:
        """Record how a run ended; a finished one makes its adapter the memory's, marks what it
        taught, and settles the reflections whose text is gone: a full retrain has forgotten
        them all (dropped); a run that trained on from the adapter (the run's strategy says)
        has only trained past the edited ones (outdated). `digest`: the sha256 of the
        adapter's weights, checked before it is used. One transaction."""
        with self.atomic():
            run = self.db.table("training_runs").get(run_id)
            memory_id = run["memory_id"]
            self.db.table("training_runs").update(
                run_id, {"status": status, "finished_at": now(), **fields}
            )
            state, error = ("error", fields.get("error")) if status == "failed" else ("idle", None)
            self.db.execute("UPDATE memories SET state = ?, error = ? WHERE id = ?",
                            [state, error, memory_id])
            if status != "done" or adapter is None:
                return
            self.db.execute("UPDATE adapters SET active = 0 WHERE memory_id = ?", [memory_id])
            self._insert("adapters", {
                "memory_id": memory_id, "run_id": run_id, "path": adapter,
                "base_model": base_model, "digest": digest, "active": 1, "created_at": now(),
            })
            for batch in _batches(list(taught)):
                marks = ",".join("?" * len(batch))
                self.db.execute(
                    f"UPDATE reflections SET run_id = ? WHERE run_id IS NULL AND id IN ({marks})",
                    [run_id, *batch],
                )
            if run["strategy"] in _CONTINUING:
                self.db.execute("UPDATE reflections SET state = 'outdated' "
                                "WHERE memory_id = ? AND state = 'edited'", [memory_id])
            else:
                self._drop_stale(memory_id)

    def interrupted_runs(self, memory_id: int) -> None:
        """Runs left "running" by a process that was killed: say so, and free the memory."""
        with self.atomic():
            self.db.execute(
                "UPDATE training_runs SET status = 'interrupted' "
                "WHERE memory_id = ? AND status = 'running'", [memory_id],
            )
            self.db.execute(
                "UPDATE memories SET state = 'idle' WHERE id = ? AND state = 'teaching'",
                [memory_id],
            )

    def forget_all(self, memory_id: int) -> None:
        """Nothing the memory learnt from is left: drop the reflections whose text is gone, its
        adapter and its recall."""
        with self.atomic():
            self._drop_stale(memory_id)
            self.db.execute("UPDATE adapters SET active = 0 WHERE memory_id = ?", [memory_id])
            # Without an adapter there is nothing to measure: an old score would be a lie.
            self.db.execute("DELETE FROM document_recall WHERE memory_id = ?", [memory_id])

    def teach_all_again(self, memory_id: int) -> None:
        """The next teach retrains the memory from scratch on every reflection it has (as if
        none had been taught), and drops what is stale. The adapter stays the memory's until
        that run replaces it, so the memory still answers meanwhile; and a teach cut short
        resumes as a full retrain, since the mark is in the catalog."""
        with self.atomic():
            self._drop_stale(memory_id)
            self.db.execute("UPDATE reflections SET run_id = NULL WHERE memory_id = ?",
                            [memory_id])

    def _drop_stale(self, memory_id: int) -> None:
        """Delete the memory's reflections whose text is gone (`_STALE`), with their sources."""
        stale = f"SELECT id FROM reflections WHERE memory_id = ? AND state IN ({_marks(_STALE)})"
        self.db.execute(f"DELETE FROM reflection_sources WHERE reflection_id IN ({stale})",
                        [memory_id, *_STALE])
        self.db.execute(f"DELETE FROM reflections WHERE id IN ({stale})", [memory_id, *_STALE])

    def runs(self, memory_id: int) -> list[dict[str, Any]]:
        return list(self.db.query(
            "SELECT * FROM training_runs WHERE memory_id = ? ORDER BY id", [memory_id]
        ))

    def adapter(self, memory_id: int) -> dict[str, Any] | None:
        """The memory's active adapter; its "path" absolute (stored relative to the catalog's
        folder, so a data folder that moves keeps its adapters)."""
        rows = list(self.db.query(
            "SELECT * FROM adapters WHERE memory_id = ? AND active = 1 ORDER BY id DESC LIMIT 1",
            [memory_id],
        ))
        if not rows:
            return None
        return {**rows[0], "path": str(self.path.parent / rows[0]["path"])}

    # --- chats ------------------------------------------------------------------------------

    def create_chat(self, title: str = NEW_CHAT) -> Chat:
        title = _chat_title(title)
        with self.atomic():
            created = _instant()
            chat_id = self._insert(
                "chats", {"title": title, "created_at": created, "updated_at": created}
            )
        chat = self.chat(chat_id)
        assert chat is not None
        return chat

    def chats(self) -> list[Chat]:
        """Every chat, the one last talked in first."""
        rows = self.db.execute(
            "SELECT id, title, created_at, updated_at FROM chats "
            "ORDER BY updated_at DESC, id DESC"
        ).fetchall()
        return [Chat(*row) for row in rows]

    def chat(self, chat_id: int) -> Chat | None:
        row = self.db.execute(
            "SELECT id, title, created_at, updated_at FROM chats WHERE id = ?", [chat_id]
        ).fetchone()
        return None if row is None else Chat(*row)

    def rename_chat(self, chat_id: int, title: str) -> Chat:
        """A new title; not activity, so the chat keeps its place in the list."""
        title = _chat_title(title)
        with self.atomic():
            self._chat_or_error(chat_id)
            self.db.execute("UPDATE chats SET title = ? WHERE id = ?", [title, chat_id])
        chat = self.chat(chat_id)
        assert chat is not None
        return chat

    def delete_chat(self, chat_id: int) -> None:
        """A chat and its messages; an unknown id is no error."""
        with self.atomic():
            self.db.execute("DELETE FROM messages WHERE chat_id = ?", [chat_id])
            self.db.execute("DELETE FROM chats WHERE id = ?", [chat_id])

    def add_message(
        self,
        chat_id: int,
        role: str,
        content: str,
        *,
        mode: str | None = None,
        memories: Sequence[str] = (),
        trace: Sequence[dict[str, Any]] = (),
        sources: Sequence[str] = (),
        quotes: Sequence[dict[str, str]] = (),
        executive: str = "",
    ) -> ChatMessage:
        """Append a message to a chat and move the chat to the top of the list. A chat still
        called "New chat" is named after its first question, as the user would name it."""
        if role not in _ROLES:
            raise CatalogError(f"{role!r}: a message is from the user or the assistant")
        with self.atomic():
            chat = self._chat_or_error(chat_id)
            created = _instant()
            order = self._count(
                "SELECT coalesce(max(ord) + 1, 0) FROM messages WHERE chat_id = ?", chat_id
            )
            message_id = self._insert("messages", {
                "chat_id": chat_id, "ord": order, "role": role, "content": content,
                "mode": mode, "memories": _json(memories), "trace": _json(trace),
                "sources": _json(sources), "quotes": _json(quotes), "created_at": created,
                "executive": executive or None,
            })
            title = chat.title
            if title == NEW_CHAT and role == "user":
                title = _title_from(content) or title
            self.db.execute("UPDATE chats SET title = ?, updated_at = ? WHERE id = ?",
                            [title, created, chat_id])
        row = self.db.execute(f"{_MESSAGE} WHERE id = ?", [message_id]).fetchone()
        return _message(row)

    def messages(self, chat_id: int) -> list[ChatMessage]:
        """The chat's messages in the order they were said."""
        rows = self.db.execute(
            f"{_MESSAGE} WHERE chat_id = ? ORDER BY ord, id", [chat_id]
        ).fetchall()
        return [_message(row) for row in rows]

    def _chat_or_error(self, chat_id: int) -> Chat:
        chat = self.chat(chat_id)
        if chat is None:
            raise CatalogError(f"no chat with id {chat_id}")
        return chat

    # --- search -----------------------------------------------------------------------------

    def search_chunks(
        self, memory_ids: Sequence[int], query: str, limit: int = 3
    ) -> list[ChunkText]:
        """The chunks of these memories' readable documents that best match a user's free-text
        question (bm25), best first."""
        match = fts_query(query)
        if not match or not memory_ids or limit <= 0:
            return []
        marks = ",".join("?" * len(memory_ids))
        rows = self.db.execute(
            "SELECT c.id, c.document_id, d.path, d.title, c.heading, c.text FROM chunks_fts f "
            "JOIN chunks c ON c.id = f.rowid JOIN documents d ON d.id = c.document_id "
            f"WHERE chunks_fts MATCH ? AND d.memory_id IN ({marks}) AND d.state = 'ok' "
            "ORDER BY f.rank, c.id LIMIT ?",
            [match, *memory_ids, limit],
        ).fetchall()
        return [ChunkText(*row) for row in rows]

    def mentions(self, memory_id: int, phrase: str) -> bool:
        """Whether any chunk of the memory's documents holds `phrase` as whole words, in any
        case (the full-text index narrows; a regular expression decides, as SQLite's lower()
        knows only ASCII)."""
        words = phrase.split()
        if not words:
            return False
        pattern = re.compile(r"(?<!\w)" + r"\s+".join(map(re.escape, words)) + r"(?!\w)",
                             re.IGNORECASE)
        match = fts_query(phrase)
        sql = ("SELECT c.text FROM chunks c JOIN documents d ON d.id = c.document_id "
               "WHERE d.memory_id = ?")
        args: list[Any] = [memory_id]
        if match:  # a phrase of stop words only ("The") is looked for in every chunk
            sql += " AND c.id IN (SELECT rowid FROM chunks_fts WHERE chunks_fts MATCH ?)"
            args.append(match)
        return any(pattern.search(text) for (text,) in self.db.execute(sql, args))

    def search_reflections(self, memory_id: int, text: str, limit: int = 5) -> list[Reflection]:
        """The memory's active reflections that best match a text (bm25), best first: which of
        them taught an answer, so that it can cite their documents. A taught "I don't know"
        (`abstain`) teaches none."""
        match = fts_query(text)
        if not match or limit <= 0:
            return []
        rows = self.db.execute(
            f"SELECT {_REFLECTION} FROM reflections_fts f JOIN reflections r ON r.id = f.rowid "
            "WHERE reflections_fts MATCH ? AND r.memory_id = ? AND r.state = 'active' "
            "AND r.kind != 'abstain' ORDER BY f.rank, r.id LIMIT ?",
            [match, memory_id, limit],
        ).fetchall()
        return [_reflection(row) for row in rows]

    # --- memory health ----------------------------------------------------------------------

    def choose_probes(self, memory_id: int, per_document: int, min_reflections: int) -> int:
        """Hold out up to `per_document` reflections of each document that has at least
        `min_reflections` of its own, as probes; returns how many were marked. One transaction.

        Only reflections never taught can be held out (a taught one is in the adapter already),
        only those of one document (recall is per document), and only a second wording of a
        fact: another reflection of the document with the same answer stays taught, so a
        probe measures a fact the memory learned in other words and never withholds the only
        reflection of one. The choice is a hash of the question, so the same catalog always
        holds out the same ones."""
        with self.atomic():
            # Active reflections written from exactly one document, with that document.
            rows = self.db.execute(
                "SELECT r.id, r.question, r.answer, r.kind, r.run_id, r.probe, "
                "min(s.document_id) "
                "FROM reflections r JOIN reflection_sources s ON s.reflection_id = r.id "
                "WHERE r.memory_id = ? AND r.state = 'active' GROUP BY r.id "
                "HAVING count(DISTINCT s.document_id) = 1 AND count(s.document_id) = count(*)",
                [memory_id],
            ).fetchall()
            own: dict[int, int] = {}
            probes: dict[int, int] = {}
            # Per document and answer: the reflections that teach it (not probes).
            taught: dict[tuple[int, str], int] = {}
            candidates: dict[int, list[tuple[str, int, str]]] = {}
            for rid, question, answer, kind, run_id, probe, doc_id in rows:
                own[doc_id] = own.get(doc_id, 0) + 1
                fact = normalise(answer)
                if probe:
                    probes[doc_id] = probes.get(doc_id, 0) + 1
                    continue
                taught[doc_id, fact] = taught.get((doc_id, fact), 0) + 1
                if run_id is None and kind in _PROBE_KINDS:
                    digest = hashlib.sha256(question.encode()).hexdigest()
                    candidates.setdefault(doc_id, []).append((digest, rid, fact))
            chosen: list[int] = []
            for doc_id, ranked in candidates.items():
                room = per_document - probes.get(doc_id, 0)
                if own[doc_id] < min_reflections:
                    continue
                for _, rid, fact in sorted(ranked):
                    if room <= 0:
                        break
                    if taught[doc_id, fact] >= 2:  # another wording of it stays taught
                        chosen.append(rid)
                        taught[doc_id, fact] -= 1
                        room -= 1
            for batch in _batches(chosen):
                marks = ",".join("?" * len(batch))
                self.db.execute(f"UPDATE reflections SET probe = 1 WHERE id IN ({marks})", batch)
        return len(chosen)

    def documents_taught(self, reflection_ids: Sequence[int]) -> set[int]:
        """The documents whose chunks these reflections were written from."""
        found: set[int] = set()
        for batch in _batches(list(reflection_ids)):
            found.update(r[0] for r in self.db.execute(
                "SELECT DISTINCT document_id FROM reflection_sources "
                f"WHERE reflection_id IN ({_marks(batch)})", batch))
        return found

    def probes(self, memory_id: int) -> list[tuple[Reflection, int, str]]:
        """The memory's active probes, each with its document's id and path, by path."""
        rows = self.db.execute(
            f"SELECT DISTINCT {_REFLECTION}, d.id, d.path FROM reflections r "
            "JOIN reflection_sources s ON s.reflection_id = r.id "
            "JOIN documents d ON d.id = s.document_id "
            "WHERE r.memory_id = ? AND r.state = 'active' AND r.probe = 1 "
            "ORDER BY d.path, r.id",
            [memory_id],
        ).fetchall()
        return [(_reflection(row[:6]), int(row[6]), str(row[7])) for row in rows]

    def save_recall(
        self, memory_id: int, run_id: int | None, results: dict[int, tuple[int, int]],
        *, partial: bool = False,
    ) -> None:
        """Record a measure of the memory: document id -> (right, asked). A whole measure
        replaces the last one (a document whose probes all went with its old text drops out);
        a partial one replaces the scores of the documents it measured. A document removed
        meanwhile (a scan beside the teach) is skipped."""
        with self.atomic():
            measured = now()
            if not partial:
                self.db.execute("DELETE FROM document_recall WHERE memory_id = ?", [memory_id])
            for doc_id, (right, asked) in results.items():
                self.db.execute(
                    "INSERT OR REPLACE INTO document_recall "
                    '(document_id, memory_id, run_id, "right", asked, measured_at) '
                    "SELECT id, memory_id, ?, ?, ?, ? FROM documents "
                    "WHERE id = ? AND memory_id = ?",
                    [run_id, right, asked, measured, doc_id, memory_id],
                )

    def recall(self, memory_id: int) -> RecallScore | None:
        """The memory's last measured recall over the documents it still has; None if never
        measured."""
        rows = self.db.execute(
            'SELECT d.path, r."right", r.asked FROM document_recall r '
            "JOIN documents d ON d.id = r.document_id WHERE r.memory_id = ? ORDER BY d.path",
            [memory_id],
        ).fetchall()
        if not rows:
            return None
        documents = [DocumentRecall(*row) for row in rows]
        return RecallScore(
            right=sum(d.right for d in documents), asked=sum(d.asked for d in documents),
            documents=documents,
        )

    # --- summaries --------------------------------------------------------------------------

    def stats(self, memory_id: int) -> MemoryStats:
        one = self._count
        adapter = self.adapter(memory_id)
        chunk_join = "FROM chunks c JOIN documents d ON c.document_id = d.id WHERE d.memory_id = ?"
        return MemoryStats(
            folders=one("SELECT count(*) FROM folders WHERE memory_id = ?", memory_id),
            documents=one("SELECT count(*) FROM documents WHERE memory_id = ?", memory_id),
            failed=one(
                "SELECT count(*) FROM documents WHERE memory_id = ? AND state = 'error'",
                memory_id,
            ),
            chunks=self.chunk_count(memory_id),
            untaught_chunks=one(
                f"SELECT count(*) {chunk_join} AND c.synthesized_at IS NULL", memory_id
            ),
            reflections=one(
                "SELECT count(*) FROM reflections WHERE memory_id = ? AND state = 'active'",
                memory_id,
            ),
            orphaned_reflections=one(
                "SELECT count(*) FROM reflections WHERE memory_id = ? "
                "AND state IN ('orphaned', 'edited')", memory_id,
            ),
            outdated_reflections=one(
                "SELECT count(*) FROM reflections WHERE memory_id = ? AND state = 'outdated'",
                memory_id,
            ),
            adapter=adapter["path"] if adapter else None,
        )

    def errors(self, memory_id: int) -> list[tuple[str, str]]:
        """(path, reason) of every document of the memory that could not be read."""
        return [
            (r["path"], r["error"])
            for r in self.db.query(
                "SELECT path, error FROM documents WHERE memory_id = ? AND state = 'error' "
                "ORDER BY path", [memory_id],
            )
        ]

    def _insert(self, table: str, row: dict[str, Any]) -> int:
        pk = self.db.table(table).insert(row).last_pk
        assert pk is not None
        return int(pk)

    def chunk_count(self, memory_id: int) -> int:
        return self._count(
            "SELECT count(*) FROM chunks c JOIN documents d ON c.document_id = d.id "
            "WHERE d.memory_id = ?", memory_id,
        )

    def _count(self, sql: str, *args: object) -> int:
        return int(self.db.execute(sql, list(args)).fetchone()[0])


def memory_state(memory: Memory, stats: MemoryStats, teaching: bool = False,
                 damaged: bool = False) -> str:
    """The state `memo status` and the app show: empty, stale, teaching, ready or error.
    `teaching`: a teach holds the memory's lock now (a "teaching" state without it is the trace
    of a killed process). `damaged`: its adapter file is not the one saved, so it needs a
    teach (stale)."""
    if teaching or memory.state == "error":
        return "teaching" if teaching else "error"
    if not (stats.chunks or stats.reflections or stats.orphaned_reflections or stats.adapter):
        return "empty"
    if stats.untaught_chunks or stats.orphaned_reflections or stats.adapter is None or damaged:
        return "stale"
    return "ready"


def _unwritable(path: Path) -> str | None:
    """Why MeMo cannot save to the catalog at `path` (its folder or the file is read-only), or
    None. A folder that does not exist is left to fail as it does when opened."""
    folder = path.parent
    if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
        return read_only(folder)
    if path.exists() and not os.access(path, os.W_OK):
        return f"the catalog {path} is read-only: MeMo cannot save there"
    return None


def check_memory_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise CatalogError("a memory needs a name")
    if len(name) > 100 or any(not c.isprintable() for c in name):
        raise CatalogError(f"{quoted(name)}: a memory name is up to 100 printable characters")
    return name


# Words that say what kind of question it is, not what it is about: they would only add noise.
STOP_WORDS = frozenset('''
a about after all also an and any are as at be been before being but by can could did do does
for from had has have he her here him his how i if in into is it its me my no nor not of on or
our please s she should so t tell than that the their them then there these they this those to
us was we were what when where which while who whom whose why will with would you your
'''.split())
_MAX_QUERY_TERMS = 64  # a pasted page must not become a query of thousands of terms


def fts_query(text: str) -> str:
    """A user's free text as a safe FTS5 query: its words but the stop words, each quoted (so
    quotes, operators and `*` are only text), joined with OR; "" when no word is left."""
    words = re.findall(r"\w+", unicodedata.normalize("NFC", text).lower())
    terms = [w for w in dict.fromkeys(words) if w not in STOP_WORDS][:_MAX_QUERY_TERMS]
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


def _marks(values: Sequence[object]) -> str:
    """One `?` per value, for `IN (...)`."""
    return ",".join("?" * len(values))


def _batches(ids: list[int], size: int = 500) -> Iterator[list[int]]:
    # SQLite limits the number of bound parameters per statement.
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _reflection(row: Sequence[Any]) -> Reflection:
    rid, question, answer, kind, run_id, probe = row
    return Reflection(rid, question, answer, kind, run_id, bool(probe))


def _memory(r: dict[str, Any]) -> Memory:
    # .get: a catalog opened with an earlier list of migrations (their tests) has no `paused`.
    return Memory(
        r["id"], r["name"], bool(r["enabled"]), r["state"], r["error"], bool(r.get("paused"))
    )


def _instant() -> str:
    # Chats are ordered by activity, and two messages often come within one second.
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _chat_title(title: str) -> str:
    title = title.strip()
    if not title:
        raise CatalogError("a chat needs a title")
    return title[:_MAX_CHAT_TITLE].rstrip()


def _title_from(content: str) -> str:
    """The first line of a question, cut to a title's length; "" when it has no text."""
    lines = [line.strip() for line in content.splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[0]
    return line if len(line) <= _CHAT_TITLE else line[: _CHAT_TITLE - 1].rstrip() + "…"


def _json(items: Iterable[Any]) -> str:
    return json.dumps(list(items), ensure_ascii=False)


def _message(row: Sequence[Any]) -> ChatMessage:
    msg_id, chat_id, role, content, mode, memories, trace, sources, created, quotes, by = row
    return ChatMessage(
        msg_id, chat_id, role, content, mode, json.loads(memories or "[]"),
        json.loads(trace or "[]"), json.loads(sources or "[]"), created,
        json.loads(quotes or "[]"), by or "",
    )


def _document(row: tuple[Any, ...]) -> Document:
    doc_id, folder_id, path, fmt, size, mtime_ns, digest, chunker, state, error, retry = row
    return Document(
        doc_id, folder_id, path, fmt, size, mtime_ns, digest, chunker, state, error, bool(retry)
    )


def _folder(r: dict[str, Any]) -> Folder:
    return Folder(
        r["id"], r["memory_id"], r["path"], r["kind"], r["state"], r["error"], r["scanned_at"]
    )
