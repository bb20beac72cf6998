"""FolderWatcher on real folders with real watchdog observers: bursts, moves, vanishing roots."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from memo_mlx.sources.watch import FolderWatcher, WatchEvent

DEBOUNCE = 0.2
POLL = 0.3
TIMEOUT = 10.0  # generous: a slow two-core CI machine must not fail these
QUIET = 2 * DEBOUNCE + 0.2  # long enough for a stray trailing "changed" to have arrived


class Recorder:
    """The owner's callback: records events; tests wait on it through a Condition."""

    def __init__(self) -> None:
        self.events: list[WatchEvent] = []
        self.cond = threading.Condition()
        self.threads: set[str] = set()

    def __call__(self, event: WatchEvent) -> None:
        with self.cond:
            self.events.append(event)
            self.threads.add(threading.current_thread().name)
            self.cond.notify_all()

    def wait_for(self, pred: Callable[[list[WatchEvent]], bool]) -> list[WatchEvent]:
        with self.cond:
            ok = self.cond.wait_for(lambda: pred(self.events), TIMEOUT)
            assert ok, f"timed out; events so far: {self.events}"
            return list(self.events)

    def wait_kind(self, kind: str, key: str | None = None, count: int = 1) -> list[WatchEvent]:
        return self.wait_for(lambda evs: len(_of(evs, kind, key)) >= count)

    def assert_quiet(self, seconds: float = QUIET) -> list[WatchEvent]:
        """No new event for `seconds`."""
        with self.cond:
            before = len(self.events)
            grew = self.cond.wait_for(lambda: len(self.events) > before, seconds)
            assert not grew, f"unexpected events: {self.events[before:]}"
            return list(self.events)


def _of(events: list[WatchEvent], kind: str, key: str | None = None) -> list[WatchEvent]:
    return [e for e in events if e.kind == kind and (key is None or e.key == key)]


def _kinds(events: list[WatchEvent]) -> list[str]:
    return [e.kind for e in events]


def _watcher_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("memo-watch")]


@pytest.fixture
def watch() -> Iterator[Callable[..., tuple[FolderWatcher, Recorder]]]:
    """Start a watcher over `roots` with a Recorder; every one is stopped after the test."""
    made: list[FolderWatcher] = []

    def make(
        roots: Mapping[str, Path],
        *,
        on_event: Callable[[WatchEvent], None] | None = None,
        debounce: float = DEBOUNCE,
        ignore: Callable[[Path], bool] | None = None,
    ) -> tuple[FolderWatcher, Recorder]:
        rec = Recorder()
        watcher = FolderWatcher(roots, on_event or rec, debounce=debounce, poll=POLL, ignore=ignore)
        made.append(watcher)
        watcher.start()
        return watcher, rec

    yield make
    for watcher in made:
        watcher.stop()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "Notes"
    path.mkdir()
    return path


def test_a_burst_of_writes_is_one_change(watch, root: Path) -> None:
    _, rec = watch({"notes": root})
    files = [root / f"note-{i}.txt" for i in range(50)]
    for f in files:
        f.write_text("hello")
    rec.wait_kind("changed")
    events = rec.assert_quiet()
    assert len(events) == 1
    (event,) = events
    assert (event.kind, event.key, event.root) == ("changed", "notes", root)
    assert set(files) <= event.paths
    assert rec.threads == {"memo-watch-dispatch"}


def test_a_steady_stream_does_not_postpone_forever(tmp_path: Path, watch, root: Path) -> None:
    debounce = 0.1  # so at most 1 s (10 x debounce) after the first write
    _, rec = watch({"notes": root}, debounce=debounce)
    start = time.monotonic()
    end = start + 2.0
    i = 0
    while time.monotonic() < end:
        (root / f"log-{i}.txt").write_text("tick")  # faster than the debounce, for 2 s
        i += 1
        time.sleep(debounce / 4)
        with rec.cond:
            if rec.events:
                break
    first = rec.wait_kind("changed")[0]
    assert time.monotonic() < end, "the stream postponed the change until it ended"
    assert root / "log-0.txt" in first.paths


