"""The one exception type the CLI and the app turn into a clear message."""


class MemoError(Exception):
    """A failure a user can act on; the message says what and where."""
