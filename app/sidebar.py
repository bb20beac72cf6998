"""The sidebar: the memories, each a card with its folders, counts, state and health, and the
chats below them. Folders dropped on a card teach that memory; the "+" asks for a folder."""

from __future__ import annotations

import html
from datetime import date, datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QDate, QEvent, QLocale, QMimeData, QSize, Qt, QTime, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QDragEnterEvent, QDropEvent, QPainter
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QProgressBar,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from memo_mlx.engine import Chat, Memory, TeachState, shown_state, weak_documents
from memo_mlx.errors import cut

PHASE_WORDS = {"queued": "Waiting to learn", "reading": "Reading files",
               "writing": "Writing reflections", "training": "Training",
               "checking": "Checking what it recalls"}
STATE_WORDS = {"empty": "Empty: drop a folder here", "untaught": "Not taught yet",
               "damaged": "Damaged: needs Re-teach from Scratch",
               "stale": "Has new text to learn",
               "teaching": "Being taught elsewhere", "ready": "Ready", "error": "Error"}


def dropped_paths(mime: QMimeData) -> list[Path]:
    """The local files and folders a drag carries (Finder, Files, a file manager)."""
    return [Path(url.toLocalFile()) for url in mime.urls() if url.isLocalFile()]


def state_line(status: dict[str, Any], live: TeachState | None) -> str:
    """What the memory is doing, in a few words."""
    if status["paused"]:
        return "Paused"
    if live is not None and live.phase == "failed":
        return f"Error: {live.error}"
    if live is not None and live.phase == "queued" and live.detail:
        return f"Waiting: {live.detail}"
    if live is not None and live.phase == "checking":
        return f"{PHASE_WORDS['checking']}: {live.detail}"
    if live is not None and live.phase in PHASE_WORDS:
        words = PHASE_WORDS[live.phase]
        eta = live.eta_seconds
        if live.phase == "training" and live.total:
            if live.done == live.resumed_from:  # before the run's first step: its estimate
                words = (f"Resuming at step {live.done} of {live.total}" if live.resumed_from
                         else f"{words} {live.total} steps")
                return words + ("" if eta is None else f" · {_about(eta)}")
            return (f"{words} {live.total} steps · {round(100 * live.done / live.total)}%"
                    + ("" if eta is None else f" · {_duration(eta)} left"))
        if live.total:
            return (f"{words} {min(live.done + 1, live.total)}/{live.total}"
                    + ("" if eta is None else f" · {_duration(eta)} left"))
        return words
    state = shown_state(status)
    words = STATE_WORDS.get(state, state)
    return f"{words} · watching" if state == "ready" else words


def when(stamp: str, today: date | None = None) -> str:
    """A catalog time (UTC) as this computer's locale writes it: the time for today, else the
    date, so two chats of the same title tell apart."""
    local = datetime.fromisoformat(stamp).astimezone()
    locale = QLocale.system()
    if local.date() == (today or date.today()):
        return locale.toString(QTime(local.hour, local.minute), QLocale.FormatType.ShortFormat)
    return locale.toString(QDate(local.year, local.month, local.day),
                           QLocale.FormatType.ShortFormat)


def _tool_button(text: str) -> QToolButton:
    button = QToolButton()
    button.setText(text)
    button.setAutoRaise(True)
    return button


def _section(title: str, button: QToolButton) -> QHBoxLayout:
    """A section's heading with its one action at the right."""
    heading = QLabel(title)
    heading.setObjectName("sectionHeading")
    row = QHBoxLayout()
    row.addWidget(heading, 1)
    row.addWidget(button)
    return row


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}:{seconds // 60 % 60:02}:{seconds % 60:02}"
    return f"{seconds // 60}:{seconds % 60:02}" if seconds >= 60 else f"{seconds} s"


def _about(seconds: float) -> str:
    """An estimate made before any step was timed, as roughly as it is known."""
    if seconds < 60:
        return "under a minute"
    if seconds < 90 * 60:
        return f"about {round(seconds / 60)} min"
    return f"about {seconds / 3600:.1f} h"


def plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


class ElidedLabel(QLabel):
    """One line that ends in "…" when it does not fit, at any width, so a long name never
    pushes the card's buttons out of sight; the whole text is in the tooltip."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        super().setText(text)
        self.setToolTip(text)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(0, super().minimumSizeHint().height())

    def paintEvent(self, event: Any) -> None:  # noqa: N802
        painter = QPainter(self)
        shown = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight,
                                              self.contentsRect().width())
        painter.drawText(self.contentsRect(), int(self.alignment()), shown)

    def shown_text(self) -> str:
        """What is drawn at the label's width now."""
        return self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight,
                                             self.contentsRect().width())


