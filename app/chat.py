"""The chat pane: a transcript that streams answers token by token, a switch per memory for the
next question, an input with Send/Stop. A reply made with memories can be expanded to show how
they answered (the trace) and the documents it came from, each openable. Every exchange is kept
in the catalog, so chats reopen after a restart."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import QEvent, QUrl, Signal
from PySide6.QtGui import QDesktopServices, QPalette, QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.engine import EngineBridge
from memo_mlx.engine import LOCAL, Answer, ChatMessage, Memory, MemoryView, says_unknown
from memo_mlx.errors import cut

# The turns of the chat the base model sees when it answers itself: a small model's context
# (SmolLM2: 8k tokens) holds a few exchanges with room for the answer.
HISTORY_MESSAGES = 8
SWITCH_CHARS = 32  # a switch's label: several fit above the input; the tooltip names it whole
STAGE_WORDS = {"direct": "asked", "grounding": "split", "entity": "who/what", "seek": "asked",
               "memory": "asked", "retrieval": "found", "check": "checked against the passages",
               "read": "read", "synthesis": "answered", "executive": "could not answer"}


def memories_now(names: list[str]) -> str:
    """The line a chat shows where its switches changed."""
    return (f"Memories now: {', '.join(names)}" if names
            else "Memories now: none (the base model answers alone)")


def replied(entries: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Each question of a transcript with its reply (None: an error, or none yet)."""
    pairs = []
    for index, e in enumerate(entries):
        if e["role"] == "user":
            after = entries[index + 1] if index + 1 < len(entries) else None
            pairs.append((e, after if after and after["role"] == "assistant" else None))
    return pairs


def history_for(entries: list[dict[str, Any]], on: set[str]) -> list[dict[str, str]]:
    """The exchanges the executive sees with the next question: finished ones whose memories
    are all still switched on. What a memory switched off since said stays out, or the base
    model would repeat it."""
    out = []
    for question, reply in replied(entries):
        if reply is None or reply.get("stopped") or not set(reply.get("memories") or []) <= on:
            continue
        out += [{"role": "user", "content": question["content"]},
                {"role": "assistant", "content": reply["content"]}]
    return out


