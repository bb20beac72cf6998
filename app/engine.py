"""The bridge between the engine's runtime and Qt: engine callbacks become queued signals.

The runtime already owns the one engine thread (MLX streams are thread-local), so no QThread
is needed: signals emitted on the engine thread are delivered on the GUI thread because the
bridge lives there. Nothing here touches a widget.
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
        self._runtime: ModelRuntime | None = None
        self._cancel: threading.Event | None = None

    def start(self) -> None:
        """Start loading the model; call it once every signal is connected."""
        self._runtime = ModelRuntime(self._spec)
        self._runtime.loaded.add_done_callback(self._on_loaded)

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
        assert self._runtime is not None, "start() first"
        self._cancel = threading.Event()
        future = self._runtime.generate(messages, on_text=self.text.emit, cancel=self._cancel)
        future.add_done_callback(self._on_done)

    def stop(self) -> None:
        if self._cancel is not None:
            self._cancel.set()

    def _on_done(self, fut: Future[Reply]) -> None:
        self._cancel = None
        if fut.cancelled():
            return
        if (error := fut.exception()) is not None:
            self.failed.emit(str(error))
        else:
            self.finished.emit(fut.result())

    def close(self) -> None:
        self.stop()
        if self._runtime is not None:
            self._runtime.close()