class MemoryCard(QFrame):
    """One memory. Emits `dropped` with the paths dropped on it and `menu` for its actions."""

    dropped = Signal(object, list)  # Memory, [Path]
    menu_requested = Signal(object, object)  # Memory, QPoint (global)
    errors_requested = Signal(object)  # Memory
    weak_requested = Signal(object)  # Memory: the files it has not learned yet, with why

    def __init__(self, memory: Memory, parent: QWidget | None = None):
        super().__init__(parent)
        self.memory = memory
        self._shown: tuple[dict[str, Any], TeachState | None] | None = None
        self.setAcceptDrops(True)
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("memoryCard")
        self.title = ElidedLabel()
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.more = _tool_button("…")
        self.more.setToolTip("Actions for this memory")
        self.more.clicked.connect(
            lambda: self.menu_requested.emit(self.memory, self.more.mapToGlobal(
                self.more.rect().bottomLeft())))
        self.counts = QLabel()
        self.counts.setWordWrap(True)
        self.counts.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.counts.linkActivated.connect(lambda _l: self.errors_requested.emit(self.memory))
        self.state = QLabel()
        self.state.setWordWrap(True)
        self.progress = QProgressBar(maximum=1000, textVisible=False)
        self.progress.setFixedHeight(6)
        self.health = QLabel()
        self.health.setWordWrap(True)
        self.health.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.health.linkActivated.connect(lambda _l: self.weak_requested.emit(self.memory))
        self.folders = QLabel()
        self.folders.setWordWrap(True)
        self.folders.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.folders.linkActivated.connect(self._open)
        header = QHBoxLayout()
        header.setContentsMargins(0, 0, 0, 0)
        header.addWidget(self.title, 1)
        header.addWidget(self.more)
        for label in (self.state, self.counts, self.health, self.folders):
            # A wrapped label asks for its longest word's width; the card takes the sidebar's.
            policy = QSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
            policy.setHeightForWidth(True)
            label.setSizePolicy(policy)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 8, 8)
        layout.setSpacing(3)
        layout.addLayout(header)
        for w in (self.state, self.progress, self.counts, self.health, self.folders):
            layout.addWidget(w)

    def show_status(self, status: dict[str, Any], live: TeachState | None) -> None:
        self._shown = (status, live)
        self.title.setText(status["name"])
        self.state.setText(state_line(status, live))
        working = live is not None and live.phase in PHASE_WORDS and not status["paused"]
        self.progress.setVisible(working)
        if working and live is not None:
            if live.total:
                self.progress.setRange(0, 1000)
                self.progress.setValue(round(1000 * live.done / live.total))
            else:
                self.progress.setRange(0, 0)  # busy, length unknown
        failed = status["failed"]
        unreadable = (f" · <a href='errors'>{failed} could not be read</a>" if failed else "")
        self.counts.setText(f"{plural(status['documents'], 'document')} · "
                            f"{plural(status['reflections'], 'reflection')}{unreadable}")
        recall = status["recall"]
        self.health.setVisible(bool(recall and recall["asked"]))
        if recall and recall["asked"]:
            weak = len(weak_documents(status))
            self.health.setText(
                f"Recalls {recall['right']} of {recall['asked']} test questions"
                + (f" · <a href='weak'>{plural(weak, 'file')} not learned yet</a>"
                   if weak else ""))
        missing = set(status["missing"])
        self.folders.setText("<br>".join(
            f"<a href='{QUrl.fromLocalFile(f).toString()}'>{html.escape(cut(Path(f).name))}</a>"
            + (" (missing)" if f in missing else "") for f in status["folders"]))
        self.setToolTip("\n".join(status["folders"]))

    def _open(self, link: str) -> None:
        QDesktopServices.openUrl(QUrl(link))

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        # A label fixes its links' colour when its text is set: light or dark appearance
        # switched while running needs the texts set anew.
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and self._shown is not None:
            for label in (self.counts, self.health, self.folders):
                label.clear()
            self.show_status(*self._shown)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt's name)
        if dropped_paths(event.mimeData()):
            event.acceptProposedAction()
            self.setProperty("dropTarget", True)
            self.style().polish(self)

    def dragLeaveEvent(self, event: Any) -> None:  # noqa: N802
        self.setProperty("dropTarget", False)
        self.style().polish(self)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        self.setProperty("dropTarget", False)
        self.style().polish(self)
        paths = dropped_paths(event.mimeData())
        if paths:
            event.acceptProposedAction()
            self.dropped.emit(self.memory, paths)

    def contextMenuEvent(self, event: Any) -> None:  # noqa: N802
        self.menu_requested.emit(self.memory, event.globalPos())


