"""The main window, its menus and dialogs, and `memo-app` / `python -m app`."""

from __future__ import annotations

import ctypes.util
import logging
import os
import sys
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QEvent,
    QLockFile,
    QObject,
    QPoint,
    QProcess,
    QSettings,
    Qt,
    QTimer,
)
from PySide6.QtGui import (
    QAction,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QFileOpenEvent,
    QKeySequence,
    QPalette,
)
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QSplitter,
)

from app.chat import ChatPane
from app.engine import EngineBridge
from app.resources import icon, stylesheet
from app.settings_dialog import SettingsDialog
from app.sidebar import Sidebar, dropped_paths, memory_menu, plural
from memo_mlx import __version__
from memo_mlx.engine import Chat, Memory, MemoryView, TeachState, weak_documents
from memo_mlx.errors import MemoError, cut
from memo_mlx.settings import memo_home, writable_home

REFRESH_MS = 250  # teaching states arriving faster are shown together
QT_DESKTOPS = {"KDE", "LXQT"}  # desktops whose file dialogs Qt's own themes open


class MainWindow(QMainWindow):
    def __init__(self, engine: EngineBridge):
        super().__init__()
        self.engine = engine
        self.setWindowTitle("MeMo")
        self.resize(980, 640)
        self.setAcceptDrops(True)
        self.setUnifiedTitleAndToolBarOnMac(True)
        self.sidebar = Sidebar()
        self.chat = ChatPane(engine)
        splitter = QSplitter()
        splitter.addWidget(self.sidebar)
        splitter.addWidget(self.chat)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([300, 680])
        splitter.setChildrenCollapsible(False)
        self.setCentralWidget(splitter)
        self.splitter = splitter
        self.restart_wanted = False  # Settings asked for a restart: main() starts MeMo again
        self._theme_base = self.palette().color(QPalette.ColorRole.Base).name()
        self.model_label = QLabel("Loading the model…")
        self.statusBar().addWidget(self.model_label, 1)
        self.teach_label = QLabel()
        self.statusBar().addPermanentWidget(self.teach_label)
        # Who answers when it is not this computer's model; a server elsewhere is said plainly.
        self.executive_label = QLabel()
        self.executive_label.hide()
        self.statusBar().addPermanentWidget(self.executive_label)
        # Teaching states can come many a second; the sidebar is redrawn at most every 250 ms.
        self._refresh_timer = QTimer(self, singleShot=True, interval=REFRESH_MS)
        self._refresh_timer.timeout.connect(self.refresh)

        engine.loaded.connect(self._loaded)
        engine.load_failed.connect(self._load_failed)
        engine.executive_changed.connect(self._executive_changed)
        engine.teach_state.connect(self._teach_state)
        engine.memories_changed.connect(self._show_memories)
        engine.chats_changed.connect(self._show_chats)
        engine.problem.connect(self._problem)
        self.sidebar.add_requested.connect(self.add_folder)
        self.sidebar.dropped.connect(self.teach_paths)
        self.sidebar.menu_requested.connect(self._memory_menu)
        self.sidebar.errors_requested.connect(self.show_errors)
        self.sidebar.weak_requested.connect(self.show_not_learned)
        self.sidebar.chat_selected.connect(self._open_chat)
        self.sidebar.new_chat_requested.connect(self.new_chat)
        self.sidebar.chat_menu_requested.connect(self._chat_menu)
        self.chat.chat_changed.connect(self._chats_changed)
        self._menus()

        self.chat.open_chat(None)
        # The last chat, as it was left (unless a question is asked before it is read).
        engine.call(lambda e: e.chats(), self._open_last_chat)
        self._restore_layout()
        engine.start()

    def _restore_layout(self) -> None:
        """The window where it was left, as a Mac user expects."""
        saved = QSettings()
        geometry, split = saved.value("window/geometry"), saved.value("window/splitter")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if split is not None:
            self.splitter.restoreState(split)

    def _save_layout(self) -> None:
        saved = QSettings()
        saved.setValue("window/geometry", self.saveGeometry())
        saved.setValue("window/splitter", self.splitter.saveState())

    def _menus(self) -> None:
        bar = self.menuBar()

        def action(menu: Any, text: str, slot: Any, shortcut: Any = None,
                   role: QAction.MenuRole | None = None) -> QAction:
            a = QAction(text, self)
            if shortcut is not None:
                a.setShortcut(QKeySequence(shortcut))
            if role is not None:
                a.setMenuRole(role)  # on macOS: moved to the application menu
            a.triggered.connect(slot)
            menu.addAction(a)
            return a

        file_menu = bar.addMenu("&File")
        action(file_menu, "&New Chat", self.new_chat, QKeySequence.StandardKey.New)
        action(file_menu, "&Teach a Folder…", self.add_folder, QKeySequence.StandardKey.Open)
        file_menu.addSeparator()
        action(file_menu, "&Settings…", self.open_settings, QKeySequence.StandardKey.Preferences,
               QAction.MenuRole.PreferencesRole)
        file_menu.addSeparator()
        action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit,
               QAction.MenuRole.QuitRole)
        edit_menu = bar.addMenu("&Edit")
        action(edit_menu, "&Copy", lambda: self.chat.transcript.copy(),
               QKeySequence.StandardKey.Copy)
        action(edit_menu, "Select &All", lambda: self.chat.transcript.selectAll(),
               QKeySequence.StandardKey.SelectAll)
        chat_menu = bar.addMenu("&Chat")
        action(chat_menu, "&Stop Answering", self.engine.stop, "Ctrl+.")
        action(chat_menu, "&Ask", lambda: self.chat.input.setFocus(), "Ctrl+L")
        help_menu = bar.addMenu("&Help")
        action(help_menu, "&About MeMo", self._about, role=QAction.MenuRole.AboutRole)

    # --- the engine -------------------------------------------------------------------------

    def _loaded(self, description: str) -> None:
        self.model_label.setText(description)  # the bridge reads the memories again itself

    def _executive_changed(self, line: str, elsewhere: bool) -> None:
        if elsewhere:
            line += " — not this computer: what you ask, and passages of your files, leave it"
        self.executive_label.setText(line)
        self.executive_label.setToolTip(line)
        self.executive_label.setStyleSheet("color: #c0392b" if elsewhere else "")
        self.executive_label.setVisible(bool(line))

    def _load_failed(self, message: str) -> None:
        self.model_label.setText("The model could not be loaded")
        QMessageBox.critical(self, "MeMo", f"The model could not be loaded:\n\n{message}\n\n"
                                           "Choose another in Settings, then restart MeMo.")

    def _teach_state(self, state: TeachState) -> None:
        if state.phase == "failed":
            self.statusBar().showMessage(f"Could not teach: {state.error}", 10_000)
        if not self._refresh_timer.isActive():
            self._refresh_timer.start()

    def refresh(self) -> None:
        """Read the memories again (the desk answers with `memories_changed`)."""
        if not self.engine.closed:
            self.engine.refresh()

    def _show_memories(self, views: list[MemoryView]) -> None:
        """Draw the memories (cards and switches) from the desk's answer and the live states."""
        self.sidebar.show_memories([(v.memory, v.status) for v in views], self.engine.live)
        self.chat.show_switches(views)
        working = [s for s in self.engine.live.values()
                   if s.phase in ("reading", "writing", "training", "checking")]
        self.teach_label.setText(
            "" if not working else "Learning" if len(working) == 1
            else f"Learning {len(working)} memories")

    # --- memories ---------------------------------------------------------------------------

    def add_folder(self, memory: Memory | None = None) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Teach MeMo a folder")
        if folder:
            self.teach_paths(memory if isinstance(memory, Memory) else None, [Path(folder)])

    def teach_paths(self, memory: Memory | None, paths: list[Path]) -> None:
        """Teach `memory` (None: a new one named for the first folder) from `paths`."""

        def added(m: Memory) -> None:
            self.statusBar().showMessage(f"Teaching '{m.name}' from "
                                         f"{', '.join(p.name for p in paths)}", 5_000)

        self.engine.add(paths, memory, added, lambda why: QMessageBox.warning(
            self, "MeMo", f"Could not add that:\n\n{why}"))

    def _status(self, memory: Memory) -> dict[str, Any] | None:
        view = self.engine.view(memory.id)
        return None if view is None else view.status

    def _memory_menu(self, memory: Memory, where: QPoint) -> None:
        status = self._status(memory)
        if status is None:  # removed meanwhile
            return
        menu, actions = memory_menu(self, status)
        if not self.engine.ready:  # the model is still loading: only the catalog's own actions
            for name in ("teach", "pause", "resume", "retrain", "remove"):
                if name in actions:
                    actions[name].setEnabled(False)
            teacher_actions = {}
        else:
            teacher = self.engine.tell_teacher
            teacher_actions = {"teach": lambda: teacher("request", memory),
                               "pause": lambda: teacher("pause", memory),
                               "resume": lambda: teacher("resume", memory)}
        handlers = {
            **teacher_actions,
            "add": lambda: self.add_folder(memory),
            "retrain": lambda: self._retrain(memory),
            "errors": lambda: self.show_errors(memory),
            "rename": lambda: self._rename(memory),
            "remove": lambda: self._remove(memory),
        }
        for name, a in actions.items():
            if name in handlers:
                a.triggered.connect(handlers[name])
        menu.aboutToHide.connect(self._refresh_timer.start)
        menu.popup(where)

    def _retrain(self, memory: Memory) -> None:
        if self._confirm(f"Re-teach '{memory.name}' from scratch?",
                         "Its memory model is trained again from all its reflections. Until that "
                         "is done it answers with what it knows now.") and self.engine.ready:
            self.engine.tell_teacher("retrain", memory)

    def _rename(self, memory: Memory) -> None:
        name, ok = QInputDialog.getText(self, "Rename Memory", "New name:", text=memory.name)
        if not ok or not name.strip():
            return
        self.engine.call(lambda e: e.rename(memory, name),
                         failed=lambda why: QMessageBox.warning(self, "MeMo", why))
        self.refresh()

    def _remove(self, memory: Memory) -> None:
        if self._confirm(f"Remove '{memory.name}'?",
                         "What it learned is deleted. Your files are not touched.",
                         destructive=True) and self.engine.ready:
            self.engine.tell_teacher("remove", memory)

    def show_errors(self, memory: Memory) -> None:
        status = self._status(memory)
        errors = [(e["path"], e["error"]) for e in status["errors"]] if status else []
        box = QMessageBox(self)
        box.setWindowTitle("MeMo")
        files = "1 file" if len(errors) == 1 else f"{len(errors)} files"
        box.setText(f"{files} of '{memory.name}' could not be read"
                    if errors else f"Every file of '{memory.name}' could be read.")
        box.setDetailedText("\n".join(f"{path}: {why}" for path, why in errors))
        box.setInformativeText("They are tried again when they change.")
        box.open()

    def show_not_learned(self, memory: Memory) -> None:
        """The files the memory's last check found it has not learned, and how it did on each."""
        status = self._status(memory)
        weak = weak_documents(status) if status else []
        box = QMessageBox(self)
        box.setWindowTitle("MeMo")
        box.setText(f"{plural(len(weak), 'file')} of '{cut(memory.name)}' "
                    f"{'is' if len(weak) == 1 else 'are'} not learned yet" if weak
                    else f"'{cut(memory.name)}' recalls every file it was checked on.")
        box.setInformativeText(
            "After each teach, MeMo asks the memory questions it was not trained on about each "
            "file; these got fewer than half right. Teaching again after the folder grows, or "
            "Re-teach from Scratch, can help.")
        box.setDetailedText("\n".join(
            f"{d['path']}: recalled {d['right']} of {d['asked']} test questions" for d in weak))
        box.open()

    def _confirm(self, question: str, detail: str, destructive: bool = False) -> bool:
        box = QMessageBox(QMessageBox.Icon.Warning if destructive else QMessageBox.Icon.Question,
                          "MeMo", question, parent=self)
        box.setInformativeText(detail)
        ok = box.addButton("Remove" if destructive else "Re-teach",
                           QMessageBox.ButtonRole.DestructiveRole if destructive
                           else QMessageBox.ButtonRole.AcceptRole)
        box.addButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is ok

    # --- chats ------------------------------------------------------------------------------

    def new_chat(self) -> None:
        self.chat.open_chat(None)
        self._chats_changed()
        self.chat.input.setFocus()

    def _open_chat(self, chat_id: int) -> None:
        self.chat.open_chat(chat_id)

    def _open_last_chat(self, chats: list[Chat]) -> None:
        if chats and self.chat.chat_id is None and not self.chat.entries:
            self.chat.open_chat(chats[0].id)
            self._show_chats(chats)

    def _chats_changed(self) -> None:
        self._show_chats(self.engine.chats)
        self.refresh()

    def _show_chats(self, chats: list[Chat]) -> None:
        self.sidebar.show_chats(chats, self.chat.chat_id)

    def _chat_menu(self, chat_id: int, where: QPoint) -> None:
        menu = QMenu(self)
        rename = menu.addAction("Rename…")
        delete = menu.addAction("Delete Chat")
        chosen = menu.exec(where)
        if chosen is rename:
            chat = next((c for c in self.engine.chats if c.id == chat_id), None)
            title, ok = QInputDialog.getText(self, "Rename Chat", "Title:",
                                             text=chat.title if chat else "")
            if ok and title.strip():
                self.engine.call(lambda e: e.rename_chat(chat_id, title))
        elif chosen is delete:
            self.engine.call(lambda e: e.delete_chat(chat_id))
            if self.chat.chat_id == chat_id:
                self.chat.open_chat(None)
        self._chats_changed()

    def _problem(self, why: str) -> None:
        QMessageBox.warning(self, "MeMo", why)

    # --- the window -------------------------------------------------------------------------

    def open_settings(self) -> None:
        dialog = SettingsDialog(self)
        dialog.changed.connect(self._settings_changed)
        dialog.open()

    def _settings_changed(self, changed: set[str]) -> None:
        if "executive" in changed:
            self.engine.use_executive()
        later = [w for key, w in (("model", "the base model"), ("data", "the data folder"))
                 if key in changed]
        if not later:
            return
        box = QMessageBox(QMessageBox.Icon.Information, "MeMo",
                          f"MeMo uses {' and '.join(later)} from its next start.", parent=self)
        box.setInformativeText("Teaching under way goes on from where it stops.")
        now = box.addButton("Restart Now", QMessageBox.ButtonRole.AcceptRole)
        box.addButton("Later", QMessageBox.ButtonRole.RejectRole)
        box.exec()
        if box.clickedButton() is now:
            self.restart_wanted = True
            self.close()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt's name)
        if dropped_paths(event.mimeData()):
            event.acceptProposedAction()
            self.statusBar().showMessage("Drop to teach a new memory (or drop on a memory to "
                                         "teach it more)", 3_000)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = dropped_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.teach_paths(None, paths)

    def _about(self) -> None:
        QMessageBox.about(
            self, "About MeMo",
            f"MeMo {__version__}\nA private memory model of your folders. "
            f"Everything runs on this computer; nothing is sent anywhere.\n\nData: {memo_home()}",
        )

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        # The theme's palette(...) colours are fixed when it is applied: the system switching
        # between light and dark needs it applied again (once per new palette, not per event).
        super().changeEvent(event)
        app = QApplication.instance()
        if event.type() != QEvent.Type.PaletteChange or not isinstance(app, QApplication):
            return
        base = app.palette().color(QPalette.ColorRole.Base).name()
        if app.styleSheet() and base != self._theme_base:
            self._theme_base = base
            app.setStyleSheet(app.styleSheet())

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        self.statusBar().showMessage("Saving where teaching got to…")
        QApplication.processEvents()
        self._refresh_timer.stop()
        self._save_layout()
        self.engine.close()
        super().closeEvent(event)


