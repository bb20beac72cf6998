"""Screenshots of the real MeMo window, for the README and the docs.

Run under an X server (Xvfb), not Qt's offscreen platform, so the window is a real one:

    xvfb-run -a -s "-screen 0 1400x900x24" .venv/bin/python -m memo_mlx.blas \
        .venv/bin/python docs/screenshots.py [--out docs/screenshots] [--model SPEC]

(`make screenshots` does that.) It starts the app on a fresh, temporary data folder with the
real default model (or --model), drops a small fictional folder of notes on the window, and
saves, as the app goes: the first start, teaching, the ready memory, a question answered with
its trace, the same question with the memory switched off, the settings, the chat in dark mode,
the unreadable files and the files not learned yet. Each path written is
printed. A wait that runs out (10 minutes each) ends it with exit status 1, naming what it
waited for. Nothing is left behind: the temporary folders and the app's lock are removed.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
WAIT_S = 600.0  # the longest any one wait may take
WIDTH, HEIGHT = 1200, 760

# Settings for screenshots, not quality: teaching must be short on a CPU. Epochs fixed at 6
# (exposures = 0 turns off the data-driven epoch count) and questions asked of the memory
# directly, without the multi-step protocol. Every note is checked, short ones too (the
# default leaves out a file of fewer than 6 reflections), on 3 questions (default 2).
SETTINGS = """\
[teaching]
exposures = 0

[training]
epochs = 6

[recall]
mode = "direct"

[health]
min_reflections = 3
probes_per_document = 3
"""

# A fictional town, its bridge and the bridge's engineer; and a "PDF" that is not one, so the
# card shows a file that could not be read.
NOTES = {
    "lantern-bridge.md": (
        "# The Lantern Bridge\n\n"
        "The Lantern Bridge crosses the river Esk at Millbrook. It was designed by the "
        "engineer Ida Varro and opened in 1962. It is 240 metres long and has 31 iron "
        "lanterns along its railings.\n"),
    "ida-varro.md": (
        "# Ida Varro\n\n"
        "Ida Varro was an engineer born in Corran in 1921. She designed the Lantern Bridge at "
        "Millbrook and later taught at the Corran School of Building until 1980.\n"),
    "millbrook.md": (
        "# Millbrook\n\n"
        "Millbrook is a small town on the river Esk. Every October it holds the Festival of "
        "Lights, when all 31 lanterns of the Lantern Bridge are lit at once.\n"),
    # A page in another language, dense with names and numbers: what a small memory learns
    # least well, so the ready card shows a file not learned yet.
    "laternen.md": (
        "# Die Laternen\n\n"
        "Die 31 Laternen der Brücke wurden 1961 in der Gießerei Halden in Corran gegossen. "
        "Jede Laterne wiegt 48 Kilogramm und trägt eine Nummer aus Messing. Der "
        "Laternenwärter Jonas Petrik zündet sie seit 1994 an jedem Abend im Oktober an; vor "
        "ihm tat es seine Tante Wilma Petrik. Die Laterne Nummer 17 ging 1987 bei einem Sturm "
        "verloren und wurde von der Schmiede Arnold in Millbrook nachgebaut. Einmal im Jahr, "
        "am ersten Montag im September, werden alle Laternen mit Leinöl gereinigt.\n"),
    "festival-2023.md": (
        "# Festival of Lights 2023: programme\n\n"
        "Friday 6 October: the lanterns are lit at 19:40 by the mayor, Odile Fenn. The brass "
        "band of Corran plays on the east bank until 21:15. Saturday 7 October: the lantern "
        "walk leaves the station at 18:30; the boat parade starts at 20:05 with 14 boats. "
        "Sunday 8 October: the closing fireworks are set off from the Esk weir at 21:50, "
        "paid for by the Millbrook Rowing Club.\n"),
    "scan.pdf": "%PDF-1.4\nthis scan was cut short\n",
}
FOLDER = "bridges"
QUESTION = "Who designed the Lantern Bridge?"


class TimedOut(Exception):
    """A wait ran out; the message says what it waited for."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots",
                        help="where the PNGs are written (default: docs/screenshots)")
    parser.add_argument("--model", help="the base model (default: the bundled one)")
    return parser.parse_args(argv)


