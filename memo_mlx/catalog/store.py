"""What every store of the catalog shares: the connection's helpers, errors, timestamps and
the safe full-text query.
"""

from __future__ import annotations

import contextlib
import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from ..errors import MemoError


class CatalogError(MemoError):
    pass


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _instant() -> str:
    # Chats are ordered by activity, and two messages often come within one second.
    return datetime.now(UTC).isoformat(timespec="microseconds")


def _marks(values: Sequence[object]) -> str:
    """One `?` per value, for `IN (...)`."""
    return ",".join("?" * len(values))


def _batches(ids: list[int], size: int = 500) -> Iterator[list[int]]:
    # SQLite limits the number of bound parameters per statement.
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _json(items: Iterable[Any]) -> str:
    return json.dumps(list(items), ensure_ascii=False)


# Words that say what kind of question it is, not what it is about: they would only add noise.
STOP_WORDS = frozenset('''
a about after all also an and any are as at be been before being but by can could did do does
for from had has have he her here him his how i if in into is it its me my no nor not of on or
our please s she should so t tell than that the their them then there these they this those to
us was we were what when where which while who whom whose why will with would you your
'''.split())


_MAX_QUERY_TERMS = 64  # a pasted page must not become a query of thousands of terms


def fts_query(text: str) -> str:
    """A user's free text as a safe FTS5 query: its words but the stop words, each quoted (so
    quotes, operators and `*` are only text), joined with OR; "" when no word is left."""
    words = re.findall(r"\w+", unicodedata.normalize("NFC", text).lower())
    terms = [w for w in dict.fromkeys(words) if w not in STOP_WORDS][:_MAX_QUERY_TERMS]
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


def count(db: sqlite_utils.Database, sql: str, *args: object) -> int:
    """The one number a `SELECT count(*)` gives."""
    return int(db.execute(sql, list(args)).fetchone()[0])


class Store:
    """One part of the catalog: its tables, read and written on the catalog's one connection,
    inside its transactions (`atomic`)."""

    def __init__(self, db: sqlite_utils.Database,
                 atomic: Callable[[], contextlib.AbstractContextManager[None]], path: Path):
        self.db = db
        self.atomic = atomic
        self.path = path  # the catalog's file: what it records of files is relative to its folder

    def _insert(self, table: str, row: dict[str, Any]) -> int:
        pk = self.db.table(table).insert(row).last_pk
        assert pk is not None
        return int(pk)

    def _count(self, sql: str, *args: object) -> int:
        return count(self.db, sql, *args)
