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

A `Catalog` owns one connection; open one per thread. The memories are its own
(`catalog.memories()`, `catalog.create_memory()`, ...); each part below them is a store that
shares the connection and `atomic()`: `catalog.sources` (folders, documents, chunks),
`catalog.reflections` (reflections, what taught them, probes and their recall), `catalog.runs`
(training runs and adapters) and `catalog.chats` (chats and their messages).
"""

from .records import (
    Chat,
    ChatMessage,
    ChunkText,
    Document,
    DocumentRecall,
    Folder,
    Memory,
    MemoryStats,
    NewChunk,
    NewReflection,
    RecallScore,
    Reflection,
    check_memory_name,
    memory_state,
)
from .root import BUSY_TIMEOUT_MS, CATALOG_FILE, Catalog
from .store import CatalogError, fts_query

__all__ = ["BUSY_TIMEOUT_MS", "CATALOG_FILE", "Catalog", "CatalogError", "Chat", "ChatMessage",
           "ChunkText", "Document", "DocumentRecall", "Folder", "Memory", "MemoryStats",
           "NewChunk", "NewReflection", "RecallScore", "Reflection", "check_memory_name",
           "fts_query", "memory_state"]
