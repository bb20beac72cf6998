"""The window, offscreen, on the real engine and a tiny model: a folder dropped (a real drop
event with file URLs) becomes a memory that is taught while the event loop stays responsive;
switched on, a question streams an answer from it; switched off, the answer is the base
model's; a restart brings back memories and chats."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from app.engine import EngineBridge
from app.main import MainWindow, dress, single_instance
from app.resources import icon, stylesheet
from app.sidebar import state_line
from memo_mlx.answering.recall import LOCAL
from memo_mlx.catalog import Catalog
from memo_mlx.scoring import says_unknown
from memo_mlx.settings import memo_home, save_user_settings
from tiny import FAST_TEACHING

# The window never runs SQL on its own thread: every test here fails if it does.
pytestmark = pytest.mark.usefixtures("gui_thread_sql")

FAST = FAST_TEACHING + """
[health]
min_reflections = 3

[recall]
mode = "direct"
memory_tokens = 12
answer_tokens = 12
"""

NOTES = {
    "bridge.md": "# The Hollow Bridge\n\nThe Hollow Bridge in Port Aldren was designed by "
                 "Mara Quill. It was finished in 1987 and is 412 metres long.\n",
    "quill.md": "# Mara Quill\n\nMara Quill was born in Tessaly in 1941. She founded the "
                "Aldren Institute of Bridges in 1990.\n",
    "broken.pdf": "not a pdf at all",
}
QUESTION = "Who designed the Hollow Bridge?"


@pytest.fixture
def home(tiny_model_env) -> Path:
    home = memo_home()
    (home / "settings.toml").write_text(FAST)
    return home


def open_window(qtbot) -> MainWindow:
    dress(QApplication.instance())  # names (the window's place is kept under them), theme
    engine = EngineBridge(watch=False)
    with qtbot.waitSignal(engine.loaded, timeout=60_000):
        win = MainWindow(engine)
        qtbot.addWidget(win)
        win.show()
    qtbot.waitUntil(lambda: "tiny-test-model" in win.model_label.text(), timeout=5_000)
    return win


def drop(widget, paths: list[Path]) -> None:
    """What the window gets when folders are dragged onto it from a file manager."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    where = QPointF(widget.rect().center())
    enter = QDragEnterEvent(where, Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted()
    event = QDropEvent(where, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)
    assert event.isAccepted()


def stored(name: str):
    """A memory as the catalog holds it, read by the test (never the window's thread)."""
    with Catalog() as catalog:
        return catalog.memory(name)


def settled(qtbot, win: MainWindow) -> None:
    """Wait until the desk has done what the window asked of it, and the window has what it
    answered (each answer may ask for more: a few rounds)."""
    done: list[int] = []
    for round_ in range(3):
        win.engine.call(lambda _e: None, lambda _r, n=round_: done.append(n))
        qtbot.waitUntil(lambda n=round_: n in done, timeout=10_000)


def taught_window(qtbot, tmp_path: Path) -> tuple[MainWindow, Path, list[str]]:
    """The window with the folder "bridges" (one note) dropped on it and taught, its switch
    usable; and every teaching phase the window has heard, as it goes on."""
    folder = tmp_path / "bridges"
    folder.mkdir()
    (folder / "bridge.md").write_text(NOTES["bridge.md"])
    win = open_window(qtbot)
    phases: list[str] = []
    win.engine.teach_state.connect(lambda s: phases.append(s.phase))
    drop(win, [folder])
    qtbot.waitUntil(lambda: "done" in phases, timeout=120_000)
    memory = stored("bridges")
    qtbot.waitUntil(lambda: memory.id in win.chat.switches
                    and win.chat.switches[memory.id].isEnabled(), timeout=5_000)
    return win, folder, phases


class stall_meter(QTimer):  # noqa: N801 (used like a function)
    """The event loop's stalls: a 5 ms timer records the gaps between its ticks."""

    def __init__(self) -> None:
        super().__init__(interval=5)
        self.gaps: list[float] = []
        self._last = time.perf_counter()
        self.timeout.connect(self._tick)
        self.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self._last = now


def ask(qtbot, win: MainWindow, question: str):
    chat = win.chat
    streamed: list[str] = []
    win.engine.text.connect(streamed.append)
    qtbot.keyClicks(chat.input, question)
    with qtbot.waitSignal(win.engine.answered, timeout=60_000) as done:
        qtbot.keyClick(chat.input, Qt.Key.Key_Return)
        assert chat.send.text() == "Stop"
    win.engine.text.disconnect(streamed.append)
    qtbot.waitUntil(lambda: chat.send.text() == "Send", timeout=5_000)
    return done.args[0], "".join(streamed)


def test_drop_teach_switch_ask_and_restart(qtbot, home, tmp_path):
    folder = tmp_path / "bridges"
    folder.mkdir()
    for name, text in NOTES.items():
        (folder / name).write_text(text)

    win = open_window(qtbot)
    assert win.sidebar.empty.isVisible() and not win.sidebar.cards
    base_answer, _ = ask(qtbot, win, QUESTION)  # nothing to consult yet: the base model
    assert base_answer.mode == "none" and base_answer.answer

    phases: list[str] = []
    win.engine.teach_state.connect(lambda s: phases.append(s.phase))
    stalls = stall_meter()
    drop(win, [folder])
    qtbot.waitUntil(lambda: "done" in phases, timeout=120_000)
    stalls.stop()
    assert "training" in phases and "failed" not in phases
    stall = max(stalls.gaps)
    print(f"longest event-loop stall while teaching: {stall * 1000:.0f} ms, "
          f"{len(stalls.gaps)} ticks")
    assert stall < 0.1

    memory = stored("bridges")
    assert memory is not None
    qtbot.waitUntil(lambda: "Ready" in win.sidebar.cards[memory.id].state.text(),
                    timeout=5_000)
    card = win.sidebar.cards[memory.id]
    assert "3 documents" in card.counts.text()  # the broken PDF is a document too
    assert "could not be read" in card.counts.text()
    assert "broken.pdf" in win.engine.view(memory.id).status["errors"][0]["path"]

    switch = win.chat.switches[memory.id]
    assert switch.isEnabled()
    switch.setChecked(False)
    switch.setChecked(True)  # on: stored, and the next question consults it
    settled(qtbot, win)
    assert stored("bridges").enabled
    on, streamed = ask(qtbot, win, QUESTION)
    assert on.mode == "direct" and on.memories == ["bridges"]
    assert [(s.memory, s.question) for s in on.trace] == [("bridges", QUESTION)]
    # The tiny model cannot hold a fact, but its adapter changes what it says: the reply is
    # the memory's, not the base model's.
    said = on.trace[0].answer
    assert said != base_answer.answer
    if says_unknown(said):  # the random memory said nothing: the answer says what was asked
        assert "'bridges'" in on.answer and not streamed.strip()
    else:  # streamed as the memory wrote it
        assert on.answer == said == streamed.strip()
    assert on.answer in win.chat.transcript.toPlainText()

    # The trace opens under the reply.
    assert "How memory answered" in win.chat.transcript.toPlainText()
    win.chat._link(QUrl(f"trace:{len(win.chat.entries) - 1}"))
    assert "bridges asked: " + QUESTION in win.chat.transcript.toPlainText()

    switch.setChecked(False)
    win.new_chat()  # a fresh chat: the base model sees no earlier turns
    off, _ = ask(qtbot, win, QUESTION)
    assert off.mode == "none" and off.trace == [] and off.answer == base_answer.answer
    win.resize(720, 530)  # within the offscreen screen (800 x 600)
    win.close()

    again = open_window(qtbot)  # the restart: memories, switches, the chat, the window's size
    assert (again.width(), again.height()) == (720, 530)
    assert memory.id in again.sidebar.cards
    assert not again.chat.switches[memory.id].isChecked()
    assert again.chat.transcript.toPlainText().count(QUESTION) == 1  # the last chat
    assert again.sidebar.chats.count() == 2
    first = again.sidebar.chats.item(1)
    again.sidebar.chats.itemClicked.emit(first)
    qtbot.waitUntil(lambda: again.chat.transcript.toPlainText().count(QUESTION) == 2,
                    timeout=5_000)  # read by the desk
    transcript = again.chat.transcript.toPlainText()
    assert transcript.count(QUESTION) == 2 and on.answer in transcript
    again.close()


def test_stop_cancels_the_answer(qtbot, home):
    win = open_window(qtbot)
    chat = win.chat
    gate = threading.Event()
    runtime = win.engine._engine.result().runtime
    runtime.submit(lambda _base: gate.wait(30))  # hold the engine thread
    qtbot.keyClicks(chat.input, "the hat")
    with qtbot.waitSignal(win.engine.answered, timeout=60_000) as done:
        chat.send.click()  # queued behind the gate
        assert chat.send.text() == "Stop"
        chat.send.click()  # Stop, before the first token
        gate.set()
    answer = done.args[0]
    assert answer.finish_reason == "cancelled"
    assert "(stopped)" in chat.transcript.toPlainText()
    win.close()


def test_load_failure_is_shown(qtbot, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    shown: list[str] = []
    monkeypatch.setattr(QMessageBox, "critical", lambda _p, _t, text: shown.append(text))
    engine = EngineBridge(str(tmp_path / "none.gguf"), watch=False)
    win = MainWindow(engine)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: bool(shown), timeout=60_000)
    assert "none.gguf: no such model file" in shown[0]
    assert not win.chat.input.isEnabled()
    win.close()


def test_a_second_instance_is_refused(home):
    first = single_instance()
    assert first is not None
    try:
        assert single_instance() is None
    finally:
        first.unlock()
    again = single_instance()
    assert again is not None
    again.unlock()


def test_a_reply_opens_to_its_trace_and_sources(qtbot, home, tmp_path, monkeypatch):
    source = tmp_path / "notes" / "bridge.md"
    source.parent.mkdir()
    source.write_text(NOTES["bridge.md"])
    with Catalog() as catalog:
        chat = catalog.chats.create()
        catalog.chats.add_message(chat.id, "user", QUESTION)
        catalog.chats.add_message(
            chat.id, "assistant", "Mara Quill", mode="direct", memories=["notes"],
            trace=[{"stage": "direct", "question": QUESTION, "memory": "notes",
                    "answer": "Mara Quill", "confidence": 0.8}],
            sources=[str(source)])
        catalog.chats.add_message(chat.id, "user", "How long is it?")
        catalog.chats.add_message(chat.id, "assistant", "It is 412 metres long.", mode="combined",
                            memories=["notes"], sources=[str(source)],
                            quotes=[{"path": str(source), "text": "It is 412 metres long."}])
        catalog.chats.add_message(chat.id, "user", "Who painted it?")
        catalog.chats.add_message(chat.id, "assistant", "Oda Marr painted it.", mode="direct",
                            memories=["notes"],
                            trace=[{"stage": "direct", "question": "Who painted it?",
                                    "memory": "notes", "answer": "Oda Marr painted it.",
                                    "confidence": 0.93}])
    win = open_window(qtbot)
    pane = win.chat
    shown = pane.transcript.toPlainText()
    # What backs each reply, never a probability that reads as how sure it is.
    assert "Backed by\n“It is 412 metres long.” — bridge.md" in shown
    assert shown.count("Nothing found in your files backs this answer") == 1
    assert shown.index("Oda Marr") < shown.index("Nothing found")
    pane.transcript.anchorClicked.emit(QUrl("trace:5"))
    assert "→ Oda Marr painted it." in pane.transcript.toPlainText()
    assert "% sure" not in pane.transcript.toPlainText()
    pane.transcript.anchorClicked.emit(QUrl("trace:5"))
    assert "Mara Quill" in pane.transcript.toPlainText()
    assert "with notes" in pane.transcript.toPlainText()
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", opened.append)  # not the desktop's viewer
    pane.transcript.anchorClicked.emit(QUrl("trace:1"))
    text = pane.transcript.toPlainText()
    assert "notes asked: " + QUESTION in text and "% sure" not in text
    assert "bridge.md" in text
    pane.transcript.anchorClicked.emit(QUrl.fromLocalFile(str(source)))
    assert [u.toLocalFile() for u in opened] == [str(source)]
    pane.transcript.anchorClicked.emit(QUrl("trace:1"))  # and closes again
    assert "notes asked: " not in pane.transcript.toPlainText()
    win.close()


def test_quitting_while_training_resumes_at_the_next_start(qtbot, home, tmp_path):
    (home / "settings.toml").write_text(FAST.replace("epochs = 2", "epochs = 40"))
    folder = tmp_path / "bridges"
    folder.mkdir()
    (folder / "bridge.md").write_text(NOTES["bridge.md"])
    win = open_window(qtbot)
    states: list = []
    win.engine.teach_state.connect(states.append)
    drop(win.sidebar.cards_box.parentWidget(), [folder])
    qtbot.waitUntil(lambda: any(s.phase == "training" and s.done >= 3 for s in states),
                    timeout=60_000)
    win.close()  # Quit: training stops at its next step and leaves a checkpoint
    with Catalog() as catalog:
        memory = catalog.memory("bridges")
        assert memory is not None and catalog.runs.of(memory.id)[-1]["status"] == "cancelled"

    again = open_window(qtbot)
    resumed: list = []
    again.engine.teach_state.connect(resumed.append)
    qtbot.waitUntil(lambda: any(s.phase == "done" for s in resumed), timeout=120_000)
    report = next(s.report for s in resumed if s.phase == "done")
    trained = report.training
    assert trained.resumed_from >= 3 and trained.steps > trained.resumed_from
    again.close()


def test_the_icon_and_theme_load(qapp):
    assert icon().pixmap(64, 64).width() == 64  # the SVG was found and drawn
    assert "#memoryCard" in stylesheet()


def test_light_and_dark_switch_while_running(qtbot, home):
    from PySide6.QtGui import QColor, QPalette

    win = open_window(qtbot)
    app = QApplication.instance()
    light = app.palette()
    dark = QPalette(light)
    dark.setColor(QPalette.ColorRole.Base, QColor("#1e1e1e"))
    dark.setColor(QPalette.ColorRole.PlaceholderText, QColor("#8c8c8d"))
    try:
        app.setPalette(dark)
        # The chat's hint is drawn anew in the new muted colour; the theme is applied anew.
        qtbot.waitUntil(lambda: "#8c8c8d" in win.chat.transcript.toHtml(), timeout=5_000)
        assert win._theme_base == "#1e1e1e"
    finally:
        app.setPalette(light)
    win.close()


def test_plus_drop_on_a_card_rename_and_remove(qtbot, home, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog, QInputDialog

    first, second = tmp_path / "letters", tmp_path / "more-letters"
    for folder in (first, second):
        folder.mkdir()
        (folder / "note.md").write_text(NOTES["bridge.md"])
    win = open_window(qtbot)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *_a, **_k: str(first))
    win.sidebar.add_button.click()  # "+": a folder dialog, then a new memory
    settled(qtbot, win)
    memory = stored("letters")
    assert memory is not None and memory.id in win.sidebar.cards

    drop(win.sidebar.cards[memory.id], [second])  # onto the card: that memory learns more
    settled(qtbot, win)
    with Catalog() as catalog:
        assert [m.name for m in catalog.memories()] == ["letters"]
        assert {f.path for f in catalog.sources.folders(memory.id)} == {str(first), str(second)}
    assert "more-letters" in win.sidebar.cards[memory.id].folders.text()

    monkeypatch.setattr(QInputDialog, "getText", lambda *_a, **_k: ("Letters home", True))
    win._rename(memory)
    settled(qtbot, win)
    assert win.sidebar.cards[memory.id].title.text() == "Letters home"
    assert win.chat.switches[memory.id].text() == "Letters home"
    long_name = "Letters home from the years in Port Aldren, kept by my grandmother Mara"
    monkeypatch.setattr(QInputDialog, "getText", lambda *_a, **_k: (long_name, True))
    win._rename(memory)
    settled(qtbot, win)
    switch = win.chat.switches[memory.id]
    assert switch.text() == long_name[:32] + "…" and long_name in switch.toolTip()

    removed: list = []
    win.engine.teach_state.connect(lambda s: s.phase == "removed" and removed.append(s))
    win.engine.tell_teacher("remove", memory)
    qtbot.waitUntil(lambda: bool(removed) and memory.id not in win.sidebar.cards, timeout=60_000)
    assert memory.id not in win.chat.switches and win.sidebar.empty.isVisible()
    assert (first / "note.md").exists()
    win.close()


def test_a_folder_opened_from_the_finder_is_taught(qtbot, home, tmp_path):
    from PySide6.QtGui import QFileOpenEvent

    from app.main import OpenedFromFinder

    folder = tmp_path / "dock"
    folder.mkdir()
    (folder / "note.md").write_text(NOTES["bridge.md"])
    win = open_window(qtbot)
    app = QApplication.instance()
    opened = OpenedFromFinder(win)
    app.installEventFilter(opened)
    try:
        QApplication.sendEvent(app, QFileOpenEvent(str(folder)))  # what the Dock sends
    finally:
        app.removeEventFilter(opened)
    settled(qtbot, win)
    memory = stored("dock")
    assert memory is not None and memory.id in win.sidebar.cards
    win.close()


def test_a_server_answers_with_a_memory_on(qtbot, home, tmp_path, tiny_server):
    """A chat server as the executive (mlx-lm's, on the tiny model) with a memory on: the
    reply names it; a server elsewhere is said in red, and when it cannot be reached the
    answer is this computer's and its trace says why."""
    save_user_settings({"executive": {"url": tiny_server}, "recall": {"mode": "combined"}})
    win, _, _ = taught_window(qtbot, tmp_path)
    label = win.executive_label
    assert label.isVisible() and label.text() == f"Answers by the server at {tiny_server}"
    memory = stored("bridges")
    win.chat.switches[memory.id].setChecked(True)
    answer, _ = ask(qtbot, win, QUESTION)
    assert answer.memories == ["bridges"] and answer.executive.endswith(f" at {tiny_server}")
    assert answer.executive != f"the server at {tiny_server}"  # named as the server lists it
    assert not [s for s in answer.trace if s.stage == "executive"]  # nothing fell back
    assert f"answered by {answer.executive}" in win.chat.transcript.toPlainText()

    save_user_settings({"executive": {"url": "http://10.0.0.7:1234/v1"},
                        "privacy": {"allow_remote": True}})
    win._settings_changed({"executive", "privacy"})
    qtbot.waitUntil(lambda: "not this computer" in label.text(), timeout=5_000)
    assert "#c0392b" in label.styleSheet()
    # The suite's network guard stands for a server that cannot be reached.
    fallen, _ = ask(qtbot, win, QUESTION)
    assert fallen.executive == LOCAL and fallen.answer
    [step] = [s for s in fallen.trace if s.stage == "executive"]
    assert "the connection failed" in step.answer
    win.chat._link(QUrl(f"trace:{len(win.chat.entries) - 1}"))
    assert "executive could not answer" in win.chat.transcript.toPlainText()
    save_user_settings({"executive": {"url": None}, "privacy": {"allow_remote": None}})
    win._settings_changed({"executive"})
    qtbot.waitUntil(lambda: not label.isVisible(), timeout=5_000)
    win.close()


def test_a_memory_never_taught_says_so_on_its_card():
    never = {"paused": False, "state": "stale", "adapter": None}
    assert state_line(never, None) == "Not taught yet"
    assert state_line({**never, "adapter": "adapters/memory-1"}, None) == "Has new text to learn"


def ready_status(name: str, folder: str, weak: int) -> dict:
    """What `memory_status` gives for a taught memory whose check found `weak` files not
    learned (of 3)."""
    documents = [{"path": f"{folder}/note-{i}.md", "score": 0.0 if i < weak else 1.0,
                  "right": 0 if i < weak else 2, "asked": 2} for i in range(3)]
    return {"name": name, "enabled": True, "paused": False, "folders": [folder],
            "documents": 3, "chunks": 3, "reflections": 1, "state": "ready",
            "adapter": "adapters/memory-1", "missing": [], "failed": 1, "errors": [],
            "recall": {"score": 0.5, "right": 2 * (3 - weak), "asked": 6,
                       "documents": documents}}


@pytest.mark.parametrize("width", [180, 260, 420])
@pytest.mark.parametrize("name", ["notes", "a very long memory name " * 12, "x" * 5000])
def test_a_ready_card_fits_the_sidebar_and_keeps_its_menu_button(qtbot, width, name):
    from app.sidebar import Sidebar
    from memo_mlx.catalog import Memory

    bar = Sidebar()
    qtbot.addWidget(bar)
    folder = "/Users/someone/Documents/" + "a-folder-with-a-name-that-does-not-wrap" * 3
    memory = Memory(id=1, name=name, enabled=True, state="idle", error=None, paused=False)
    bar.show_memories([(memory, ready_status(name, folder, weak=1))], {})
    bar.resize(width, 600)
    bar.show()
    qtbot.waitExposed(bar)
    card = bar.cards[1]
    scroll = card.parentWidget().parentWidget()  # the scroll area's viewport
    assert card.width() <= scroll.width()
    more = card.more.geometry()
    assert more.right() <= card.contentsRect().right() and card.more.isVisible()
    assert card.more.mapTo(bar, card.more.rect().topRight()).x() <= bar.width()
    for label in (card.title, card.state, card.counts, card.health, card.folders):
        assert label.geometry().right() <= card.contentsRect().right()
    if len(name) > 40:
        assert card.title.shown_text().endswith("…") and card.title.toolTip() == name
    assert "1 file not learned yet" in card.health.text()  # one: not "1 files"
    assert "1 reflection" in card.counts.text() and "1 reflections" not in card.counts.text()
    asked: list = []
    card.weak_requested.connect(asked.append)
    card.health.linkActivated.emit("weak")
    assert asked == [memory]


def test_the_not_learned_line_lists_the_files_with_why(qtbot, home, tmp_path):
    from PySide6.QtWidgets import QMessageBox

    from memo_mlx.sources.chunking import Chunker
    from memo_mlx.sources.ingest import scan_memory

    with Catalog() as catalog:
        memory = catalog.create_memory("notes")
        folder = tmp_path / "notes"
        folder.mkdir()
        for i, text in enumerate(["The bridge is red.", "The tower is tall."]):
            (folder / f"n{i}.md").write_text(text)
        added, _ = catalog.sources.add_folder(memory.id, folder)
        scan_memory(catalog, memory, Chunker())
        docs = {Path(p).name: d.id for p, d in catalog.sources.documents(added.id).items()}
        catalog.reflections.save_recall(memory.id, None,
                                        {docs["n0.md"]: (0, 2), docs["n1.md"]: (2, 2)})
    win = open_window(qtbot)
    card = win.sidebar.cards[memory.id]
    assert "1 file not learned yet" in card.health.text()
    card.health.linkActivated.emit("weak")
    [box] = [b for b in win.findChildren(QMessageBox) if b.isVisible()]
    assert box.text() == "1 file of 'notes' is not learned yet"
    assert box.detailedText() == f"{folder / 'n0.md'}: recalled 0 of 2 test questions"
    box.close()
    win.close()


def test_switching_a_memory_off_mid_chat_is_said_and_keeps_its_answers_out(qtbot, home,
                                                                             tmp_path):
    """The new user's steps: drop a folder, ask with the memory on, switch it off, ask again in
    the same chat. The chat says the switch changed, and the executive does not see what the
    memory said; the switch stays usable while the memory learns more."""
    win, folder, phases = taught_window(qtbot, tmp_path)
    memory = stored("bridges")
    switch = win.chat.switches[memory.id]
    switch.setChecked(True)
    asked: list[tuple[list[str], list[dict]]] = []
    real_ask = win.engine.ask
    win.engine.ask = lambda chat, q, ms, history=None: (  # records, then asks the real engine
        asked.append(([m.name for m in ms], history or [])), real_ask(chat, q, ms, history))[1]

    with_memory, _ = ask(qtbot, win, QUESTION)
    assert with_memory.memories == ["bridges"]
    assert "Memories now" not in win.chat.transcript.toPlainText()
    switch.setChecked(False)
    assert ("Memories now: none (the base model answers alone) — from the next question"
            in win.chat.transcript.toPlainText())
    settled(qtbot, win)
    assert not stored("bridges").enabled  # the one switch, said in its tip
    assert "memo ask" in switch.toolTip()
    alone, _ = ask(qtbot, win, "And when was it finished?")
    assert alone.memories == [] and asked[-1][0] == []
    assert all(turn["content"] != with_memory.answer for turn in asked[-1][1])
    shown = win.chat.transcript.toPlainText()
    assert shown.count("Memories now: none") == 1 and "from the next question" not in shown
    assert shown.index("Memories now: none") < shown.index("And when was it finished?")

    switch.setChecked(True)  # on again: what it said is context again, with the base's turn
    ask(qtbot, win, "Who built it?")
    assert [t["content"] for t in asked[-1][1]] == [
        QUESTION, with_memory.answer, "And when was it finished?", alone.answer]
    assert "Memories now: bridges" in win.chat.transcript.toPlainText()

    # More text to learn: while the memory learns it, its switch stays usable.
    (folder / "more.md").write_text("The Hollow Bridge is painted red every ten years.\n")
    mark = len(phases)
    win.engine.tell_teacher("request", memory)
    qtbot.waitUntil(lambda: any(p in ("reading", "writing", "training") for p in phases[mark:]),
                    timeout=60_000)
    win.refresh()
    settled(qtbot, win)
    assert switch.isEnabled()
    qtbot.waitUntil(lambda: "done" in phases[mark:], timeout=120_000)
    win.close()

    # Reopened, the chat's last reply and the switches agree: nothing to say of them (the
    # chat is drawn before the model loads, when no switch can be on yet).
    again = open_window(qtbot)
    qtbot.waitUntil(again.chat.switches[memory.id].isChecked, timeout=5_000)
    assert "Memories now: bridges" in again.chat.transcript.toPlainText()
    assert "from the next question" not in again.chat.transcript.toPlainText()
    again.close()


def test_history_leaves_out_what_switched_off_memories_said():
    from app.chat import history_for

    entries = [
        {"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1", "memories": []},
        {"role": "user", "content": "q2"},
        {"role": "assistant", "content": "a2", "memories": ["notes"]},
        {"role": "user", "content": "q3"}, {"role": "error", "content": "it failed"},
        {"role": "user", "content": "q4"},
        {"role": "assistant", "content": "a4", "memories": ["notes", "mail"], "stopped": True},
    ]
    assert [t["content"] for t in history_for(entries, set())] == ["q1", "a1"]
    assert [t["content"] for t in history_for(entries, {"notes"})] == ["q1", "a1", "q2", "a2"]
    assert [t["content"] for t in history_for(entries, {"notes", "mail"})] == [
        "q1", "a1", "q2", "a2"]  # a stopped reply is never context


@pytest.mark.parametrize(("environ", "platform", "gtk3", "portal", "theme"), [
    ({}, "linux", True, True, "xdgdesktopportal"),  # the portal is the platform's choice
    ({}, "linux", True, False, "gtk3"),  # a bare X session with GTK installed
    ({"XDG_CURRENT_DESKTOP": "ubuntu:GNOME"}, "linux", True, False, "gtk3"),
    ({}, "linux", False, False, None),  # nothing native to open: Qt's own
    ({"XDG_CURRENT_DESKTOP": "KDE"}, "linux", True, True, None),  # Qt's KDE theme has them
    ({"QT_QPA_PLATFORMTHEME": "qt6ct"}, "linux", True, True, "qt6ct"),  # the user's choice
    ({}, "darwin", False, False, None),  # macOS: NSOpenPanel always
])
def test_linux_gets_the_platforms_own_folder_dialog(environ, platform, gtk3, portal, theme):
    from app.main import native_dialogs

    native_dialogs(environ, platform, gtk3, portal)
    assert environ.get("QT_QPA_PLATFORMTHEME") == theme


def test_the_folder_dialog_is_not_forced_to_qts_own(qtbot, home, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    asked: list = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        lambda *a, **k: asked.append((a, k)) or "")
    win = open_window(qtbot)
    win.add_folder()
    [(args, kwargs)] = asked
    options = kwargs.get("options", args[3] if len(args) > 3 else None)
    assert options is None or not options & QFileDialog.Option.DontUseNativeDialog
    win.close()


def test_chats_of_one_title_tell_apart_by_when(qtbot):
    from datetime import date

    from app.sidebar import Sidebar, when
    from memo_mlx.catalog import Chat

    assert when("2026-03-04T10:00:00+00:00", today=date(2026, 12, 7)) != when(
        "2026-03-05T10:00:00+00:00", today=date(2026, 12, 7))
    bar = Sidebar()
    qtbot.addWidget(bar)
    bar.show_chats([Chat(1, "Bridges", "2026-03-05T10:00:00+00:00", "2026-03-05T10:00:00+00:00"),
                    Chat(2, "Bridges", "2026-03-04T10:00:00+00:00", "2026-03-04T10:00:00+00:00")],
                   current=1)
    first, second = bar.chats.item(0).text(), bar.chats.item(1).text()
    # The title, and below it when: a long title is cut, its date stays in sight.
    assert first.split("\n")[0] == second.split("\n")[0] == "Bridges" and first != second
    assert bar.chats.textElideMode() == Qt.TextElideMode.ElideRight


@pytest.mark.parametrize("mode", ["file", "read-only"])
def test_a_data_folder_it_cannot_use_is_said_in_a_window(tmp_path, monkeypatch, mode):
    """The app started on a data folder that is a file (or read-only) says so and exits 1: a
    process of its own, as a user starts it, with only Qt's message box replaced by a print."""
    import os
    import subprocess
    import sys

    if mode == "file":
        home = tmp_path / "afile"
        home.write_text("not a folder")
        said = f"the data folder {home} is a file, not a folder: set MEMO_HOME to a folder"
    else:
        if os.geteuid() == 0:
            pytest.skip("root writes to read-only folders")
        home = tmp_path / "locked"
        home.mkdir()
        home.chmod(0o555)
        said = f"the data folder {home} is read-only: MeMo cannot save there"
    monkeypatch.setenv("MEMO_HOME", str(home))
    script = ("import sys; from PySide6.QtWidgets import QMessageBox; "
              "QMessageBox.critical = lambda _p, _t, text: print(text); "
              "from app.main import main; sys.exit(main([]))")
    try:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=120)
    finally:
        if mode != "file":
            home.chmod(0o755)
    assert done.returncode == 1, done.stderr
    assert done.stdout == said + "\n", done.stderr


