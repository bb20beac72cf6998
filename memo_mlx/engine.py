"""The engine's one surface: what the `memo` command and the app call, and nothing else.

    with Engine() as engine:                       # the data folder of MEMO_HOME
        engine.add(["~/Notes"])                    # a memory named "Notes", its files read
        for report in engine.teach():              # reflections written, the adapter trained
            ...
        answer = engine.ask("Who built the greenhouse?")   # with the memories switched on

Calls block and run on the caller's thread, except `submit` (an answer led from recall's
thread) and `watch` (a `Teacher` on its own thread). The model loads at the first call that
needs it; `Loading` is said to `on_event` first. Every call says what goes on through an
optional `on_event(event)`, with events as small dataclasses: `Loading`, `Waiting`,
`Consulting`, `LeftOut`, and the stages' own `ScanProgress` and `TeachProgress`.

An `Engine` is used by one thread at a time (the CLI's, or the app's desk thread); its catalog
connection is its own. Answers are led from recall's thread with a connection of their own,
and the teacher opens its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from .answering.recall import LOCAL, MODES, Answer, Recall, Unusable, unusable
from .catalog import CATALOG_FILE, Catalog, Chat, ChatMessage, Memory
from .errors import MemoError, UsageError, quoted
from .learning.teach import (
    STRATEGIES,
    CheckProgress,
    TeachProgress,
    TeachReport,
    TeachSettings,
    teach_memory,
)
from .learning.teacher import Teacher, TeachState
from .models.base import BaseModel, ModelError, is_hub_id, resolve_source
from .models.endpoint import (
    Endpoint,
    EndpointError,
    check_url,
    configured_executive,
    remote_allowed,
)
from .models.runtime import ModelRuntime
from .reflections.synthesis import SynthesisProgress
from .scoring import says_unknown
from .settings import memo_home
from .sources.chunking import Chunker
from .sources.ingest import ScanProgress, ScanReport, add_paths, remove_path, scan_memory
from .status import learned, memory_status, shown_state, weak_documents


@dataclass(frozen=True)
class Loading:
    """The base model is being loaded (seconds to a minute, once per engine)."""


@dataclass(frozen=True)
class Waiting:
    """Another teach of `memory` (another process) holds it: this one waits for it."""

    memory: str


@dataclass(frozen=True)
class Consulting:
    """Who answers: the memories asked, and the executive when it is a server."""

    memories: tuple[str, ...]
    executive: str | None = None
    remote: bool = False  # the executive is not this computer


@dataclass(frozen=True)
class LeftOut:
    """A memory switched on but not consulted, and why."""

    memory: Memory
    why: Unusable


@dataclass(frozen=True)
class MemoryView:
    """A memory as a window shows it: its row, its `memo status` dictionary, and why it
    cannot be consulted now (None: it can)."""

    memory: Memory
    status: dict[str, Any]
    unusable: Unusable | None


@dataclass(frozen=True)
class Removed:
    memory: Memory
    path: str
    orphaned: int  # reflections the next teach forgets


NOT_LOADED = Unusable("loading")  # no base model yet to consult a memory on

# What the engine says while it works, to a call's `on_event`.
Event = Loading | Waiting | Consulting | LeftOut | ScanProgress | TeachProgress
OnEvent = Callable[[Event], None]


def check_question(question: str) -> None:
    """Refuse a blank question (a UsageError), before anything is opened or loaded."""
    if not question.strip():
        raise UsageError("the question is empty: ask something")


class Engine:
    """MeMo's memories in its data folder (`home`: MEMO_HOME, see `settings`), and the base model
    (`model`: a spec for `models.base.load_base`; default: the settings') they are taught on.
    `reads_only`: the caller only reads, so a data folder MeMo cannot write is opened
    read-only rather than refused (see `Catalog`)."""

    def __init__(self, *, model: str | None = None, reads_only: bool = False):
        self.home = memo_home()
        self.catalog = Catalog(self.home / CATALOG_FILE, reads_only=reads_only)
        self._model = model
        self._runtime: ModelRuntime | None = None  # started by the first call that needs it
        self._recall: Recall | None = None
        self._recall_catalog: Catalog | None = None  # recall's thread's connection
        self._executive: Endpoint | None = None
        self.teacher: Teacher | None = None
        self._lock = threading.Lock()  # the runtime and recall are made once, by any thread

    def close(self) -> None:
        """Stop teaching and answering; a teach under way leaves a checkpoint to resume."""
        if self.teacher is not None:
            self.teacher.close()
        if self._runtime is not None:
            self._runtime.close()
        if self._recall_catalog is not None:
            self._recall_catalog.close()
        self.catalog.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- memories -------------------------------------------------------------------------

    def memories(self) -> list[Memory]:
        return self.catalog.memories()

    def memory(self, name: str) -> Memory:
        memory = self.catalog.memory(name)
        if memory is None:
            raise MemoError(f"no memory named {quoted(name)} (see memo status)")
        return memory

    def selected(self, name: str | None = None) -> list[Memory]:
        """The memory named, or (None) every memory; an error when there is none."""
        if name is not None:
            return [self.memory(name)]
        memories = self.memories()
        if not memories:
            raise MemoError("no memories yet: add a folder with `memo add PATH`")
        return memories

    def status(self, memory: Memory | None = None) -> list[dict[str, Any]]:
        """`memo status --json`'s memories (docs/cli-contract.md): `memory`'s, or all."""
        return [memory_status(self.catalog, m)
                for m in ([memory] if memory is not None else self.memories())]

    def views(self) -> list[MemoryView]:
        """Every memory as a window shows it, with why it cannot be consulted on the base
        model loaded (`NOT_LOADED` until it is)."""
        base = self.base()
        return [MemoryView(m, memory_status(self.catalog, m),
                           NOT_LOADED if base is None else unusable(self.catalog, m, base))
                for m in self.memories()]

    def add(self, paths: Iterable[str | Path], memory: str | None = None, *, scan: bool = True,
            on_event: OnEvent | None = None) -> tuple[Memory, ScanReport | None]:
        """Register folders or files in `memory` (created if new; default: named for the first
        folder), and read them unless `scan` is False. A watching teacher watches them and
        teaches the memory."""
        added = add_paths(self.catalog, paths, memory)
        report = None
        if scan:
            report = scan_memory(self.catalog, added, self._chunker(), on_progress=on_event)
        if self.teacher is not None:
            self.teacher.watch_folders()
            self.teacher.request(added.id)
        return added, report

    def remove(self, path: str | Path, memory: str | None = None) -> Removed:
        """Stop learning from a folder or file (`memory`: which, when several learn from it)."""
        folder, orphaned = remove_path(self.catalog, path, memory)
        if self.teacher is not None:
            self.teacher.watch_folders()
        return Removed(self.catalog.memory_by_id(folder.memory_id), folder.path, orphaned)

    def scan(self, memory: str | None = None,
             on_event: OnEvent | None = None) -> Iterator[ScanReport]:
        """Bring the catalog up to date with the folders of `memory` (default: every memory),
        one report per memory as each is done."""
        chunker = self._chunker()
        for m in self.selected(memory):
            yield scan_memory(self.catalog, m, chunker, on_progress=on_event)

    def switch(self, memory: Memory | str, on: bool) -> Memory:
        """Switch a memory on (consulted by `ask` and the chat) or off (kept, not consulted)."""
        m = self.memory(memory) if isinstance(memory, str) else memory
        self.catalog.set_enabled(m.id, on)
        return self.catalog.memory_by_id(m.id)

    def rename(self, memory: Memory, name: str) -> Memory:
        return self.catalog.rename_memory(memory.id, name)

    def _chunker(self) -> Chunker:
        """Chunks counted in the tokens of this engine's model (not the settings' when
        another was named)."""
        return Chunker(resolve_source(self._model))

    # --- the model ------------------------------------------------------------------------

    def load(self, on_event: OnEvent | None = None) -> Future[BaseModel]:
        """Start loading the base model if it is not yet; its `loaded` future."""
        with self._lock:
            if self._runtime is None:
                if on_event is not None:
                    on_event(Loading())
                self._runtime = ModelRuntime(self._model)
            return self._runtime.loaded

    def model_info(self) -> dict[str, Any]:
        """The base model the settings name and where it runs, without loading it (`memo
        status`'s "model")."""
        from .blas import active_blas
        from .models.base import backend, compute_for

        source = resolve_source(self._model)
        device = backend()
        return {"name": source.name, "backend": device, "source": source.kind,
                "location": source.location, "compute": compute_for(device),
                "blas": active_blas() if device == "cpu" else None}

    @property
    def runtime(self) -> ModelRuntime | None:
        """The `ModelRuntime` once `load` has started it, else None."""
        return self._runtime

    def base(self) -> str | None:
        """The loaded base model's location; None while none is loaded."""
        loaded = None if self._runtime is None else self._runtime.loaded
        if loaded is None or not loaded.done() or loaded.exception() is not None:
            return None
        return str(loaded.result().source.location)

    def _loaded(self, on_event: OnEvent | None) -> ModelRuntime:
        self.load(on_event).result()
        assert self._runtime is not None
        return self._runtime

    def use_executive(self, url: str | None = None, model: str | None = None,
                      allow_remote: bool | None = None) -> Endpoint | None:
        """Who answers from the next question: the chat server `url` (default: the settings'),
        or (None) this computer's model. A server MeMo may not use is a UsageError."""
        try:
            executive = configured_executive(url, model, allow_remote)
        except EndpointError as e:
            raise UsageError(str(e)) from e
        with self._lock:
            self._executive = executive
            self._recall = None  # made anew at the next question; one under way keeps its own
        return executive

    def _recaller(self, on_event: OnEvent | None) -> Recall:
        runtime = self._loaded(on_event)
        with self._lock:
            if self._recall_catalog is None:  # led from recall's thread: its own connection
                self._recall_catalog = Catalog(self.catalog.path,
                                               reads_only=self.catalog.read_only)
            if self._recall is None:
                self._recall = Recall(self._recall_catalog, runtime, executive=self._executive)
            return self._recall

    def consultable(self, names: Sequence[str] | None = None,
                    on_event: OnEvent | None = None) -> list[Memory]:
        """The memories a question consults: those `names`d (an error if one is unknown), or
        (None) every memory switched on that can be, on the loaded base model. A damaged
        one is said as `LeftOut`: it was switched on to be asked."""
        if names is not None:
            return [self.memory(n) for n in dict.fromkeys(names)]
        self._loaded(on_event)
        base = self.base()
        assert base is not None  # loaded, or _loaded raised why not
        out = []
        for m in (m for m in self.memories() if m.enabled):
            why = unusable(self.catalog, m, base)
            if why is None:
                out.append(m)
            elif why.reason == "damaged" and on_event is not None:
                on_event(LeftOut(m, why))
        return out

    def ask(self, question: str, memories: Sequence[str] | None = None, *,
            mode: str | None = None, max_tokens: int | None = None,
            history: Sequence[dict[str, str]] = (), on_text: Callable[[str], None] | None = None,
            cancel: threading.Event | None = None, on_event: OnEvent | None = None) -> Answer:
        """Answer `question` with the memories named (None: those switched on; []: the base
        model alone), streaming the answer's text into `on_text`. ^C (KeyboardInterrupt)
        cancels it and is raised again."""
        check_question(question)
        if max_tokens is not None and max_tokens < 1:
            raise UsageError("--max-tokens must be at least 1")
        cancel = cancel or threading.Event()
        consulted = self.consultable(memories, on_event)
        future = self.submit(question, consulted, mode=mode, max_tokens=max_tokens,
                             history=history, on_text=on_text, cancel=cancel, on_event=on_event)
        try:
            return future.result()
        except KeyboardInterrupt:
            cancel.set()
            raise

    def submit(self, question: str, memories: Sequence[Memory], *, mode: str | None = None,
               max_tokens: int | None = None, history: Sequence[dict[str, str]] = (),
               on_text: Callable[[str], None] | None = None,
               cancel: threading.Event | None = None,
               on_event: OnEvent | None = None) -> Future[Answer]:
        """`ask` without blocking the caller (a window's thread), with the memories given:
        led from recall's thread; `on_text` is called from the engine thread. A teach under
        way stops training until the answer is done."""
        recall = self._recaller(on_event)
        if max_tokens is not None:
            recall = Recall(recall.catalog, recall.runtime, executive=recall.executive,
                            settings=replace(recall.settings, answer_tokens=max_tokens,
                                             memory_tokens=max_tokens))
        if on_event is not None:
            ex = recall.executive
            on_event(Consulting(tuple(m.name for m in memories),
                                None if ex is None else ex.name, bool(ex and ex.remote)))
        teacher = self.teacher
        if teacher is not None:
            teacher.begin_question()
        future = recall.submit(question, memories, mode=mode, on_text=on_text, cancel=cancel,
                               history=history)
        if teacher is not None:
            future.add_done_callback(lambda _f: teacher.end_question())
        return future

    def teach(self, memory: str | None = None, *, strategy: str | None = None,
              generator: str | None = None, generator_model: str | None = None,
              allow_remote: bool | None = None,
              on_event: OnEvent | None = None) -> Iterator[TeachReport]:
        """Scan, write reflections for new text and train `memory` (default: every memory),
        one report per memory as each is done. `generator`: an OpenAI-compatible server that
        writes the reflections (default: the settings', else the local model)."""
        from .reflections.synthesis import configured_generator

        settings = TeachSettings.from_defaults()
        if strategy:
            settings = replace(settings, strategy=strategy)
        memories = self.selected(memory)
        runtime = self._loaded(on_event)
        writer = configured_generator(runtime, generator, generator_model, allow_remote)
        chunker = self._chunker()
        for m in memories:
            yield teach_memory(self.catalog, m, runtime, chunker=chunker, generator=writer,
                               settings=settings, on_progress=on_event,
                               on_wait=None if on_event is None
                               else partial(on_event, Waiting(m.name)))

    def watch(self, on_state: Callable[[TeachState], None], memory: str | None = None, *,
              folders: bool = True, idle: bool = False,
              on_event: OnEvent | None = None) -> Teacher:
        """Teach in the background from now on: `memory`'s folders (default: every memory's)
        watched and taught again after each change, on the teacher's thread; what changed
        while nothing watched is taken in first. `folders=False`: teach on request only.
        `idle`: start with nothing to watch yet (a window, where folders come later); else
        that is an error. Each state goes to `on_state`, on the teacher's thread; `close()`
        stops it."""
        only = None
        if not idle:
            only = {m.id for m in self.selected(memory)}
            if not any(self.catalog.sources.folders(i) for i in only):
                raise MemoError("no folders to watch: add one with `memo add PATH`")
            if memory is None:
                only = None  # every memory, also those added while it watches
        runtime = self._loaded(on_event)
        self.teacher = Teacher(runtime, on_state, catalog_path=self.catalog.path, watch=folders,
                               only=only)
        self.teacher.watch_folders()
        self.teacher.request_all()
        return self.teacher

    # --- chats ----------------------------------------------------------------------------

    def chats(self) -> list[Chat]:
        """Newest first."""
        return self.catalog.chats.all()

    def chat(self, chat_id: int) -> Chat | None:
        return self.catalog.chats.get(chat_id)

    def messages(self, chat_id: int) -> list[ChatMessage]:
        return self.catalog.chats.messages(chat_id)

    def save_question(self, chat_id: int | None, question: str) -> int:
        """Keep a question in its chat (None: a new chat, titled by it); the chat's id."""
        with self.catalog.atomic():
            if chat_id is None:
                chat_id = self.catalog.chats.create().id
            self.catalog.chats.add_message(chat_id, "user", question)
        return chat_id

    def save_answer(self, chat_id: int, answer: Answer, streamed: str = "") -> None:
        """Keep a reply in its chat (`streamed`: what was shown of it, kept when it was
        stopped before it had an answer)."""
        data = answer.to_json()
        self.catalog.chats.add_message(chat_id, "assistant", answer.answer or streamed,
                                 mode=answer.mode,
                                 memories=answer.memories, trace=data["trace"],
                                 sources=answer.sources, quotes=data["quotes"],
                                 executive=answer.executive)

    def rename_chat(self, chat_id: int, title: str) -> Chat:
        return self.catalog.chats.rename(chat_id, title)

    def delete_chat(self, chat_id: int) -> None:
        self.catalog.chats.delete(chat_id)


# The surface: the Engine, what it says (events, reports, views), and the few rules and
# names a face needs to show them. The app and the CLI import these from here, and nothing
# else of the engine but `settings` and `errors` (tests/test_dependencies.py holds them to it).
__all__ = [
    "LOCAL", "MODES", "NOT_LOADED", "STRATEGIES", "Answer", "Chat", "ChatMessage",
    "CheckProgress", "Consulting", "Endpoint", "EndpointError", "Engine", "Event", "LeftOut",
    "Loading", "Memory", "MemoryView", "ModelError", "Removed", "ScanProgress", "ScanReport",
    "SynthesisProgress", "TeachProgress", "TeachReport", "TeachState", "Unusable", "Waiting",
    "check_question", "check_url", "is_hub_id", "learned", "remote_allowed", "resolve_source",
    "says_unknown", "shown_state", "weak_documents",
]
