"""The bridge between the engine and Qt: engine callbacks become queued signals.

The engine owns its threads: the runtime's one engine thread (MLX streams are thread-local),
recall's leader thread and the teacher's thread. Signals emitted there are delivered on the GUI
thread because the bridge lives there, so no QThread is needed. (A plain function connected to
these signals runs on the emitting thread; connect methods of QObjects.) Nothing here touches a
widget, and nothing here blocks: every model call returns a Future.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from memo_mlx.catalog import Catalog, Memory
from memo_mlx.endpoint import EndpointError, configured_executive
from memo_mlx.ingest import add_paths
from memo_mlx.recall import Answer, Recall, damage, usable_adapter
from memo_mlx.runtime import ModelRuntime
from memo_mlx.teacher import Teacher, TeachState


class EngineBridge(QObject):
    loaded = Signal(str)  # a one-line description of the model
    executive_changed = Signal(str, bool)  # who answers, one line; whether it is elsewhere
    load_failed = Signal(str)
    text = Signal(str)  # a streamed piece of the answer
    answered = Signal(object)  # Answer
    failed = Signal(str)
    teach_state = Signal(object)  # TeachState

    def __init__(self, spec: str | None = None, parent: QObject | None = None, *,
                 watch: bool = True):
        super().__init__(parent)
        self._spec = spec
        self._watch = watch
        self.catalog = Catalog()  # the GUI thread's own connection
        self.runtime: ModelRuntime | None = None
        self.recall: Recall | None = None
        self.teacher: Teacher | None = None
        self.live: dict[int, TeachState] = {}  # the latest teaching state of each memory
        self._cancel: threading.Event | None = None  # set while an answer is under way
        self.closed = False  # views check it: signals queued before close still arrive
        # Queued to the GUI thread, and connected first: busy ends there, before any view
        # sees the answer finish.
        self.answered.connect(self._idle)
        self.failed.connect(self._idle)
        self.teach_state.connect(self._keep_state)

    def start(self) -> None:
        """Start loading the model; call it once every signal is connected."""
        self.runtime = ModelRuntime(self._spec)
        self.runtime.loaded.add_done_callback(self._on_loaded)

    def _on_loaded(self, fut: Future) -> None:
        if fut.cancelled():
            return
        if (error := fut.exception()) is not None:
            self.load_failed.emit(str(error))
            return
        assert self.runtime is not None
        # Recall asks from its own thread: a catalog connection of its own.
        self.recall = Recall(Catalog(self.catalog.path), self.runtime)
        self.use_executive()
        self.teacher = Teacher(self.runtime, self.teach_state.emit,
                               catalog_path=self.catalog.path, watch=self._watch)
        self.teacher.watch_folders()
        self.teacher.request_all()  # what changed while MeMo was closed; an unfinished teach
        base = fut.result()
        self.loaded.emit(f"{base.source.name} · {base.backend} · {base.compute}")

    def use_executive(self) -> None:
        """The executive the settings name from the next question on: a chat server, or this
        computer's model (also when the settings name a server MeMo may not use: said in
        `executive_changed`)."""
        if self.recall is None or self.runtime is None:
            return  # chosen when the model has loaded
        try:
            executive, why = configured_executive(), ""
        except EndpointError as e:
            executive, why = None, str(e)
        # A new Recall rather than a changed one: an answer under way keeps its executive.
        self.recall = Recall(self.recall.catalog, self.runtime, executive=executive)
        if why:
            self.executive_changed.emit(f"Answers by this computer's model: {why}", False)
        elif executive is None:
            self.executive_changed.emit("", False)
        else:
            self.executive_changed.emit(f"Answers by {executive.name}", executive.remote)

    @property
    def ready(self) -> bool:
        return self.teacher is not None

    # --- answering --------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._cancel is not None

    def ask(self, question: str, memories: list[Memory],
            history: list[dict[str, str]] | None = None) -> None:
        """Answer `question` with `memories` (none: the base model alone), streaming `text`,
        then `answered` or `failed`. `history`: the chat so far."""
        assert self.recall is not None and self.teacher is not None, "not loaded yet"
        self._cancel = threading.Event()
        teacher = self.teacher
        teacher.begin_question()
        future = self.recall.submit(question, memories, on_text=self.text.emit,
                                    cancel=self._cancel, history=history or [])

        def done(fut: Future[Answer]) -> None:
            teacher.end_question()
            if (error := fut.exception()) is not None:
                self.failed.emit(str(error) or type(error).__name__)
            else:
                self.answered.emit(fut.result())

        future.add_done_callback(done)

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

    def add(self, paths: list[Path], memory: Memory | None = None) -> Memory:
        """Teach `memory` (or a new one named for the first folder) from `paths`."""
        added = add_paths(self.catalog, paths, memory.name if memory else None)
        if self.teacher is not None:
            self.teacher.watch_folders()
            self.teacher.request(added.id)
        return added

    def memories(self) -> list[Memory]:
        return self.catalog.memories()

    def unusable(self, memory: Memory) -> str:
        """Why the memory cannot be consulted now, in the window's words; "" when it can
        (taught, on the loaded base model, its adapter as it was saved)."""
        if self.runtime is None or not self.ready:
            return "The model is still loading"
        base = str(self.runtime.loaded.result().source.location)
        if usable_adapter(self.catalog, memory, base)[0] is not None:
            return ""
        name = f"'{memory.name}'"  # whole: a tooltip has room for a name's 100 characters
        if self.catalog.adapter(memory.id) is None:
            return (f"{name} has not learned anything yet: it can be switched on once its "
                    "first teach is done")
        if (why := damage(self.catalog, memory)) is not None:
            return f"{name} is damaged ({why}): choose Re-teach from Scratch in its … menu"
        return (f"{name} was taught on another base model: it is taught again on this one at "
                "its next teach (Teach Now in its … menu)")

    def close(self) -> None:
        """Stop answering and teaching; a teach under way leaves a checkpoint to resume."""
        self.closed = True
        self.blockSignals(True)
        self.stop()
        if self.teacher is not None:
            self.teacher.close()
        if self.runtime is not None:
            self.runtime.close()
        self.catalog.close()