def test_renames_and_moves_name_both_ends(watch, root: Path) -> None:
    (root / "a").mkdir()
    (root / "b").mkdir()
    (root / "a" / "x.txt").write_text("x")
    (root / "a" / "y.txt").write_text("y")
    _, rec = watch({"notes": root})
    os.rename(root / "a" / "x.txt", root / "a" / "x-renamed.txt")
    os.rename(root / "a" / "y.txt", root / "b" / "y.txt")
    expected = {
        root / "a" / "x.txt",
        root / "a" / "x-renamed.txt",
        root / "a" / "y.txt",
        root / "b" / "y.txt",
    }

    def seen(evs: list[WatchEvent]) -> set[Path]:
        return set().union(*(e.paths for e in _of(evs, "changed")))

    events = rec.wait_for(lambda evs: expected <= seen(evs))
    assert _kinds(events) == ["changed"]


def test_a_change_reports_only_its_own_root(tmp_path: Path, watch) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    _, rec = watch({"k1": one, "k2": two})
    (one / "a.txt").write_text("a")
    rec.wait_kind("changed")
    events = rec.assert_quiet()
    assert [(e.kind, e.key, e.root) for e in events] == [("changed", "k1", one)]


def test_a_deleted_root_is_missing_once_then_returns(watch, root: Path) -> None:
    (root / "sub").mkdir()
    (root / "sub" / "a.txt").write_text("a")
    _, rec = watch({"notes": root})
    shutil.rmtree(root)
    rec.wait_kind("missing")
    events = rec.assert_quiet(2 * POLL + 0.2)  # several supervisor passes
    assert [(e.kind, e.key, e.root) for e in events] == [("missing", "notes", root)]

    root.mkdir()
    (root / "back.txt").write_text("back")
    events = rec.wait_kind("changed")
    events = rec.assert_quiet()
    assert _kinds(events) == ["missing", "returned", "changed"]

    # The watch was established again: later changes are seen.
    (root / "later.txt").write_text("later")
    events = rec.wait_kind("changed", count=2)
    assert root / "later.txt" in events[-1].paths


def test_a_root_absent_at_start_is_missing_then_returns(tmp_path: Path, watch) -> None:
    root = tmp_path / "Volume" / "Notes"
    _, rec = watch({"usb": root})
    rec.wait_kind("missing")
    rec.assert_quiet(2 * POLL + 0.2)
    root.mkdir(parents=True)
    rec.wait_kind("changed")
    events = rec.assert_quiet()
    assert _kinds(events) == ["missing", "returned", "changed"]
    assert all(e.key == "usb" and e.root == root for e in events)


def test_a_folder_swapped_in_at_the_root_counts_as_returned(
    tmp_path: Path, watch, root: Path
) -> None:
    (root / "old.txt").write_text("old")
    _, rec = watch({"notes": root})
    os.rename(root, tmp_path / "Notes-old")
    root.mkdir()  # another folder (another inode) at the same path, before the next poll
    rec.wait_kind("returned")
    rec.wait_kind("changed")
    events = rec.assert_quiet()
    assert _kinds(events) in (["returned", "changed"], ["missing", "returned", "changed"])
    # The new folder is the one watched now.
    (root / "new.txt").write_text("new")
    events = rec.wait_for(lambda evs: any(root / "new.txt" in e.paths for e in evs))


def test_a_symlinked_root_reports_paths_under_the_link(tmp_path: Path, watch, root: Path) -> None:
    link = tmp_path / "Notes-link"
    link.symlink_to(root, target_is_directory=True)
    _, rec = watch({"notes": link})
    (root / "a.txt").write_text("a")
    (event,) = rec.wait_kind("changed")
    assert (event.root, event.paths) == (link, frozenset({link / "a.txt"}))


def test_ignored_paths_produce_no_event(watch, root: Path) -> None:
    def ignore(path: Path) -> bool:
        return ".git" in path.parts or path.suffix == ".swp"

    _, rec = watch({"notes": root}, ignore=ignore)
    (root / ".git").mkdir()
    (root / ".git" / "index").write_text("git")
    (root / ".note.md.swp").write_text("swap")
    (root / "foo.swp").write_text("swap")
    rec.assert_quiet()
    # Still watching, and the ignored paths do not ride along with a real change.
    (root / "note.md").write_text("# note")
    (root / "note.md.swp").write_text("swap")
    (event,) = rec.wait_kind("changed")
    assert event.paths == {root / "note.md"}


def test_idle_means_no_events_and_no_busy_threads(watch, root: Path) -> None:
    (root / "a.txt").write_text("a")
    _, rec = watch({"notes": root, "absent": root / "nope"})
    rec.wait_kind("missing")
    cpu = time.process_time()
    rec.assert_quiet(3 * POLL)
    # Only a handful of wakeups in 0.9 s; a polling loop would burn far more.
    assert time.process_time() - cpu < 0.25
    assert _kinds(rec.events) == ["missing"]


