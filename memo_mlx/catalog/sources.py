"""Sources: the folders a memory learns from (or single files), every readable file in them
as a **document** (path, size, mtime, content hash, the chunker that cut it, state `ok` or
`error` with the reason), and each document's text cut into **chunks** (order, heading path,
text, token count, hash), with a full-text index (FTS5, ranked by bm25) kept in sync by
triggers: how a question finds the text that answers it.

A scan writes one document per transaction (`save_document`): a process killed at any moment
leaves the catalog as it was after the last whole document. Chunks whose text is unchanged are
kept with what they taught; vanished text marks what it taught edited (or, for a removed file,
orphaned).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from .records import (
    ChunkText,
    Document,
    Folder,
    NewChunk,
    _document,
    _folder,
)
from .store import (
    Store,
    _batches,
    _marks,
    fts_query,
    now,
)

# The foreign keys above are declared without ON DELETE rules (sqlite-utils cannot say them), so
# deletions cascade explicitly here, children first, inside the caller's transaction.
_DELETE_DOCUMENTS = [
    "DELETE FROM chunks WHERE document_id IN ({ids})",
    "DELETE FROM document_recall WHERE document_id IN ({ids})",
    "DELETE FROM documents WHERE id IN ({ids})",
]


_DOCUMENT = (  # the columns of `Document`, in its order
    "SELECT id, folder_id, path, format, size, mtime_ns, hash, chunker, state, error, retry "
    "FROM documents"
)


# What removing a chunk makes of the reflections it taught, and from which states: an edit leaves
# them to be replaced (edited); a removed file's must be forgotten (orphaned), even those an
# earlier edit left behind, since the adapter may still hold them.
_VANISHED = {"edited": ("active",), "orphaned": ("active", "edited", "outdated")}


class Sources(Store):
    """The folders of the memories, their documents and the documents' chunks."""

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

    def chunk_count(self, memory_id: int) -> int:
        return self._count(
            "SELECT count(*) FROM chunks c JOIN documents d ON c.document_id = d.id "
            "WHERE d.memory_id = ?", memory_id,
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