class Sidebar(QWidget):
    """Memories above, chats below. The window wires the signals to the engine."""

    add_requested = Signal()
    dropped = Signal(object, list)  # Memory, [Path]
    menu_requested = Signal(object, object)
    errors_requested = Signal(object)
    weak_requested = Signal(object)
    chat_selected = Signal(int)
    new_chat_requested = Signal()
    chat_menu_requested = Signal(int, object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.cards: dict[int, MemoryCard] = {}
        self.add_button = _tool_button("+")
        self.add_button.setToolTip("Teach a new memory from a folder… (drop folders here too)")
        self.add_button.clicked.connect(self.add_requested)

        self.empty = QLabel("Drop folders here, or press +, to make a memory of them.")
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.cards_box = QVBoxLayout()
        self.cards_box.setSpacing(6)
        holder = QWidget()
        inner = QVBoxLayout(holder)
        inner.setContentsMargins(0, 0, 0, 0)
        inner.addWidget(self.empty)
        inner.addLayout(self.cards_box)
        inner.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(holder)

        self.new_chat = _tool_button("+")
        self.new_chat.setToolTip("New chat")
        self.new_chat.clicked.connect(self.new_chat_requested)
        self.chats = QListWidget()
        # A long title is cut with "…", never scrolled sideways: its date stays in sight.
        self.chats.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.chats.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.chats.setWordWrap(False)
        self.chats.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.chats.itemClicked.connect(
            lambda item: self.chat_selected.emit(item.data(Qt.ItemDataRole.UserRole)))
        self.chats.customContextMenuRequested.connect(self._chat_menu)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 4, 8)
        layout.addLayout(_section("Memories", self.add_button))
        layout.addWidget(scroll, 3)
        layout.addLayout(_section("Chats", self.new_chat))
        layout.addWidget(self.chats, 1)

    def show_memories(self, statuses: list[tuple[Memory, dict[str, Any]]],
                      live: dict[int, TeachState]) -> None:
        """Cards for exactly these memories, in this order, showing these statuses."""
        wanted = {m.id for m, _ in statuses}
        for memory_id in [i for i in self.cards if i not in wanted]:
            card = self.cards.pop(memory_id)
            card.setParent(None)
            card.deleteLater()
        for index, (memory, status) in enumerate(statuses):
            found = self.cards.get(memory.id)
            if found is None:
                card = MemoryCard(memory)
                card.dropped.connect(self.dropped)
                card.menu_requested.connect(self.menu_requested)
                card.errors_requested.connect(self.errors_requested)
                card.weak_requested.connect(self.weak_requested)
                self.cards[memory.id] = card
            else:
                card = found
            card.memory = memory
            self.cards_box.insertWidget(index, card)
            card.show_status(status, live.get(memory.id))
        self.empty.setVisible(not statuses)

    def show_chats(self, chats: list[Chat], current: int | None) -> None:
        self.chats.blockSignals(True)
        self.chats.clear()
        for chat in chats:
            item = QListWidgetItem(f"{chat.title}\n{when(chat.updated_at)}")
            item.setData(Qt.ItemDataRole.UserRole, chat.id)
            local = datetime.fromisoformat(chat.updated_at).astimezone()
            item.setToolTip(f"{chat.title}\nlast used {local:%Y-%m-%d %H:%M}")
            self.chats.addItem(item)
            if chat.id == current:
                item.setSelected(True)
                self.chats.setCurrentItem(item)
        self.chats.blockSignals(False)

    def _chat_menu(self, pos: Any) -> None:
        item = self.chats.itemAt(pos)
        if item is not None:
            self.chat_menu_requested.emit(item.data(Qt.ItemDataRole.UserRole),
                                          self.chats.viewport().mapToGlobal(pos))


def memory_menu(parent: QWidget, status: dict[str, Any]) -> tuple[QMenu, dict[str, QAction]]:
    """The actions of one memory, named so the window can connect them."""
    menu = QMenu(parent)
    actions = {
        "teach": menu.addAction("Teach Now"),
        "pause" if not status["paused"] else "resume":
            menu.addAction("Pause Learning" if not status["paused"] else "Resume Learning"),
        "add": menu.addAction("Add Folder…"),
        "retrain": menu.addAction("Re-teach from Scratch…"),
        "errors": menu.addAction("Files That Could Not Be Read…"),
    }
    menu.addSeparator()
    actions["rename"] = menu.addAction("Rename…")
    actions["remove"] = menu.addAction("Remove Memory…")
    actions["errors"].setEnabled(bool(status["failed"]))
    return menu, actions