def test_reading_files_reports_nothing(watch, root: Path) -> None:
    """The owner's own scan opens, reads and stats every file: that must not loop back."""
    note = root / "note.md"
    note.write_text("# note")
    day = 86400
    os.utime(note, (time.time() - 3 * day, time.time() - 2 * day))  # relatime updates atime
    _, rec = watch({"notes": root})
    note.read_text()
    for path in root.rglob("*"):
        path.stat()
    rec.assert_quiet()


def test_a_failing_callback_does_not_stop_later_ones(
    watch, root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    rec = Recorder()
    calls = 0

    def flaky(event: WatchEvent) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("owner failed")
        rec(event)

    with caplog.at_level(logging.ERROR, logger="memo_mlx.sources.watch"):
        watch({"notes": root}, on_event=flaky)
        (root / "a.txt").write_text("a")
        deadline = time.monotonic() + TIMEOUT
        while calls == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert calls == 1
        (root / "b.txt").write_text("b")
        (event,) = rec.wait_kind("changed")
    assert root / "b.txt" in event.paths
    assert any("owner failed" in (r.exc_text or "") for r in caplog.records)


def test_stop_joins_every_thread_and_is_idempotent(root: Path) -> None:
    before = set(threading.enumerate())
    rec = Recorder()
    watcher = FolderWatcher({"notes": root}, rec, debounce=DEBOUNCE, poll=POLL)
    watcher.stop()  # before start: nothing to do
    with watcher:
        names = {t.name for t in _watcher_threads()}
        assert {"memo-watch-dispatch", "memo-watch-supervisor", "memo-watch-observer"} <= names
        (root / "a.txt").write_text("a")
        rec.wait_kind("changed")
        t0 = time.monotonic()
    assert time.monotonic() - t0 < 1.0
    watcher.stop()
    assert _watcher_threads() == []
    assert set(threading.enumerate()) <= before  # watchdog's own threads too


def test_a_stopped_watcher_can_start_again(root: Path) -> None:
    rec = Recorder()
    watcher = FolderWatcher({"notes": root}, rec, debounce=DEBOUNCE, poll=POLL)
    with watcher:
        pass
    (root / "unseen.txt").write_text("while stopped")
    with watcher:
        (root / "seen.txt").write_text("seen")
        (event,) = rec.wait_kind("changed")
    assert event.paths == {root / "seen.txt"}


def test_set_roots_adds_and_removes_while_running(tmp_path: Path, watch) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    watcher, rec = watch({"k1": one})
    watcher.set_roots({"k1": one, "k2": two})
    (two / "b.txt").write_text("b")
    rec.wait_kind("changed", "k2")

    watcher.set_roots({"k2": two})
    (one / "a.txt").write_text("a")
    rec.assert_quiet()
    (two / "c.txt").write_text("c")
    events = rec.wait_kind("changed", "k2", count=2)
    assert _of(events, "changed", "k1") == []


def test_a_single_file_root(watch, root: Path) -> None:
    note, sibling = root / "note.md", root / "other.md"
    note.write_text("one")
    sibling.write_text("other")
    _, rec = watch({"note": note})
    sibling.write_text("other, edited")
    rec.assert_quiet()
    note.write_text("two")
    (event,) = rec.wait_kind("changed")
    assert (event.key, event.root, event.paths) == ("note", note, frozenset({note}))

    # An editor's atomic save replaces the file: a change, not a missing root.
    tmp = root / ".note.md.tmp"
    tmp.write_text("three")
    os.replace(tmp, note)
    events = rec.wait_kind("changed", count=2)
    rec.assert_quiet()
    assert _kinds(events) == ["changed", "changed"]
    assert note in events[-1].paths


def test_a_dead_observer_is_restarted(watch, root: Path) -> None:
    watcher, rec = watch({"notes": root})
    observer = watcher._observer  # simulate watchdog's thread dying
    assert observer is not None
    observer.stop()
    observer.join()
    # Events may have been lost meanwhile, so the root is rescanned once watched again.
    (event,) = rec.wait_kind("changed")
    assert event.paths == frozenset()
    assert watcher._observer is not observer and watcher._observer.is_alive()
    (root / "after.txt").write_text("after")
    events = rec.wait_kind("changed", count=2)
    assert root / "after.txt" in events[-1].paths
