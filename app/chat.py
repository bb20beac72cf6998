"""The chat pane: a transcript that streams answers token by token, an input, Send/Stop."""

from __future__ import annotations

import html

from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.engine import EngineBridge
from memo_mlx.runtime import Message, Reply


class ChatPane(QWidget):
    def __init__(self, engine: EngineBridge, parent: QWidget | None = None):
        super().__init__(parent)
        self.engine = engine
        self.messages: list[Message] = []
        self._answer: list[str] = []

        self.transcript = QTextBrowser()
        self.transcript.setOpenExternalLinks(False)
        self.input = QLineEdit(placeholderText="Ask anything…")
        self.input.setEnabled(False)  # until the model has loaded
        self.send = QPushButton("Send")
        self.send.setEnabled(False)

        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        row.addWidget(self.send)
        layout = QVBoxLayout(self)
        layout.addWidget(self.transcript, 1)
        layout.addLayout(row)

        self.input.returnPressed.connect(self._send_or_stop)
        self.send.clicked.connect(self._send_or_stop)
        engine.loaded.connect(self._ready)
        engine.text.connect(self._stream)
        engine.finished.connect(self._finished)
        engine.failed.connect(self._failed)

    def _ready(self) -> None:
        self.input.setEnabled(True)
        self.send.setEnabled(True)
        self.input.setFocus()

    def _send_or_stop(self) -> None:
        if self.engine.busy:
            self.engine.stop()
            return
        question = self.input.text().strip()
        if not question:
            return
        self.input.clear()
        self.messages.append({"role": "user", "content": question})
        self._append(f"<p><b>You</b><br>{html.escape(question)}</p><p><b>MeMo</b><br>")
        self._answer = []
        self.send.setText("Stop")
        self.engine.ask(list(self.messages))

    def _stream(self, piece: str) -> None:
        self._answer.append(piece)
        cursor = self.transcript.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(piece)
        self.transcript.ensureCursorVisible()

    def _finished(self, reply: Reply) -> None:
        self.messages.append({"role": "assistant", "content": reply.text})
        if reply.finish_reason == "cancelled":
            self._append("<br><i>(stopped)</i>")
        self._append("</p>")
        self.send.setText("Send")

    def _failed(self, message: str) -> None:
        self.messages.pop()
        self._append(f"<p style='color:#c0392b'>{html.escape(message)}</p>")
        self.send.setText("Send")

    def _append(self, fragment: str) -> None:
        cursor = self.transcript.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertHtml(fragment)
        self.transcript.ensureCursorVisible()
