"""The catalog itself: the SQLite file opened (read-only where it must be), migrated, its
transactions and cross-process locks, and the memories, which own everything else.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import sqlite_utils

from ..errors import quoted
from ..settings import memo_home, read_only
from . import schema
from .chats import Chats
from .records import (
    Memory,
    MemoryStats,
    _memory,
    check_memory_name,
)
from .reflections import Reflections
from .runs import Runs
from .sources import Sources
from .store import CatalogError, count, now

CATALOG_FILE = "catalog.db"


BUSY_TIMEOUT_MS = 30_000  # a scan in another process holds the write lock per document only


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


class Catalog:
    """The catalog: one connection (open one per thread), its transactions and locks, the
    memories at the top of the data model, and a store for each part below them: `sources`,
    `reflections`, `runs`, `chats` (see the package's docstring)."""

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
        parts = (self.db, self.atomic, self.path)
        self.sources, self.reflections = Sources(*parts), Reflections(*parts)
        self.runs, self.chats = Runs(*parts), Chats(*parts)
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
            if any(name not in done for name, _ in schema.MIGRATIONS):
                raise CatalogError(f"the catalog {self.path} needs an update for this MeMo, "
                                   f"which cannot be saved: {unwritable}")
            return
        with self.atomic():
            self.db.table("migrations").create(
                {"name": str, "applied_at": str}, pk="name", if_not_exists=True
            )
            done = {r["name"] for r in self.db.table("migrations").rows}
            for name, migration in schema.MIGRATIONS:
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
            self.sources.remove_documents(ids)  # chunks, their names and sources, recall, FTS rows
            for sql in _DELETE_MEMORY:
                self.db.execute(sql, [memory_id])

    def _memory_or_error(self, memory_id: int) -> Memory:
        rows = list(self.db.query("SELECT * FROM memories WHERE id = ?", [memory_id]))
        if not rows:
            raise CatalogError(f"no memory with id {memory_id}")
        return _memory(rows[0])

    def stats(self, memory_id: int) -> MemoryStats:
        one = partial(count, self.db)
        adapter = self.runs.adapter(memory_id)
        chunk_join = "FROM chunks c JOIN documents d ON c.document_id = d.id WHERE d.memory_id = ?"
        return MemoryStats(
            folders=one("SELECT count(*) FROM folders WHERE memory_id = ?", memory_id),
            documents=one("SELECT count(*) FROM documents WHERE memory_id = ?", memory_id),
            failed=one(
                "SELECT count(*) FROM documents WHERE memory_id = ? AND state = 'error'",
                memory_id,
            ),
            chunks=self.sources.chunk_count(memory_id),
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


def _unwritable(path: Path) -> str | None:
    """Why MeMo cannot save to the catalog at `path` (its folder or the file is read-only), or
    None. A folder that does not exist is left to fail as it does when opened."""
    folder = path.parent
    if folder.is_dir() and not os.access(folder, os.W_OK | os.X_OK):
        return read_only(folder)
    if path.exists() and not os.access(path, os.W_OK):
        return f"the catalog {path} is read-only: MeMo cannot save there"
    return None