def refuse_without_x() -> str | None:
    """Why this cannot run here, or None: it needs a real X window."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return (f"QT_QPA_PLATFORM={platform}: the screenshots need a real X window; unset it "
                "and run under xvfb-run (see make screenshots)")
    if not os.environ.get("DISPLAY"):
        return "no DISPLAY: run under xvfb-run (see make screenshots)"
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if (why := refuse_without_x()) is not None:
        print(f"screenshots: {why}", file=sys.stderr)
        return 2
    temp = Path(tempfile.mkdtemp(prefix="memo-screenshots-"))
    try:
        # Before memo_mlx is imported: the data folder and the settings pointer are temporary.
        os.environ["MEMO_HOME"] = str(temp / "home")
        os.environ["XDG_CONFIG_HOME"] = str(temp / "config")
        os.environ["QT_QPA_PLATFORM"] = "xcb"
        os.environ.pop("MEMO_MODEL", None)  # the real default model, unless --model
        (temp / "home").mkdir()
        (temp / "home" / "settings.toml").write_text(SETTINGS)
        folder = temp / "notes" / FOLDER
        folder.mkdir(parents=True)
        for name, text in NOTES.items():
            (folder / name).write_text(text)
        return Shots(args.out, folder, args.model).run()
    except TimedOut as e:
        print(f"screenshots: timed out waiting for {e}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(temp, ignore_errors=True)


class Shots:
    def __init__(self, out: Path, folder: Path, model: str | None):
        self.out = out
        self.folder = folder
        self.model = model

    def run(self) -> int:
        sys.path.insert(0, str(REPO))
        from PySide6.QtCore import Qt, QUrl
        from PySide6.QtTest import QTest
        from PySide6.QtWidgets import QApplication, QMessageBox, QPushButton

        from app.engine import EngineBridge
        from app.main import MainWindow, dress, single_instance
        from app.settings_dialog import SettingsDialog
        from memo_mlx.settings import memo_home

        app = QApplication.instance() or QApplication(["memo-screenshots"])
        dress(app)  # the icon and theme the app has
        if app.platformName() != "xcb":
            print(f"screenshots: Qt runs on {app.platformName()!r}, not on X", file=sys.stderr)
            return 2
        self.out.mkdir(parents=True, exist_ok=True)
        lock = single_instance()
        if lock is None:
            print("screenshots: the temporary data folder is locked?", file=sys.stderr)
            return 1
        window: MainWindow | None = None
        started = time.monotonic()
        try:
            states: list = []  # every TeachState, as it comes
            answers: list = []
            engine = EngineBridge(self.model)  # watching its folders, as the app does
            engine.teach_state.connect(states.append)
            engine.answered.connect(answers.append)
            window = MainWindow(engine)
            window.resize(WIDTH, HEIGHT)
            window.show()
            chat = window.chat

            # 1. The first start: the model loaded, no memories yet.
            wait_until("the model to load", lambda: engine.ready and chat.input.isEnabled())
            pause(500)
            self.grab(window, "01-empty.png")

            # 2. Teaching: a folder dropped on the window, from a file manager.
            drop(window, [self.folder])
            wait_until("the drop to make a memory",
                       lambda: any(m.name == FOLDER for m in engine.memories()))
            memory = next(m for m in engine.memories() if m.name == FOLDER)
            wait_until("its card", lambda: memory.id in window.sidebar.cards)
            card = window.sidebar.cards[memory.id]

            def training() -> bool:
                failed(states)
                live = engine.live.get(memory.id)
                return live is not None and live.phase == "training" and live.done > 0

            wait_until("training to begin (reading and writing reflections first)", training)
            pause(400)  # the sidebar is redrawn every 250 ms
            self.grab(window, "02-teaching.png")

            # 3. Ready: documents, reflections, the unreadable file, recall.
            def done() -> bool:
                failed(states)
                return any(s.memory_id == memory.id and s.phase == "done" for s in states)

            wait_until("teaching to finish", done)
            wait_until("the card to show Ready", lambda: "Ready" in card.state.text())
            pause(400)
            self.grab(window, "03-ready.png")

            # 4. A question answered from the memory, its trace opened.
            switch = chat.switches[memory.id]
            wait_until("the memory's switch to be enabled", switch.isEnabled)
            switch.setChecked(True)
            QTest.keyClicks(chat.input, QUESTION)
            QTest.keyClick(chat.input, Qt.Key.Key_Return)
            wait_until("the answer", lambda: bool(answers) and chat.send.text() == "Send")
            chat._link(QUrl(f"trace:{len(chat.entries) - 1}"))
            pause(400)
            self.grab(window, "04-chat.png")

            # 4b. The memory switched off in the same chat, and the question asked again: the
            # chat says so, and the base model answers alone.
            switch.setChecked(False)
            QTest.keyClicks(chat.input, QUESTION)
            QTest.keyClick(chat.input, Qt.Key.Key_Return)
            wait_until("the base model's answer",
                       lambda: len(answers) == 2 and chat.send.text() == "Send")
            pause(400)
            self.grab(window, "08-switched-off.png")

            # 5. Settings, as a user who never changed them sees them: the short-teaching
            # overrides would show as a "Custom (0 examples)" training strength.
            (memo_home() / "settings.toml").unlink()
            window.open_settings()
            dialog = wait_for_child(window, SettingsDialog, "the Settings dialog")
            pause(400)
            self.grab(dialog, "05-settings.png")
            dialog.reject()
            pause(200)

            # 6. Dark mode.
            light = set_dark(app, chat)
            pause(500)
            self.grab(window, "06-dark.png")
            light()  # the errors dialog matches the other shots
            pause(300)

            # 7. The files that could not be read.
            window.show_errors(memory)
            box = wait_for_child(window, QMessageBox, "the unreadable-files dialog")
            for button in box.findChildren(QPushButton):  # which file, and why
                if button.text().startswith("Show Details"):
                    button.click()
            pause(400)
            self.grab(box, "07-errors.png")
            box.close()

            # 8. The files the memory's check found it has not learned, with how each did
            # (the card's line; only when its check found any).
            if "not learned yet" in card.health.text():
                window.show_not_learned(memory)
                box = wait_for_child(window, QMessageBox, "the not-learned dialog")
                for button in box.findChildren(QPushButton):
                    if button.text().startswith("Show Details"):
                        button.click()
                pause(400)
                self.grab(box, "09-not-learned.png")
                box.close()
            else:
                print(f"screenshots: the memory recalls every file ({card.health.text()}): "
                      "no not-learned dialog to show", file=sys.stderr)
            print(f"screenshots: done in {time.monotonic() - started:.0f} s", file=sys.stderr)
            return 0
        finally:
            if window is not None:
                for child in window.findChildren(QMessageBox) + window.findChildren(
                        SettingsDialog):
                    child.close()
                window.close()  # stops answering and teaching, closes the catalog
                window.deleteLater()
                QApplication.processEvents()
            lock.unlock()

    def grab(self, widget, name: str) -> None:
        from PySide6.QtWidgets import QApplication

        QApplication.processEvents()
        path = self.out / name
        if not widget.grab().save(str(path)):
            raise OSError(f"{path}: could not be written")
        print(path)


# --- waiting without blocking the event loop ------------------------------------------------

def wait_until(what: str, condition: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    """Run the event loop until `condition()` holds (checked every 50 ms), or raise TimedOut."""
    from PySide6.QtCore import QEventLoop, QTimer

    if condition():
        return
    loop = QEventLoop()
    errors: list[BaseException] = []

    def check() -> None:
        try:
            if condition():
                loop.exit(0)
        except Exception as e:  # raised in a slot, it would be lost: end the wait with it
            errors.append(e)
            loop.exit(2)

    poll = QTimer(interval=50)
    poll.timeout.connect(check)
    deadline = QTimer(singleShot=True, interval=int(timeout_s * 1000))
    deadline.timeout.connect(lambda: loop.exit(1))
    poll.start()
    deadline.start()
    code = loop.exec()
    poll.stop()
    deadline.stop()
    if errors:
        raise errors[0]
    if code == 1:
        raise TimedOut(what)


def pause(ms: int) -> None:
    """Let the event loop run for `ms` milliseconds (painting, the sidebar's refresh)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def wait_for_child(window, kind: type, what: str):
    """The visible child dialog of type `kind`, once it is shown."""
    found: list = []

    def shown() -> bool:
        found[:] = [w for w in window.findChildren(kind) if w.isVisible()]
        return bool(found)

    wait_until(what, shown)
    return found[-1]


def failed(states: list) -> None:
    for s in states:
        if s.phase == "failed":
            raise RuntimeError(f"teaching failed: {s.error}")


# --- driving the window -----------------------------------------------------------------------

def drop(widget, paths: list[Path]) -> None:
    """What the window gets when folders are dragged onto it from a file manager (as in
    tests/test_app.py)."""
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    where = QPointF(widget.rect().center())
    enter = QDragEnterEvent(where, Qt.DropAction.CopyAction, mime,
                            Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, enter)
    event = QDropEvent(where, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget, event)
    if not (enter.isAccepted() and event.isAccepted()):
        raise RuntimeError("the window did not accept the dropped folder")


def set_dark(app, chat) -> Callable[[], None]:
    """Dark mode for the window; returns what brings the light one back.

    QStyleHints.setColorScheme(Dark) is asked for first, as a desktop in dark mode would. Under
    Xvfb there is no platform theme to answer it (the scheme stays Unknown and the palette
    light), so then the Fusion style gets a dark palette, the way a dark desktop theme would
    supply one; the app only reads the palette, so this shows what it draws in dark mode."""
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QColor, QPalette

    light_palette = app.palette()
    light_style = app.style().name()
    hints = app.styleHints()
    hints.setColorScheme(Qt.ColorScheme.Dark)
    pause(200)
    if app.palette().color(QPalette.ColorRole.Window).lightness() >= 128:
        app.setStyle("Fusion")
        p = QPalette()
        role = QPalette.ColorRole
        for r, colour in ((role.Window, "#2b2b2b"), (role.WindowText, "#e6e6e6"),
                          (role.Base, "#1e1e1e"), (role.AlternateBase, "#2f2f2f"),
                          (role.Text, "#e6e6e6"), (role.Button, "#353535"),
                          (role.ButtonText, "#e6e6e6"), (role.BrightText, "#ff6b6b"),
                          (role.ToolTipBase, "#3a3a3a"), (role.ToolTipText, "#e6e6e6"),
                          (role.Highlight, "#3d6fb4"), (role.HighlightedText, "#ffffff"),
                          (role.Link, "#6ea8fe"), (role.LinkVisited, "#b69cfd"),
                          (role.PlaceholderText, "#8c8c8c"), (role.Light, "#4a4a4a"),
                          (role.Midlight, "#3f3f3f"), (role.Mid, "#2a2a2a"),
                          (role.Dark, "#1a1a1a"), (role.Shadow, "#000000")):
            p.setColor(r, QColor(colour))
        disabled = QPalette.ColorGroup.Disabled
        for r in (role.WindowText, role.Text, role.ButtonText):
            p.setColor(disabled, r, QColor("#7a7a7a"))
        app.setPalette(p)
    pause(100)
    chat._render()  # the transcript's HTML took its colours from the palette when drawn

    def light() -> None:
        hints.unsetColorScheme()
        app.setStyle(light_style)
        app.setPalette(light_palette)
        pause(100)
        chat._render()

    return light


if __name__ == "__main__":
    sys.exit(main())
