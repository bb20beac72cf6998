"""The window, offscreen: a question streams an answer from the real engine on a tiny model."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt

from app.engine import EngineBridge
from app.main import MainWindow


@pytest.fixture
def window(qtbot, tiny_q8):
    engine = EngineBridge(str(tiny_q8.path))
    with qtbot.waitSignal(engine.loaded, timeout=60_000):
        win = MainWindow(engine)
        qtbot.addWidget(win)
        win.show()
    yield win
    win.close()


def test_question_streams_an_answer(qtbot, window):
    chat = window.chat
    # The label is set by a queued slot that may run just after waitSignal returned.
    qtbot.waitUntil(lambda: "tiny-test-model" in window.model_label.text(), timeout=5_000)
    assert chat.input.isEnabled()
    qtbot.keyClicks(chat.input, "the hat")
    with qtbot.waitSignal(window.engine.finished, timeout=60_000) as done:
        qtbot.keyClick(chat.input, Qt.Key.Key_Return)
        assert chat.send.text() == "Stop"
    reply = done.args[0]
    assert reply.generation_tokens > 1
    transcript = chat.transcript.toPlainText()
    assert "the hat" in transcript and reply.text.strip() in transcript
    assert chat.send.text() == "Send"
    assert [m["role"] for m in chat.messages] == ["user", "assistant"]


def test_stop_cancels_the_answer(qtbot, window):
    chat = window.chat
    gate = threading.Event()
    window.engine.runtime.submit(lambda _base: gate.wait(30))  # hold the engine thread
    qtbot.keyClicks(chat.input, "the hat")
    with qtbot.waitSignal(window.engine.finished, timeout=60_000) as done:
        chat.send.click()  # queued behind the gate
        assert chat.send.text() == "Stop"
        chat.send.click()  # Stop, before the first token
        gate.set()
    reply = done.args[0]
    assert reply.finish_reason == "cancelled" and reply.generation_tokens == 1
    assert "(stopped)" in chat.transcript.toPlainText()


def test_load_failure_is_shown(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda _p, _t, text: shown.append(text))
    engine = EngineBridge(str(tmp_path / "none.gguf"))
    win = MainWindow(engine)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: bool(shown), timeout=60_000)
    assert "none.gguf: no such model file" in shown[0]
    assert not win.chat.input.isEnabled()
    win.close()
