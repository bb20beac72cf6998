"""The bridge between the engine and Qt: engine calls run off the GUI thread, and what they
say comes back as queued signals.

The window never touches the catalog: every read and write goes to the desk, one thread that
owns the `Engine` and works its calls in the order they were made, so a write is always seen
by the reads after it. What the window shows of the memories and chats is the desk's latest
answer (`views`, `chats`), delivered with `memories_changed` and `chats_changed`. Answers
stream from the engine's own threads (the runtime's, recall's); the teacher reports from its
own. Signals emitted there reach the GUI thread because the bridge lives there: connect
methods of QObjects (a plain function connected runs on the emitting thread). Nothing here
touches a widget, and nothing here blocks but `close`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

from memo_mlx.engine import NOT_LOADED, Answer, Chat, Engine, Memory, MemoryView, TeachState
from memo_mlx.errors import MemoError, UsageError

log = logging.getLogger(__name__)
T = TypeVar("T")


class EngineBridge(QObject):
    loaded = Signal(str)  # a one-line description of the model
    executive_changed = Signal(str, bool)  # who answers, one line; whether it is elsewhere
    load_failed = Signal(str)
    text = Signal(str)  # a streamed piece of the answer
    answered = Signal(object)  # Answer
    failed = Signal(str)
    teach_state = Signal(object)  # TeachState
    memories_changed = Signal(object)  # list[MemoryView]: every memory, as now
    chats_changed = Signal(object)  # list[Chat], newest first
    chat_saved = Signal(int)  # the chat a question was kept in (a new chat: its new id)
    problem = Signal(str)  # something the window asked for could not be done: why, in a line
    _deliver = Signal(object, object)  # (callback, Future): a desk result, for the GUI thread

    def __init__(self, spec: str | None = None, parent: QObject | None = None, *,
                 watch: bool = True):
        super().__init__(parent)
        self._watch = watch
        self._desk = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memo-desk")
        self._engine: Future[Engine] = self._desk.submit(Engine, model=spec)
        self.views: list[MemoryView] = []  # the desk's latest
        self.chats: list[Chat] = []
        self.live: dict[int, TeachState] = {}  # the latest teaching state of each memory
        self.ready = False  # the model has loaded and the teacher runs
        self._cancel: threading.Event | None = None  # set while an answer is under way
        self.closed = False  # views check it: signals queued before close still arrive
        # Queued to the GUI thread, and connected first: busy ends there, before any view
        # sees the answer finish.
        self.answered.connect(self._idle)
        self.failed.connect(self._idle)
        self.loaded.connect(self._ready)
        self.teach_state.connect(self._keep_state)
        self._deliver.connect(self._delivered)

    # --- the desk ---------------------------------------------------------------------------

    def call(self, job: Callable[[Engine], T], then: Callable[[T], None] | None = None,
             failed: Callable[[str], object] | None = None) -> None:
        """Run `job(engine)` on the desk; then `then(result)` on the GUI thread, or when it
        raised, `failed(why)` (default: the `problem` signal)."""
        if self.closed:
            return

        def run() -> T:
            return job(self._engine.result())

        future = self._desk.submit(run)
        future.add_done_callback(lambda f: self._deliver.emit((then, failed), f))

    def _delivered(self, callbacks: tuple[Any, Any], future: Future[Any]) -> None:
        if self.closed:
            return
        then, failed = callbacks
        error = future.exception()
        if error is None:
            if then is not None:
                then(future.result())
            return
        if not isinstance(error, MemoError):
            log.error("the desk failed", exc_info=error)
        (failed or self.problem.emit)(str(error) or type(error).__name__)

    def refresh(self) -> None:
        """Read the memories and the chats again; `memories_changed` and `chats_changed`."""
        self.call(lambda e: (e.views(), e.chats()), self._refreshed)

    def _refreshed(self, read: tuple[list[MemoryView], list[Chat]]) -> None:
        self.views, chats = read
        self.memories_changed.emit(self.views)
        if chats != self.chats:
            self.chats = chats
            self.chats_changed.emit(chats)

    # --- the model --------------------------------------------------------------------------

    def start(self) -> None:
        """Start loading the model; call it once every signal is connected."""
        self.refresh()
        self.call(lambda e: e.load().add_done_callback(self._on_loaded),
                  failed=self.load_failed.emit)

    def _on_loaded(self, fut: Future) -> None:  # on the runtime's thread
        if fut.cancelled():
            return
        if (error := fut.exception()) is not None:
            self.load_failed.emit(str(error))
            return
        base = fut.result()

        def begin(engine: Engine) -> None:
            self._choose_executive(engine)
            # What changed while MeMo was closed; an unfinished teach resumed.
            engine.watch(self.teach_state.emit, folders=self._watch, idle=True)
            self.loaded.emit(f"{base.source.name} · {base.backend} · {base.compute}")

        self.call(begin, failed=self.load_failed.emit)

    def use_executive(self) -> None:
        """The executive the settings name from the next question on: a chat server, or this
        computer's model (also when the settings name a server MeMo may not use: said in
        `executive_changed`)."""
        if self.ready:
            self.call(self._choose_executive)

    def _choose_executive(self, engine: Engine) -> None:  # on the desk
        try:
            executive, why = engine.use_executive(), ""
        except UsageError as e:
            executive, why = None, str(e)
        if why:
            self.executive_changed.emit(f"Answers by this computer's model: {why}", False)
        elif executive is None:
            self.executive_changed.emit("", False)
        else:
            self.executive_changed.emit(f"Answers by {executive.name}", executive.remote)

    def _ready(self) -> None:
        self.ready = True
        self.refresh()  # which memories can be consulted, now that the base is known

    # --- answering --------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._cancel is not None

    def ask(self, chat_id: int | None, question: str, memories: list[Memory],
            history: list[dict[str, str]] | None = None) -> None:
        """Answer `question` with `memories` (none: the base model alone), streaming `text`,
        then `answered` or `failed`. The question and its reply are kept in chat `chat_id`
        (None: a new chat, said with `chat_saved`). `history`: the chat so far."""
        assert self.ready, "not loaded yet"
        cancel = self._cancel = threading.Event()
        streamed: list[str] = []

        def on_text(piece: str) -> None:
            streamed.append(piece)
            self.text.emit(piece)

        def job(engine: Engine) -> None:
            try:
                chat = engine.save_question(chat_id, question)
                self.chat_saved.emit(chat)
                future = engine.submit(question, memories, history=history or [],
                                       on_text=on_text, cancel=cancel)
            except Exception as e:
                self.failed.emit(str(e) or type(e).__name__)
                return

            def done(fut: Future[Answer]) -> None:  # on recall's thread
                if (error := fut.exception()) is not None:
                    self.failed.emit(str(error) or type(error).__name__)
                    return
                answer = fut.result()
                self.call(lambda e: e.save_answer(chat, answer, "".join(streamed)))
                self.answered.emit(answer)

            future.add_done_callback(done)

        self.call(job)

    def stop(self) -> None:
        if self._cancel is not None:
            self._cancel.set()

    def _idle(self, *_args: object) -> None:
        self._cancel = None

    # --- memories ---------------------------------------------------------------------------

    def _keep_state(self, state: TeachState) -> None:
        if state.phase in ("done", "removed"):
            self.live.pop(state.memory_id, None)
        else:
            self.live[state.memory_id] = state

    def add(self, paths: list[Path], memory: Memory | None = None,
            then: Callable[[Memory], None] | None = None,
            failed: Callable[[str], object] | None = None) -> None:
        """Teach `memory` (or a new one named for the first folder) from `paths`."""
        self.call(lambda e: e.add(paths, memory.name if memory else None, scan=False)[0],
                  then, failed)
        self.refresh()

    def tell_teacher(self, action: str, memory: Memory) -> None:
        """Ask the teacher to "request" (teach now), "pause", "resume", "retrain" or
        "remove" the memory."""

        def job(engine: Engine) -> None:
            assert engine.teacher is not None, "not loaded yet"
            getattr(engine.teacher, action)(memory.id)

        self.call(job)
        self.refresh()

    def memories(self) -> list[Memory]:
        return [v.memory for v in self.views]

    def view(self, memory_id: int) -> MemoryView | None:
        return next((v for v in self.views if v.memory.id == memory_id), None)

    def unusable(self, memory: Memory) -> str:
        """Why the memory cannot be consulted now, in the window's words; "" when it can
        (taught, on the loaded base model, its adapter as it was saved)."""
        view = self.view(memory.id)
        why = NOT_LOADED if view is None or not self.ready else view.unusable
        if why is None:
            return ""
        name = f"'{memory.name}'"  # whole: a tooltip has room for a name's 100 characters
        if why.reason == NOT_LOADED.reason:
            return "The model is still loading"
        if why.reason == "untaught":
            return (f"{name} has not learned anything yet: it can be switched on once its "
                    "first teach is done")
        if why.reason == "damaged":
            return (f"{name} is damaged ({why.detail}): choose Re-teach from Scratch in its … "
                    "menu")
        return (f"{name} was taught on another base model: it is taught again on this one at "
                "its next teach (Teach Now in its … menu)")

    def close(self) -> None:
        """Stop answering and teaching; a teach under way leaves a checkpoint to resume."""
        if self.closed:
            return
        self.closed = True
        self.blockSignals(True)
        self.stop()

        def close() -> None:
            if self._engine.exception() is None:
                self._engine.result().close()

        self._desk.submit(close)
        self._desk.shutdown(wait=True)
