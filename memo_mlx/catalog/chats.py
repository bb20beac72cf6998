"""Chats: conversations kept across restarts: each message with the mode it was answered in,
the memories that were on, the steps it took (trace), the documents it cited (sources) and
what in them supports it (quotes), all shown again as they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .records import (
    Chat,
    ChatMessage,
    _message,
)
from .store import (
    CatalogError,
    Store,
    _instant,
    _json,
)

NEW_CHAT = "New chat"  # the title of a chat until its first question names it


_CHAT_TITLE = 60  # characters of the first question that name a chat


_MAX_CHAT_TITLE = 200


_ROLES = ("user", "assistant")


_MESSAGE = (  # the columns of `ChatMessage`, in its order
    "SELECT id, chat_id, role, content, mode, memories, trace, sources, created_at, quotes, "
    "executive FROM messages"
)


class Chats(Store):
    """The chats and their messages."""

    def create(self, title: str = NEW_CHAT) -> Chat:
        title = _chat_title(title)
        with self.atomic():
            created = _instant()
            chat_id = self._insert(
                "chats", {"title": title, "created_at": created, "updated_at": created}
            )
        chat = self.get(chat_id)
        assert chat is not None
        return chat

    def all(self) -> list[Chat]:
        """Every chat, the one last talked in first."""
        rows = self.db.execute(
            "SELECT id, title, created_at, updated_at FROM chats "
            "ORDER BY updated_at DESC, id DESC"
        ).fetchall()
        return [Chat(*row) for row in rows]

    def get(self, chat_id: int) -> Chat | None:
        row = self.db.execute(
            "SELECT id, title, created_at, updated_at FROM chats WHERE id = ?", [chat_id]
        ).fetchone()
        return None if row is None else Chat(*row)

    def rename(self, chat_id: int, title: str) -> Chat:
        """A new title; not activity, so the chat keeps its place in the list."""
        title = _chat_title(title)
        with self.atomic():
            self._chat_or_error(chat_id)
            self.db.execute("UPDATE chats SET title = ? WHERE id = ?", [title, chat_id])
        chat = self.get(chat_id)
        assert chat is not None
        return chat

    def delete(self, chat_id: int) -> None:
        """A chat and its messages; an unknown id is no error."""
        with self.atomic():
            self.db.execute("DELETE FROM messages WHERE chat_id = ?", [chat_id])
            self.db.execute("DELETE FROM chats WHERE id = ?", [chat_id])

    def add_message(
        self,
        chat_id: int,
        role: str,
        content: str,
        *,
        mode: str | None = None,
        memories: Sequence[str] = (),
        trace: Sequence[dict[str, Any]] = (),
        sources: Sequence[str] = (),
        quotes: Sequence[dict[str, str]] = (),
        executive: str = "",
    ) -> ChatMessage:
        """Append a message to a chat and move the chat to the top of the list. A chat still
        called "New chat" is named after its first question, as the user would name it."""
        if role not in _ROLES:
            raise CatalogError(f"{role!r}: a message is from the user or the assistant")
        with self.atomic():
            chat = self._chat_or_error(chat_id)
            created = _instant()
            order = self._count(
                "SELECT coalesce(max(ord) + 1, 0) FROM messages WHERE chat_id = ?", chat_id
            )
            message_id = self._insert("messages", {
                "chat_id": chat_id, "ord": order, "role": role, "content": content,
                "mode": mode, "memories": _json(memories), "trace": _json(trace),
                "sources": _json(sources), "quotes": _json(quotes), "created_at": created,
                "executive": executive or None,
            })
            title = chat.title
            if title == NEW_CHAT and role == "user":
                title = _title_from(content) or title
            self.db.execute("UPDATE chats SET title = ?, updated_at = ? WHERE id = ?",
                            [title, created, chat_id])
        row = self.db.execute(f"{_MESSAGE} WHERE id = ?", [message_id]).fetchone()
        return _message(row)

    def messages(self, chat_id: int) -> list[ChatMessage]:
        """The chat's messages in the order they were said."""
        rows = self.db.execute(
            f"{_MESSAGE} WHERE chat_id = ? ORDER BY ord, id", [chat_id]
        ).fetchall()
        return [_message(row) for row in rows]

    def _chat_or_error(self, chat_id: int) -> Chat:
        chat = self.get(chat_id)
        if chat is None:
            raise CatalogError(f"no chat with id {chat_id}")
        return chat


def _chat_title(title: str) -> str:
    title = title.strip()
    if not title:
        raise CatalogError("a chat needs a title")
    return title[:_MAX_CHAT_TITLE].rstrip()


def _title_from(content: str) -> str:
    """The first line of a question, cut to a title's length; "" when it has no text."""
    lines = [line.strip() for line in content.splitlines() if line.strip()]
    if not lines:
        return ""
    line = lines[0]
    return line if len(line) <= _CHAT_TITLE else line[: _CHAT_TITLE - 1].rstrip() + "…"