class ChatPane(QWidget):
    chat_changed = Signal()  # a chat was started or its title changed

    def __init__(self, engine: EngineBridge, parent: QWidget | None = None):
        super().__init__(parent)
        self.engine = engine
        self.chat_id: int | None = None
        self._new_chat = False  # a question asked in a new chat waits for the chat's id
        # What the transcript shows: dicts with role, content, and for replies mode, memories,
        # trace (dicts), sources, quotes and whether the trace is expanded.
        self.entries: list[dict[str, Any]] = []
        self._answer: list[str] = []
        self._question = ""

        self.transcript = QTextBrowser()
        self.transcript.setOpenLinks(False)
        self.transcript.anchorClicked.connect(self._link)
        self.switches_row = QHBoxLayout()
        self.switches_row.setContentsMargins(0, 0, 0, 0)
        self.switches: dict[int, QCheckBox] = {}
        self.no_memories = QLabel("No memories yet: the answer comes from the base model alone.")
        self.no_memories.setEnabled(False)
        self.switches_row.addWidget(self.no_memories)
        self.switches_row.addStretch(1)
        self.input = QLineEdit(placeholderText="Ask anything…")
        self.input.setEnabled(False)  # until the model has loaded
        self.send = QPushButton("Send")
        self.send.setEnabled(False)
        self.send.setDefault(True)

        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        row.addWidget(self.send)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 8, 8, 8)
        layout.addWidget(self.transcript, 1)
        layout.addLayout(self.switches_row)
        layout.addLayout(row)

        self.input.returnPressed.connect(self._send_or_stop)
        self.send.clicked.connect(self._send_or_stop)
        engine.loaded.connect(self._ready)
        engine.text.connect(self._stream)
        engine.answered.connect(self._answered)
        engine.failed.connect(self._failed)
        engine.chat_saved.connect(self._chat_saved)

    # --- memory switches --------------------------------------------------------------------

    def show_switches(self, views: list[MemoryView]) -> None:
        """One switch per memory, on if the memory is; a memory not taught yet cannot be
        consulted, so its switch waits, greyed."""
        before = {m.id for m in self.chosen()}
        memories = [v.memory for v in views]
        for memory_id in [i for i in self.switches if i not in {m.id for m in memories}]:
            self.switches.pop(memory_id).deleteLater()
        for index, memory in enumerate(memories):
            switch = self.switches.get(memory.id)
            if switch is None:
                switch = QCheckBox()
                switch.toggled.connect(
                    lambda on, memory_id=memory.id: self._switched(memory_id, on))
                self.switches[memory.id] = switch
                self.switches_row.insertWidget(index, switch)
            # Switchable while it learns more: it answers with its adapter until the new one
            # is done. Only a memory that has never been taught has nothing to consult.
            why_not = self.engine.unusable(memory)
            switch.setText(cut(memory.name, SWITCH_CHARS))
            switch.blockSignals(True)
            # Shown on only when it can be consulted: a greyed tick would read as "on".
            switch.setChecked(memory.enabled and not why_not)
            switch.blockSignals(False)
            switch.setEnabled(not why_not)
            switch.setToolTip(why_not or (
                f"On: the next questions consult '{memory.name}'. The switch is MeMo's own: "
                "`memo ask` and `memo status` follow it too."))
        self.no_memories.setVisible(not memories)
        if {m.id for m in self.chosen()} != before and not self.engine.busy:
            self._render()  # the line saying which memories answer next

    def _switched(self, memory_id: int, on: bool) -> None:
        memory = next((m for m in self.engine.memories() if m.id == memory_id), None)
        if memory is None:  # removed since the switch was drawn
            return
        self.engine.call(lambda e: e.switch(memory, on))
        self.engine.refresh()
        if not self.engine.busy:  # while an answer streams, the line shows when it is done
            self._render()

    def chosen(self) -> list[Memory]:
        """The memories the next question consults: switched on and taught."""
        on = {i for i, s in self.switches.items() if s.isChecked() and s.isEnabled()}
        return [m for m in self.engine.memories() if m.id in on] if on else []

    # --- chats ------------------------------------------------------------------------------

    def open_chat(self, chat_id: int | None) -> None:
        """Show a stored chat (None: a new, empty one, stored at its first question)."""
        if self.engine.busy:
            self.engine.stop()
        self.chat_id = chat_id
        self._new_chat = False
        self.entries = []
        self._render()
        if chat_id is not None:
            self.engine.call(lambda e: e.messages(chat_id),
                             lambda messages: self._show_messages(chat_id, messages))

    def _show_messages(self, chat_id: int, messages: list[ChatMessage]) -> None:
        if chat_id != self.chat_id or self.entries:  # another chat opened, or asked in, since
            return
        self.entries = [{"role": m.role, "content": m.content, "mode": m.mode,
                         "memories": m.memories, "trace": m.trace, "sources": m.sources,
                         "quotes": m.quotes, "executive": m.executive, "expanded": False}
                        for m in messages]
        self._render()

    def _chat_saved(self, chat_id: int) -> None:
        """The chat a question was kept in: a new chat has its id from now on."""
        if self._new_chat:
            self.chat_id, self._new_chat = chat_id, False
        self.chat_changed.emit()

    # --- asking -----------------------------------------------------------------------------

    def _ready(self) -> None:
        self.input.setEnabled(True)
        self.send.setEnabled(True)
        self.input.setFocus()

    def _send_or_stop(self) -> None:
        if self.engine.busy:
            self.engine.stop()
            return
        question = self.input.text().strip()
        if not question or not self.engine.ready:
            return
        memories = self.chosen()
        history = history_for(self.entries, {m.name for m in memories})
        self.input.clear()
        self._new_chat = self.chat_id is None
        self.entries.append({"role": "user", "content": question})
        self._render()
        self._append(self._speaker([m.name for m in memories]) + "<br>")
        self._answer = []
        self._question = question
        self.send.setText("Stop")
        self.engine.ask(self.chat_id, question, memories, history[-HISTORY_MESSAGES:])

    def _stream(self, piece: str) -> None:
        self._answer.append(piece)
        cursor = self.transcript.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertText(piece)
        self.transcript.ensureCursorVisible()

    def _answered(self, answer: Answer) -> None:
        if self.engine.closed:
            return
        stopped = answer.finish_reason == "cancelled"
        text = answer.answer or "".join(self._answer)
        data = answer.to_json()
        entry = {"role": "assistant", "content": text, "mode": answer.mode,
                 "memories": answer.memories, "trace": data["trace"],
                 "sources": answer.sources, "quotes": data["quotes"], "expanded": False,
                 "stopped": stopped, "executive": answer.executive}
        self.entries.append(entry)
        self.send.setText("Send")
        self._render()

    def _failed(self, message: str) -> None:
        self.entries.append({"role": "error", "content": message})
        self.send.setText("Send")
        self._render()

    # --- the transcript ---------------------------------------------------------------------

    def _muted(self) -> str:
        return self.palette().color(QPalette.ColorRole.PlaceholderText).name()

    def _speaker(self, memories: list[str], executive: str = "") -> str:
        said = [f"with {', '.join(memories)}"] if memories else []
        if executive and executive != LOCAL:  # a server the user chose wrote the answer
            said.append(f"answered by {executive}")
        where = (f" <span style='color:{self._muted()}'>· {html.escape(' · '.join(said))}"
                 "</span>" if said else "")
        return f"<p><b>MeMo</b>{where}"

    def _render(self) -> None:
        if not self.entries:
            muted = self._muted()
            self.transcript.setHtml(
                f"<div style='color:{muted}; margin-top:40px' align='center'><p>Ask anything."
                "</p><p>Switch a memory on below to answer from what your folders taught it;"
                "<br>with every memory off, the base model answers alone.</p></div>")
            return
        parts = []
        now = [m.name for m in self.chosen()]
        last: list[str] | None = None  # the memories of the reply before
        for index, e in enumerate(self.entries):
            text = html.escape(e["content"]).replace("\n", "<br>")
            if e["role"] == "user":
                reply = self.entries[index + 1] if index + 1 < len(self.entries) else None
                if reply is None:  # being answered now
                    names: list[str] | None = now
                elif reply["role"] == "assistant":
                    names = reply.get("memories") or []
                else:  # it failed: no memories answered
                    names = None
                if names is not None:
                    if last is not None and set(names) != set(last):
                        parts.append(self._notice(memories_now(names)))
                    last = names
                parts.append(f"<p><b>You</b><br>{text}</p>")
            elif e["role"] == "error":
                parts.append(f"<p style='color:#c0392b'>{text}</p>")
            else:
                stopped = " <i>(stopped)</i>" if e.get("stopped") else ""
                speaker = self._speaker(e.get("memories") or [], e.get("executive") or "")
                parts.append(f"{speaker}<br>{text}{stopped}</p>")
                parts.append(self._support(e))
                if e.get("trace") or e.get("sources"):
                    parts.append(self._trace(index, e))
        # Until the model has loaded no switch can be on yet: nothing to say of them.
        if (self.engine.ready and self.entries[-1]["role"] != "user" and last is not None
                and set(now) != set(last)):
            parts.append(self._notice(memories_now(now) + " — from the next question"))
        self.transcript.setHtml("".join(parts))
        self.transcript.moveCursor(QTextCursor.MoveOperation.End)
        self.transcript.ensureCursorVisible()

    def _notice(self, line: str) -> str:
        return f"<p align='center' style='color:{self._muted()}'>— {html.escape(line)} —</p>"

    def _support(self, e: dict[str, Any]) -> str:
        """What backs a reply made with memories: the reflections or passages it came from.
        No percentage: the tokens' probability says how fluent an answer is, not whether it
        is right, and nothing has calibrated it on real text (bench/RESULTS.md)."""
        quotes = e.get("quotes") or []
        if quotes:
            return (f"<p style='color:{self._muted()}'>Backed by</p>"
                    + "".join(self._quote(q) for q in quotes))
        if (e.get("memories") and not e.get("sources") and not e.get("stopped")
                and not says_unknown(e["content"])):
            return self._notice("Nothing found in your files backs this answer")
        return ""

    def _quote(self, quote: dict[str, str]) -> str:
        """What supports an answer, with a link that opens its document."""
        link = QUrl.fromLocalFile(quote["path"]).toString()
        return (f"<blockquote style='color:{self._muted()}'>“{html.escape(quote['text'])}” "
                f"— <a href='{link}'>{html.escape(Path(quote['path']).name)}</a></blockquote>")

    def _trace(self, index: int, e: dict[str, Any]) -> str:
        muted = self._muted()
        arrow = "▾" if e["expanded"] else "▸"
        head = (f"<p style='color:{muted}'><a href='trace:{index}'>{arrow} How memory "
                f"answered</a> · {html.escape(e.get('mode') or '')}</p>")
        if not e["expanded"]:
            return head
        rows = []
        for step in e["trace"]:
            who = html.escape(step.get("memory") or "executive")
            said = html.escape(step.get("answer") or "")
            rows.append(f"<li><b>{who}</b> {STAGE_WORDS.get(step['stage'], step['stage'])}: "
                        f"<i>{html.escape(step.get('question') or '')}</i><br>→ {said}</li>")
        sources = "".join(
            f"<li><a href='{QUrl.fromLocalFile(p).toString()}'>{html.escape(Path(p).name)}</a>"
            f" <span style='color:{muted}'>{html.escape(str(Path(p).parent))}</span></li>"
            for p in e.get("sources") or [])
        return (head + (f"<ol>{''.join(rows)}</ol>" if rows else "")
                + (f"<p>Sources:</p><ul>{sources}</ul>" if sources else ""))

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt's name)
        # The transcript's HTML carries the palette's colours: redrawn when the system's
        # appearance switches between light and dark.
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and not self.engine.busy:
            self._render()

    def _link(self, url: QUrl) -> None:
        if url.scheme() == "trace":
            entry = self.entries[int(url.path())]
            entry["expanded"] = not entry["expanded"]
            bar = self.transcript.verticalScrollBar()
            keep = bar.value()
            self._render()
            bar.setValue(keep)
        elif url.isLocalFile():
            QDesktopServices.openUrl(url)

    def _append(self, fragment: str) -> None:
        cursor = self.transcript.textCursor()
        cursor.movePosition(QTextCursor.MoveOperation.End)
        cursor.insertHtml(fragment)
        self.transcript.ensureCursorVisible()