class OpenedFromFinder(QObject):
    """Folders dropped on the Dock icon, or opened with MeMo in the Finder, reach the app as
    file-open events (macOS): each is taught like a folder dropped on the window."""

    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.window = window

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt's name)
        if event.type() == QEvent.Type.FileOpen and isinstance(event, QFileOpenEvent):
            self.window.teach_paths(None, [Path(event.file())])
            return True
        return super().eventFilter(watched, event)


def native_dialogs(environ: MutableMapping[str, str], platform: str, gtk3: bool,
                   portal: bool) -> None:
    """Make Qt use the platform's own file dialogs on Linux, where it otherwise picks its
    platform theme (and so the dialogs) from the desktop's name alone: without one (a bare
    X session, some window managers) it falls back to Qt's own dialog. The desktop portal is
    the platform's choice where it runs; GTK's chooser where GTK is installed. macOS and
    Windows have theirs always; a theme the user set is kept."""
    if platform != "linux" or environ.get("QT_QPA_PLATFORMTHEME"):
        return
    desktops = set(environ.get("XDG_CURRENT_DESKTOP", "").upper().split(":"))
    if desktops & QT_DESKTOPS:
        return  # Qt's own theme for that desktop opens its dialogs
    if portal:
        environ["QT_QPA_PLATFORMTHEME"] = "xdgdesktopportal"
    elif gtk3:
        environ["QT_QPA_PLATFORMTHEME"] = "gtk3"