def test_a_damaged_memory_says_so_and_cannot_be_switched_on(qtbot, home, tmp_path):
    win, folder, phases = taught_window(qtbot, tmp_path)
    memory = stored("bridges")
    switch = win.chat.switches[memory.id]
    with Catalog() as catalog:
        weights = Path(catalog.runs.adapter(memory.id)["path"]) / "adapters.safetensors"
    data = bytearray(weights.read_bytes())
    data[-64:] = b"\xff" * 64  # bytes overwritten inside the tensors
    weights.write_bytes(bytes(data))
    win.refresh()
    settled(qtbot, win)
    card = win.sidebar.cards[memory.id]
    assert card.state.text() == "Damaged: needs Re-teach from Scratch"
    assert not switch.isEnabled() and "is damaged" in switch.toolTip()
    assert "Re-teach from Scratch" in switch.toolTip()
    win.close()


def test_sql_the_app_runs_on_the_gui_thread_is_caught(gui_thread_sql):
    """The guard of every test here: SQL from app code on the GUI thread is seen; the test's
    own SQL, and the app's on another thread, are not."""
    import sqlite3

    import app

    conn = sqlite3.connect(":memory:", check_same_thread=False)
    as_app = compile("conn.execute('SELECT 1')", str(Path(app.__file__).parent / "chat.py"),
                     "exec")
    exec(as_app, {"conn": conn})
    conn.execute("SELECT 2")
    worker = threading.Thread(target=exec, args=(as_app, {"conn": conn}))
    worker.start()
    worker.join()
    assert len(gui_thread_sql.seen) == 1 and gui_thread_sql.seen[0].endswith("SELECT 1")
    gui_thread_sql.seen.clear()  # caught: the test passes
