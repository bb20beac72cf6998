"""The bridge between the engine's runtime and Qt: engine callbacks become queued signals.

The runtime already owns the one engine thread (MLX streams are thread-local), so no QThread
is needed: signals emitted on the engine thread are delivered on the GUI thread because the
bridge lives there. (A plain function connected to these signals runs on the engine thread;
connect methods of QObjects.) Nothing here touches a widget.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future

from PySide6.QtCore import QObject, Signal

from memo_mlx.runtime import Message, ModelRuntime, Reply


class EngineBridge(QObject):
    loaded = Signal(str)  # a one-line description of the model
    load_failed = Signal(str)
    text = Signal(str)  # a streamed piece of the answer
    finished = Signal(object)  # Reply
    failed = Signal(str)

    def __init__(self, spec: str | None = None, parent: QObject | None = None):
        super().__init__(parent)
        self._spec = spec
        self.runtime: ModelRuntime | None = None
        self._cancel: threading.Event | None = None  # set while an answer is under way
        # Queued to the GUI thread, and connected first: busy ends there, before any view
        # sees the answer finish.
        self.finished.connect(self._idle)
        self.failed.connect(self._idle)

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
        base = fut.result()
        self.loaded.emit(f"{base.source.name} · {base.backend} · {base.compute}")

    @property
    def busy(self) -> bool:
        return self._cancel is not None

    def ask(self, messages: list[Message]) -> None:
        assert self.runtime is not None, "start() first"
        self._cancel = threading.Event()
        future = self.runtime.generate(messages, on_text=self.text.emit, cancel=self._cancel)
        future.add_done_callback(self._on_done)

    def stop(self) -> None:
        if self._cancel is not None:
            self._cancel.set()

    def _idle(self, *_args: object) -> None:
        self._cancel = None

    def _on_done(self, fut: Future[Reply]) -> None:
        if fut.cancelled():
            return
        if (error := fut.exception()) is not None:
            self.failed.emit(str(error))
        else:
            self.finished.emit(fut.result())

    def close(self) -> None:
        self.stop()
        if self.runtime is not None:
            self.runtime.close()
