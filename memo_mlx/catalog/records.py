"""The catalog's rows as Python values, and the rules on them that need no database.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import quoted
from .store import CatalogError


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


def check_memory_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise CatalogError("a memory needs a name")
    if len(name) > 100 or any(not c.isprintable() for c in name):
        raise CatalogError(f"{quoted(name)}: a memory name is up to 100 printable characters")
    return name


def _reflection(row: Sequence[Any]) -> Reflection:
    rid, question, answer, kind, run_id, probe = row
    return Reflection(rid, question, answer, kind, run_id, bool(probe))


def _memory(r: dict[str, Any]) -> Memory:
    # .get: a catalog opened with an earlier list of migrations (their tests) has no `paused`.
    return Memory(
        r["id"], r["name"], bool(r["enabled"]), r["state"], r["error"], bool(r.get("paused"))
    )


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