def _portal_running() -> bool:
    """Whether the session bus has the XDG desktop portal (it answers Qt's file dialogs)."""
    from PySide6.QtDBus import QDBusConnection

    bus = QDBusConnection.sessionBus()
    return bus.isConnected() and bool(
        bus.interface().isServiceRegistered("org.freedesktop.portal.Desktop").value())


def single_instance() -> QLockFile | None:
    """The data folder's lock, or None when another MeMo holds it: two apps teaching the same
    memories would only fight over them."""
    lock = QLockFile(str(memo_home() / "app.lock"))
    lock.setStaleLockTime(0)  # a crashed app's lock is taken over (its pid is gone)
    return lock if lock.tryLock(100) else None


def dress(app: QApplication) -> None:
    """Names (where QSettings keeps the window's place), icon, theme, platform habits."""
    app.setApplicationName("MeMo")
    app.setOrganizationName("MeMo")
    app.setApplicationVersion(__version__)
    app.setAttribute(Qt.ApplicationAttribute.AA_DontShowIconsInMenus, sys.platform == "darwin")
    app.setWindowIcon(icon())
    app.setStyleSheet(stylesheet())


def main(argv: list[str] | None = None) -> int:
    if "--self-test" in (sys.argv[1:] if argv is None else argv):  # no window: one line
        from memo_mlx.selftest import self_test

        result = self_test()
        print(result.line, flush=True)
        return 0 if result.ok else 1
    if sys.platform == "linux":
        native_dialogs(os.environ, sys.platform, bool(ctypes.util.find_library("gtk-3")),
                       _portal_running())
    app = QApplication(sys.argv if argv is None else ["memo-app", *argv])
    dress(app)
    try:  # a data folder that is a file, or read-only: said in a window, not a traceback
        logs = writable_home() / "logs"
        logs.mkdir(exist_ok=True)
    except (MemoError, OSError) as e:
        QMessageBox.critical(None, "MeMo", str(e))
        return 1
    # What the engine logs (a teach that failed on a bug) goes to a file a user can send.
    logging.basicConfig(filename=logs / "memo-app.log", level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lock = single_instance()
    if lock is None:
        QMessageBox.information(None, "MeMo", "MeMo is already running (its window may be on "
                                              "another desktop).")
        return 0
    window = MainWindow(EngineBridge())
    app.installEventFilter(OpenedFromFinder(window))
    window.show()
    try:
        status = app.exec()
    finally:
        lock.unlock()
    if window.restart_wanted:  # after the lock is free, or the new MeMo would be refused
        QProcess.startDetached(sys.executable, sys.argv[1:] if getattr(sys, "frozen", False)
                               else ["-m", "app", *sys.argv[1:]])
    return status

