"""Folder watching: tell the owner WHEN a watched root needs rescanning, never what changed.

The owner (the scanner behind the catalog) compares a whole root with the catalog, and that
comparison is cheap: a stat fast path skips every file whose size and mtime are unchanged, and
moves and renames are matched by content hash. So the watcher does no per-event incremental
work. It only notices that something happened under a root, waits for the burst to settle and
says "rescan this root", passing the paths it saw as a hint. Rescanning the root rather than
replaying events also repairs anything watchdog missed: events dropped on an inotify overflow,
a move whose other half fell outside the watch, a change made while the watch was being rebuilt.

Threads, each blocking on a wait with a timeout or on a condition while idle:

- watchdog's observer (and its emitters) calls `_Handler.dispatch`, which only records paths in
  a per-root burst under `_cond`; it never calls the owner.
- the dispatcher thread turns due bursts into "changed" events (trailing edge: `debounce`
  seconds after the last event, but at most `10 * debounce` after the first, so a stream of
  writes cannot postpone a rescan forever) and is the one thread that calls `on_event`, in order.
- the supervisor thread stats every root each `poll` seconds, and at once when watchdog reports
  the deletion of a watched folder. A root that vanishes (deleted, renamed away, volume
  unplugged) is reported "missing" once and its watch dropped; when it is back, or when another
  folder now stands at that path (another st_dev/st_ino), it is watched anew and reported
  "returned", then "changed". It also restarts the observer, or rebuilds a watch, whose thread
  has died. A due "changed" whose root is gone is not sent: the dispatcher checks the root first
  (a file that an editor replaces is back by then; a deleted one is reported "missing").

Lock order: `_roots_lock` (root table, observer) before watchdog's observer lock before `_cond`.
Watchdog calls the handler while holding its own lock, so `_cond` is never held while calling
into the observer.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, ObservedWatch

logger = logging.getLogger(__name__)

EventKind = Literal["changed", "missing", "returned"]

# A continuous stream of events still yields a "changed" this many debounce periods after the
# first one of the burst.
MAX_WAIT_FACTOR = 10.0
# stop() gives each thread this long to end; they only ever wait on events that stop() sets.
JOIN_TIMEOUT = 5.0

# Event types that change nothing a scan would see; the owner's own scan reads every file.
_NOISE = frozenset({"opened", "closed_no_write"})
# A folder's own mtime or attributes change with every entry added or removed: the entry's own
# event already says so.
_DIR_NOISE = frozenset({"modified", "attrib"})


@dataclass(frozen=True)
class WatchEvent:
    """What the owner is told: root `key` changed, went missing, or came back."""

    kind: EventKind
    key: str
    root: Path
    # For "changed": the paths the filesystem events named (both ends of a move), a hint only:
    # the whole root is to be rescanned, and it may be empty (after "returned", or when a dead
    # watch was rebuilt). Always empty for "missing" and "returned".
    paths: frozenset[Path] = frozenset()


@dataclass
class _Burst:
    root: Path
    first: float
    last: float
    paths: set[Path] = field(default_factory=set)


@dataclass(frozen=True)
class _Target:
    """Where a root is right now: the identity that decides whether its watch is still good."""

    is_dir: bool
    real: str  # the root with symlinks resolved: what the OS reports events for
    watched: str  # the folder watched: the root itself, or a file root's parent
    dev: int  # st_dev and st_ino of `watched`: another folder at that path needs a new watch
    ino: int


@dataclass
class _Root:
    key: str
    path: Path
    present: bool | None = None  # None until first checked
    target: _Target | None = None
    handler: _Handler | None = None
    watch: ObservedWatch | None = None
    stale: bool = False  # its watch died: events may have been lost, so rescan once re-watched
    warned: bool = False  # a failure to watch it was logged already


class _Handler(FileSystemEventHandler):
    """Receives one root's events on watchdog's thread and hands them to the watcher."""

    def __init__(self, watcher: FolderWatcher, key: str, root: Path, target: _Target) -> None:
        self.watcher = watcher
        self.key = key
        self.root = root
        self.target = target
        self.active = True  # cleared, under the watcher's _cond, when the watch is dropped
        real = target.real
        self._prefix = real if real.endswith(os.sep) else real + os.sep
        watched = target.watched
        self._watched_prefix = watched if watched.endswith(os.sep) else watched + os.sep

    def dispatch(self, event: FileSystemEvent) -> None:
        # An exception here would end watchdog's observer thread, and with it every watch.
        try:
            self._handle(event)
        except Exception:
            logger.exception("error handling file system event %r", event)

    def _handle(self, event: FileSystemEvent) -> None:
        kind = event.event_type
        if kind in _NOISE or (event.is_directory and kind in _DIR_NOISE):
            return
        src = os.path.abspath(os.fsdecode(event.src_path)) if event.src_path else ""
        dest = os.path.abspath(os.fsdecode(event.dest_path)) if event.dest_path else ""
        if kind in ("deleted", "moved") and src and self._holds_watched(src):
            # The watched folder itself (or a folder above it) went away: check it now rather
            # than at the next poll.
            self.watcher._wake_supervisor()
        paths = {p for p in (self._owner_path(src), self._owner_path(dest)) if p is not None}
        ignore = self.watcher._ignore
        if ignore is not None:
            paths = {p for p in paths if not ignore(p)}
        if paths:
            self.watcher._note(self, paths)

    def _holds_watched(self, path: str) -> bool:
        return path == self.target.watched or self._watched_prefix.startswith(path + os.sep)

    def _owner_path(self, path: str) -> Path | None:
        """`path` as the owner names it (under the root it gave), or None if not in the root."""
        if not path:
            return None
        if not self.target.is_dir:
            return self.root if path == self.target.real else None
        if path.startswith(self._prefix):
            return self.root / path[len(self._prefix) :]
        return None  # outside the root, or the root folder itself


def _locate(root: Path) -> _Target | None:
    """Where `root` is now, or None if it is not there (or cannot be reached)."""
    try:
        st = os.stat(root)
        real = os.path.realpath(root)
        if stat.S_ISDIR(st.st_mode):
            return _Target(True, real, real, st.st_dev, st.st_ino)
        parent = os.path.dirname(real)
        pst = os.stat(parent)
    except OSError:
        return None
    return _Target(False, real, parent, pst.st_dev, pst.st_ino)


def _absolute(roots: Mapping[str, Path]) -> dict[str, Path]:
    return {key: Path(os.path.abspath(os.fspath(path))) for key, path in roots.items()}


class FolderWatcher:
    """Watches folders (or single files) and calls `on_event` when one needs rescanning.

    `roots` maps the owner's keys to paths. `on_event` runs on one dedicated thread, one call at
    a time, in order; an exception it raises is logged and dropped. `ignore(path)` filters the
    paths events name (absolute, under the root as given): the owner passes its skip rules.
    No callback is made for a root at start or when added, except "missing" if it is absent:
    the owner scans new roots itself.
    """

    def __init__(
        self,
        roots: Mapping[str, Path],
        on_event: Callable[[WatchEvent], None],
        *,
        debounce: float = 1.0,
        poll: float = 2.0,
        ignore: Callable[[Path], bool] | None = None,
    ) -> None:
        if debounce < 0 or poll <= 0:
            raise ValueError("debounce must be >= 0 and poll > 0")
        self._on_event = on_event
        self._debounce = debounce
        self._max_wait = MAX_WAIT_FACTOR * debounce
        self._poll = poll
        self._ignore = ignore

        self._life_lock = threading.Lock()  # start() and stop()
        self._roots_lock = threading.RLock()  # _roots, _observer, _watch_users, _running
        self._roots = {key: _Root(key, path) for key, path in _absolute(roots).items()}
        self._observer: BaseObserver | None = None
        # Roots on one folder with the same recursion share a watchdog watch (and its emitter).
        self._watch_users: dict[ObservedWatch, set[str]] = {}
        self._running = False

        self._cond = threading.Condition(threading.Lock())  # _bursts, _outbox, _stopping
        self._bursts: dict[str, _Burst] = {}
        self._outbox: deque[WatchEvent] = deque()
        self._stopping = False

        self._wake = threading.Event()
        self._dispatcher: threading.Thread | None = None
        self._supervisor: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Watch the roots; returns once the watches are in place. Does nothing if running."""
        with self._life_lock:
            if self._running:
                return
            with self._cond:
                self._stopping = False
                self._bursts.clear()
                self._outbox.clear()
            self._wake.clear()
            with self._roots_lock:
                self._observer = self._new_observer()
                self._watch_users.clear()
                for root in self._roots.values():
                    root.present, root.target, root.handler, root.watch = None, None, None, None
                    root.stale = root.warned = False
                self._running = True
                self._sweep()
            self._dispatcher = threading.Thread(
                target=self._dispatch_loop, name="memo-watch-dispatch", daemon=True
            )
            self._supervisor = threading.Thread(
                target=self._supervise_loop, name="memo-watch-supervisor", daemon=True
            )
            self._dispatcher.start()
            self._supervisor.start()

    def stop(self) -> None:
        """Stop watching and join every thread; pending events are dropped. Idempotent."""
        with self._life_lock:
            if not self._running:
                return
            with self._cond:
                self._stopping = True
                self._bursts.clear()
                self._outbox.clear()
                self._cond.notify_all()
            self._wake.set()
            current = threading.current_thread()
            for thread in (self._supervisor, self._dispatcher):
                # stop() may be called from the callback, on the dispatcher thread itself.
                if thread is not None and thread is not current:
                    thread.join(JOIN_TIMEOUT)
            with self._roots_lock:
                self._running = False
                for root in self._roots.values():
                    self._detach(root)
                observer, self._observer = self._observer, None
                self._watch_users.clear()
                if observer is not None:
                    self._end_observer(observer)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def set_roots(self, roots: Mapping[str, Path]) -> None:
        """Replace the watched roots. New ones are watched before this returns."""
        wanted = _absolute(roots)
        with self._roots_lock:
            for key, root in list(self._roots.items()):
                if wanted.get(key) != root.path:
                    del self._roots[key]
                    if self._running:
                        self._unwatch(root)
                        self._forget(key)
            for key, path in wanted.items():
                if key not in self._roots:
                    root = _Root(key, path)
                    self._roots[key] = root
                    if self._running:
                        self._check(root)

    # -- watches (under _roots_lock) ----------------------------------------------------------

    def _new_observer(self) -> BaseObserver:
        observer = Observer()
        observer.name = "memo-watch-observer"
        # Started before any watch is scheduled: a watch that fails to start then raises from
        # schedule() instead of from start(), where it would stop the whole observer.
        observer.start()
        return observer

    @staticmethod
    def _end_observer(observer: BaseObserver) -> None:
        try:
            observer.stop()
            observer.join(JOIN_TIMEOUT)
        except Exception:
            logger.exception("error stopping the file system observer")

    def _watch(self, root: _Root, target: _Target) -> bool:
        """Schedule a watch for `root` at `target`; False (logged once) if it cannot be."""
        assert self._observer is not None
        handler = _Handler(self, root.key, root.path, target)
        try:
            watch = self._observer.schedule(handler, target.watched, recursive=target.is_dir)
        except Exception as e:  # OSError mostly: vanished meanwhile, no permission, no watches left
            if not root.warned:
                logger.warning("cannot watch %s (%s); will retry", root.path, e)
                root.warned = True
            return False
        self._watch_users.setdefault(watch, set()).add(root.key)
        root.handler, root.watch, root.target, root.warned = handler, watch, target, False
        return True

    def _detach(self, root: _Root) -> tuple[_Handler | None, ObservedWatch | None]:
        """Forget `root`'s watch; its handler drops any event still on its way."""
        handler, watch = root.handler, root.watch
        root.handler = root.watch = None
        if handler is not None:
            with self._cond:
                handler.active = False
        return handler, watch

    def _unwatch(self, root: _Root) -> None:
        handler, watch = self._detach(root)
        if handler is None or watch is None or self._observer is None:
            return
        users = self._watch_users.get(watch, set())
        users.discard(root.key)
        try:
            if users:
                self._observer.remove_handler_for_watch(handler, watch)
            else:
                self._watch_users.pop(watch, None)
                self._observer.unschedule(watch)
        except Exception:
            # An emitter whose folder vanished may already be gone or fail to stop: the watch is
            # dropped either way.
            logger.debug("error dropping the watch on %s", root.path, exc_info=True)

    def _check(self, root: _Root) -> None:
        """Bring `root`'s watch in line with what is on disk, telling the owner of changes."""
        target = _locate(root.path)
        if target is None:
            if root.present is not False:
                self._unwatch(root)
                root.present, root.target, root.stale = False, None, False
                self._forget(root.key, queued=False)
                self._post(WatchEvent("missing", root.key, root.path))
            return
        if root.present and root.watch is not None and target == root.target:
            return
        was = root.present
        moved = was is True and root.target is not None and target != root.target
        self._unwatch(root)
        root.target = target
        watched = self._watch(root, target)
        root.present = True
        if was is False or moved:
            # Back, or another folder now at that path: the owner must look at it again.
            self._forget(root.key, queued=False)
            self._post(WatchEvent("returned", root.key, root.path))
            self._arm(root.key, root.path)
        elif root.stale and watched:
            self._arm(root.key, root.path)
        if watched:
            root.stale = False

    def _sweep(self) -> None:
        """One supervisor pass over every root."""
        observer = self._observer
        if observer is None:
            return
        if not observer.is_alive():
            logger.warning("file system observer stopped unexpectedly; restarting it")
            self._end_observer(observer)
            self._observer = self._new_observer()
            self._watch_users.clear()
            for root in self._roots.values():
                self._detach(root)
                root.stale = bool(root.present)
        else:
            dead = {e.watch for e in list(observer.emitters) if not e.is_alive()}
            for watch in dead & self._watch_users.keys():
                # An emitter can end on its own (its folder vanished, a backend error): drop
                # the watch so it is scheduled afresh, or the root reported missing.
                for key in self._watch_users.pop(watch):
                    if (user := self._roots.get(key)) is not None:
                        self._detach(user)
                        user.stale = bool(user.present)
                try:
                    observer.unschedule(watch)
                except Exception:
                    logger.debug("error dropping a dead watch", exc_info=True)
        for root in list(self._roots.values()):
            self._check(root)

    # -- events (under _cond) -----------------------------------------------------------------

    def _note(self, handler: _Handler, paths: set[Path]) -> None:
        """Called on watchdog's thread: add `paths` to the root's burst."""
        with self._cond:
            if handler.active and not self._stopping:
                self._add_to_burst(handler.key, handler.root, paths)

    def _arm(self, key: str, root: Path) -> None:
        with self._cond:
            if not self._stopping:
                self._add_to_burst(key, root, set())

    def _add_to_burst(self, key: str, root: Path, paths: set[Path]) -> None:
        now = time.monotonic()
        burst = self._bursts.get(key)
        if burst is None:
            self._bursts[key] = _Burst(root, now, now, set(paths))
            # Only a new burst can bring the next due time forward; later events push it back.
            self._cond.notify_all()
        else:
            burst.last = now
            burst.paths |= paths

    def _forget(self, key: str, *, queued: bool = True) -> None:
        """Drop the pending "changed" for `key` and, if `queued`, its events not yet sent."""
        with self._cond:
            self._bursts.pop(key, None)
            if queued and any(e.key == key for e in self._outbox):
                self._outbox = deque(e for e in self._outbox if e.key != key)

    def _post(self, event: WatchEvent) -> None:
        with self._cond:
            if not self._stopping:
                self._outbox.append(event)
                self._cond.notify_all()

    def _due(self, burst: _Burst) -> float:
        return min(burst.last + self._debounce, burst.first + self._max_wait)

    def _wake_supervisor(self) -> None:
        self._wake.set()

    # -- threads ------------------------------------------------------------------------------

    def _next_event(self) -> WatchEvent | None:
        """Block until an event is due and return it, or None once stopping."""
        with self._cond:
            while True:
                if self._stopping:
                    return None
                if self._outbox:
                    return self._outbox.popleft()
                now = time.monotonic()
                if not self._bursts:
                    self._cond.wait()
                    continue
                key, burst = min(self._bursts.items(), key=lambda kb: self._due(kb[1]))
                due = self._due(burst)
                if due > now:
                    self._cond.wait(due - now)
                    continue
                del self._bursts[key]
                return WatchEvent("changed", key, burst.root, frozenset(burst.paths))

    def _dispatch_loop(self) -> None:
        while (event := self._next_event()) is not None:
            if event.kind == "changed" and not os.path.exists(event.root):
                # Gone, most likely: never ask for a rescan of a missing root. Look now, on this
                # thread, so that "missing" is what the owner hears next.
                self._recheck(event)
                continue
            try:
                self._on_event(event)
            except Exception:
                logger.exception("watch callback failed on %s", event)

    def _recheck(self, event: WatchEvent) -> None:
        """Check the root of a "changed" that found it absent; hold the event back meanwhile."""
        with self._roots_lock:
            root = self._roots.get(event.key)
            if not self._running or root is None or root.path != event.root:
                return
            self._check(root)
            if root.present:
                # Back already (an editor replacing the file, say): rescan after the usual
                # wait, behind any "returned" that the check just posted.
                with self._cond:
                    if not self._stopping:
                        self._add_to_burst(event.key, event.root, set(event.paths))

    def _supervise_loop(self) -> None:
        while True:
            self._wake.wait(self._poll)
            self._wake.clear()
            with self._cond:
                if self._stopping:
                    return
            try:
                with self._roots_lock:
                    if self._running:
                        self._sweep()
            except Exception:
                logger.exception("error checking watched roots")
