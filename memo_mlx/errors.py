"""The one exception type the CLI and the app turn into a clear message."""

# The most of a name a message shows: a page pasted as a name must not fill the terminal.
NAME_CHARS = 60


class MemoError(Exception):
    """A failure a user can act on; the message says what and where."""


class UsageError(MemoError):
    """Input refused as given (a flag the parser cannot check, a question too long): the CLI
    exits with EXIT_USAGE for it."""


def cut(name: str, most: int = NAME_CHARS) -> str:
    """A name cut to `most` characters, with "…" when it was longer."""
    return name if len(name) <= most else name[:most] + "…"


def quoted(name: str) -> str:
    """A name as a message shows it: cut, quoted, on one line (repr escapes newlines)."""
    return repr(cut(name))
