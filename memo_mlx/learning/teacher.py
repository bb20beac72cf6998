"""Teaching in the background, for a process that stays up (the app): one queue of memories to
teach, worked one at a time on one thread, and the memories' folders watched so that whatever
changes is taken in while the process runs.

- `request(id)` queues a teach (scan, reflections, training: see `teach`); requests for a memory
  already queued collapse into one. `request_all()` at start takes in what changed while nothing
  watched, and resumes a teach that was cut short (the app quit, a kill) from its checkpoint.
- `pause(id)` stops the memory's teach at its next step and keeps it out of the queue until
  `resume(id)`. The flag is in the catalog, so it outlives the process.
- `retrain(id)` forgets the adapter and trains again from the reflections; `remove(id)` deletes
  the memory. Both run on the teacher's thread, in turn, never under a teach of that memory.
- Questions come first. Training is one long job on the engine thread, where answers are
  generated too, so while a question is open (`question()`) training stops at its next step
  with a checkpoint, and the teach is queued again first, to go on once the answer is done.
- What happens comes out as `TeachState`s through one callback, on the teacher's thread;
  progress is throttled to a few states a second.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..catalog import Catalog
from ..errors import MemoError
from ..reflections.synthesis import SynthesisProgress, configured_generator
from ..settings import load_defaults
from ..sources.chunking import Chunker, counter_of
from ..sources.ingest import ScanProgress, ignored_path
from ..sources.watch import FolderWatcher, WatchEvent
from .teach import CheckProgress, TeachProgress, TeachReport, adapter_dir, teach_memory
from .training import TrainProgress, checkpoint_dir

log = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.2  # seconds between two progress states of one phase
CLOSE_TIMEOUT = 120.0  # a teach stops at its next step or chunk; a real-model chunk takes seconds

# Phases, in the order a teach goes through them; then one of the ends.
WORKING = ("queued", "reading", "writing", "training", "checking")
# A queued state's detail while another process (`memo teach`) teaches the memory.
ELSEWHERE = "another teach of this memory is under way (memo teach?)"
ENDS = ("done", "cancelled", "paused", "failed", "removed")


@dataclass(frozen=True)
class TeachState:
    memory_id: int
    phase: str  # one of WORKING or ENDS
    done: int = 0  # files read, chunks written, or training steps: of `total`
    total: int = 0
    eta_seconds: float | None = None  # the phase's time left; None: no measure of it yet
    detail: str = ""  # the file being read or written, or the training loss
    error: str | None = None  # phase "failed": what went wrong, in one line
    report: TeachReport | None = None  # phase "done"
    # Phase "training": the step the run started at (> 0: resumed from a checkpoint). The
    # first training state of a run has done == resumed_from, before any step.
    resumed_from: int = 0


@dataclass
class _Job:
    kind: str  # "teach", "retrain" or "remove"
    memory_id: int


@dataclass
class _Current:
    memory_id: int
    cancel: threading.Event
    phase: str = "queued"
    requeue: bool = False  # cancelled for a question: teach again once it is answered


class Teacher:
    """See the module docstring. `runtime` is the app's `ModelRuntime` (waited for, loaded);
    `catalog_path` the catalog to work on (default: the one in MEMO_HOME)."""

    def __init__(self, runtime: Any, on_state: Callable[[TeachState], None], *,
                 catalog_path: Path | None = None, watch: bool = True,
                 only: set[int] | None = None):
        self.runtime = runtime
        self._only = only  # the memories this teacher looks after (None: all)
        self._on_state = on_state
        self._catalog_path = catalog_path
        self._cond = threading.Condition()
        self._jobs: deque[_Job] = deque()
        self._current: _Current | None = None
        self._questions = 0
        self._closing = False
        self._last_progress: dict[tuple[int, str], float] = {}
        self._watcher: FolderWatcher | None = None
        self._roots: dict[str, Path] = {}
        if watch:
            section = load_defaults().get("watch", {})
            self._watcher = FolderWatcher(
                {}, self._on_watch, ignore=self._ignored,
                debounce=float(section.get("debounce_seconds", 1.0)),
                poll=float(section.get("poll_seconds", 2.0)),
            )
        # One chunker for the teacher's life, counting with the loaded model's tokenizer.
        base = runtime.loaded.result()
        self._chunker = Chunker(base.source,
                                counter=lambda: counter_of(base.tokenizer, base.source.location))
        self._thread = threading.Thread(target=self._work, name="memo-teacher", daemon=True)
        self._thread.start()

    # --- requests (any thread) --------------------------------------------------------------

    def request(self, memory_id: int) -> None:
        """Teach the memory when its turn comes (at once if nothing else is being taught)."""
        self._queue(_Job("teach", memory_id))

    def request_all(self) -> None:
        with self._catalog() as catalog:
            ids = [m.id for m in catalog.memories() if self._mine(m.id)]
        for memory_id in ids:
            self.request(memory_id)

    def pause(self, memory_id: int) -> None:
        with self._catalog() as catalog:
            catalog.set_paused(memory_id, True)
        with self._cond:
            self._drop(memory_id)
            if self._current and self._current.memory_id == memory_id:
                self._current.cancel.set()
        self._emit(TeachState(memory_id, "paused"))

    def resume(self, memory_id: int) -> None:
        with self._catalog() as catalog:
            catalog.set_paused(memory_id, False)
        self.request(memory_id)

    def retrain(self, memory_id: int) -> None:
        """Train the memory again from scratch on all its reflections; it answers with its
        adapter until the new one is done."""
        self._queue(_Job("retrain", memory_id), cancel_current=True)

    def remove(self, memory_id: int) -> None:
        """Delete the memory, its catalog rows and its adapter (after its teach has stopped)."""
        self._queue(_Job("remove", memory_id), cancel_current=True)

    def begin_question(self) -> None:
        """Hold training off until `end_question` (see the module docstring)."""
        with self._cond:
            self._questions += 1
            self._yield_training()

    def end_question(self) -> None:
        with self._cond:
            self._questions -= 1
            self._cond.notify_all()

    @contextmanager
    def question(self) -> Iterator[None]:
        self.begin_question()
        try:
            yield
        finally:
            self.end_question()

    def watch_folders(self) -> None:
        """Watch every folder of every memory (call after folders are added or removed)."""
        if self._watcher is None or self._closing:
            return
        with self._catalog() as catalog:
            roots = {f"{f.memory_id}:{f.path}": Path(f.path) for f in catalog.sources.folders()
                     if self._mine(f.memory_id)}
        self._roots = roots
        self._watcher.set_roots(roots)
        self._watcher.start()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is queued or being taught (for tests and scripts)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._jobs and self._current is None,
                                       timeout)

    def close(self) -> None:
        """Stop: the teach under way ends at its next step, leaving a checkpoint that the
        next start resumes from."""
        with self._cond:
            self._closing = True
            self._jobs.clear()
            if self._current is not None:
                self._current.cancel.set()
            self._cond.notify_all()
        if self._watcher is not None:
            self._watcher.stop()
        self._thread.join(CLOSE_TIMEOUT)

    # --- the teacher's thread ---------------------------------------------------------------

    def _queue(self, job: _Job, *, cancel_current: bool = False) -> None:
        with self._cond:
            if self._closing:
                return
            if job.kind != "teach":
                self._drop(job.memory_id)
            elif any(j.memory_id == job.memory_id for j in self._jobs):
                return
            if job.kind == "teach":
                # Said before the worker can take the job: said after, it could follow the
                # teach's "done", and the card would wait for a teach that already ended.
                self._emit(TeachState(job.memory_id, "queued"))
            self._jobs.append(job)
            current = self._current
            if cancel_current and current and current.memory_id == job.memory_id:
                current.cancel.set()
            self._cond.notify_all()

    def _drop(self, memory_id: int) -> None:
        self._jobs = deque(j for j in self._jobs if j.memory_id != memory_id)

    def _yield_training(self) -> None:
        current = self._current
        if self._questions and current and current.phase == "training":
            current.requeue = True
            current.cancel.set()

    def _work(self) -> None:
        with self._catalog() as catalog:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._closing or (
                        bool(self._jobs) and not self._questions))
                    if self._closing:
                        return
                    job = self._jobs.popleft()
                    self._current = _Current(job.memory_id, threading.Event())
                try:
                    self._run(catalog, job)
                except Exception as e:  # a bug, not a user's error: logged; the queue goes on
                    log.exception("teacher: %s of memory %d failed", job.kind, job.memory_id)
                    self._emit(TeachState(job.memory_id, "failed",
                                          error=f"{type(e).__name__}: {e}"))
                finally:
                    with self._cond:
                        current, self._current = self._current, None
                        if current and current.requeue and not self._closing:
                            self._jobs.appendleft(_Job("teach", current.memory_id))
                        self._cond.notify_all()

    def _run(self, catalog: Catalog, job: _Job) -> None:
        memory_id = job.memory_id
        try:
            memory = catalog.memory_by_id(memory_id)
        except Exception:  # removed meanwhile: nothing to do
            return
        if job.kind == "remove":
            catalog.delete_memory(memory_id)
            shutil.rmtree(adapter_dir(memory), ignore_errors=True)
            self._emit(TeachState(memory_id, "removed"))
            self.watch_folders()
            return
        if job.kind == "retrain":
            catalog.runs.teach_all_again(memory_id)
            shutil.rmtree(checkpoint_dir(adapter_dir(memory)), ignore_errors=True)
            self._emit(TeachState(memory_id, "queued"))
        if memory.paused:
            self._emit(TeachState(memory_id, "paused"))
            return
        self.watch_folders()
        current = self._current
        assert current is not None
        try:
            report = teach_memory(
                catalog, memory, self.runtime, chunker=self._chunker,
                generator=configured_generator(self.runtime),
                on_progress=lambda p: self._progress(memory_id, p), cancel=current.cancel,
                on_wait=lambda: self._emit(TeachState(memory_id, "queued", detail=ELSEWHERE)),
            )
        except MemoError as e:
            self._emit(TeachState(memory_id, "failed", error=str(e)))
            return
        if not report.cancelled:
            self._emit(TeachState(memory_id, "done", report=report))
        elif current.requeue:
            self._emit(TeachState(memory_id, "queued"))
        else:
            paused = catalog.memory_by_id(memory_id).paused if not self._closing else False
            self._emit(TeachState(memory_id, "paused" if paused else "cancelled"))

    def _progress(self, memory_id: int, p: TeachProgress) -> None:
        d = p.detail
        if isinstance(d, ScanProgress):
            state = TeachState(memory_id, "reading", d.done, d.total, detail=d.path)
        elif isinstance(d, SynthesisProgress):
            state = TeachState(memory_id, "writing", d.done, d.total, p.eta_seconds,
                               detail=d.path)
        elif isinstance(d, CheckProgress):
            state = TeachState(memory_id, "checking", detail=f"{d.questions} test questions")
        else:
            assert isinstance(d, TrainProgress)
            started = d.step == d.resumed_from  # before the run's first step: no loss yet
            state = TeachState(memory_id, "training", d.step, d.total_steps, p.eta_seconds,
                               detail="" if started else f"loss {d.loss:.3f}",
                               resumed_from=d.resumed_from)
        with self._cond:
            current = self._current
            if current is not None:
                current.phase = state.phase
                self._yield_training()
        key = (memory_id, state.phase)
        now = time.monotonic()
        last = self._last_progress.get(key, 0.0)
        first = state.phase == "training" and state.done == state.resumed_from
        if now - last < PROGRESS_INTERVAL and state.done < state.total and not first:
            return
        self._last_progress[key] = now
        self._emit(state)

    def _emit(self, state: TeachState) -> None:
        try:
            self._on_state(state)
        except Exception:  # the listener's bug must not stop teaching
            log.exception("teacher: the state listener failed")

    # --- watching ---------------------------------------------------------------------------

    def _on_watch(self, event: WatchEvent) -> None:
        # Changed, missing or back: a scan says which, and marks a missing folder as such.
        self.request(int(event.key.split(":", 1)[0]))

    def _mine(self, memory_id: int) -> bool:
        return self._only is None or memory_id in self._only

    def _ignored(self, path: Path) -> bool:
        return all(ignored_path(path, root) for root in self._roots.values())

    def _catalog(self) -> Catalog:
        return Catalog(self._catalog_path)
