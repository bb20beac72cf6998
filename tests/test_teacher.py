"""The background teacher on the tiny model and real folders: teaching in turn, watching,
pausing, questions first, quitting mid-training and resuming, re-teaching and removing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from memo_mlx.catalog import Catalog
from memo_mlx.learning.teach import adapter_dir
from memo_mlx.learning.teacher import ELSEWHERE, Teacher, TeachState
from memo_mlx.learning.training import checkpoint_dir
from memo_mlx.models.runtime import ModelRuntime
from memo_mlx.settings import memo_home
from memo_mlx.sources.ingest import add_paths

SETTINGS = """
[training]
rank = 4
epochs = {epochs}
checkpoint_every = 1000

[teaching]
exposures = 0

[watch]
debounce_seconds = 0.2
poll_seconds = 0.5
"""

TEXT = ("The Hollow Bridge in Port Aldren was designed by Mara Quill. It was finished in 1987 "
        "and is 412 metres long. Mara Quill was born in Tessaly in 1941.\n")


class States:
    """Every state the teacher reports, with a way to wait for one."""

    def __init__(self) -> None:
        self.seen: list[TeachState] = []
        self.cond = threading.Condition()
        self.hook: object = None

    def __call__(self, state: TeachState) -> None:
        with self.cond:
            self.seen.append(state)
            self.cond.notify_all()
        if callable(self.hook):
            self.hook(state)

    def wait(self, memory_id: int, phase: str, after: int = 0, timeout: float = 120) -> TeachState:
        def found() -> TeachState | None:
            return next((s for s in self.seen[after:]
                         if s.memory_id == memory_id and s.phase == phase), None)

        with self.cond:
            assert self.cond.wait_for(lambda: found() is not None, timeout), (
                f"no {phase!r} for memory {memory_id}: {[s.phase for s in self.seen]}")
            state = found()
        assert state is not None
        return state

    def phases(self, memory_id: int) -> list[str]:
        return [s.phase for s in self.seen if s.memory_id == memory_id]


@pytest.fixture
def runtime(tiny_model_env) -> Iterator[ModelRuntime]:
    with ModelRuntime() as rt:
        yield rt


def folder_memory(tmp_path: Path, name: str, epochs: int = 2) -> int:
    (memo_home() / "settings.toml").write_text(SETTINGS.format(epochs=epochs))
    folder = tmp_path / name
    folder.mkdir()
    (folder / "bridge.md").write_text(f"# {name}\n\n{TEXT}")
    with Catalog() as catalog:
        return add_paths(catalog, [folder], name).id


def test_requests_teach_in_turn_and_a_changed_file_is_taken_in(runtime, tmp_path):
    one, two = folder_memory(tmp_path, "one"), folder_memory(tmp_path, "two")
    states = States()
    teacher = Teacher(runtime, states)
    try:
        teacher.watch_folders()
        teacher.request_all()
        teacher.request(one)  # already queued: one teach, not two
        done = [states.wait(i, "done") for i in (one, two)]
        assert all(d.report and d.report.training for d in done)
        assert states.phases(one).count("done") == 1
        assert {"queued", "reading", "writing", "training"} <= set(states.phases(one))
        progress = [s for s in states.seen if s.phase == "training"]
        assert progress[-1].done == progress[-1].total and progress[-1].eta_seconds is not None

        mark = len(states.seen)
        (tmp_path / "one" / "more.md").write_text("The Lantern Night is held every October.\n")
        changed = states.wait(one, "done", after=mark)
        assert changed.report is not None and changed.report.scan.added == 1
        assert changed.report.strategy == "incremental"
    finally:
        teacher.close()


def test_pause_stops_and_keeps_the_memory_out_until_resumed(runtime, tmp_path):
    memory_id = folder_memory(tmp_path, "notes", epochs=40)
    states = States()
    teacher = Teacher(runtime, states, watch=False)
    paused = threading.Event()

    def pause_in_training(s: TeachState) -> None:
        if s.phase == "training" and s.done >= 3 and not paused.is_set():
            paused.set()
            teacher.pause(memory_id)

    states.hook = pause_in_training
    try:
        teacher.request(memory_id)
        states.wait(memory_id, "paused")
        assert teacher.wait_idle(30)
        with Catalog() as catalog:
            assert catalog.memory_by_id(memory_id).paused
            assert catalog.runs.of(memory_id)[-1]["status"] == "cancelled"
        mark = len(states.seen)
        teacher.request(memory_id)  # a paused memory is not taught
        assert teacher.wait_idle(30)
        assert "training" not in states.phases(memory_id)[mark:]
        mark = len(states.seen)
        teacher.resume(memory_id)
        done = states.wait(memory_id, "done", after=mark)
        assert done.report and done.report.training and done.report.training.resumed_from >= 3
        # The card's first word of it: where the training goes on, before its next step.
        first = next(s for s in states.seen[mark:] if s.phase == "training")
        assert first.done == first.resumed_from == done.report.training.resumed_from
        assert first.total == done.report.training.steps
    finally:
        teacher.close()


def test_a_question_stops_training_and_it_goes_on_after(runtime, tmp_path):
    memory_id = folder_memory(tmp_path, "notes", epochs=40)
    states = States()
    teacher = Teacher(runtime, states, watch=False)
    asked = threading.Event()
    events: list[str] = []

    def ask() -> None:
        with teacher.question():
            reply = runtime.generate([{"role": "user", "content": "hello"}], max_tokens=4)
            events.append(f"answered: {reply.result(timeout=60).finish_reason}")

    def question_during_training(state: TeachState) -> None:
        if state.phase == "training" and state.done >= 2 and not asked.is_set():
            asked.set()
            threading.Thread(target=ask).start()
        if state.phase == "done":
            events.append("taught")

    states.hook = question_during_training
    try:
        teacher.request(memory_id)
        done = states.wait(memory_id, "done")
        # The answer did not wait for the 300 epochs: training stopped, then went on.
        assert events == ["answered: length", "taught"]
        assert done.report and done.report.training
        assert 2 <= done.report.training.resumed_from < done.report.training.steps
        with Catalog() as catalog:
            assert [r["status"] for r in catalog.runs.of(memory_id)] == ["cancelled", "done"]
    finally:
        teacher.close()


def test_quitting_mid_training_resumes_at_the_next_start(runtime, tmp_path):
    memory_id = folder_memory(tmp_path, "notes", epochs=40)
    states = States()
    first = Teacher(runtime, states, watch=False)
    closing = threading.Event()
    states.hook = lambda s: (s.phase == "training" and s.done >= 3 and not closing.is_set()
                             and (closing.set() or threading.Thread(target=first.close).start()))
    first.request(memory_id)
    assert closing.wait(60)
    first._thread.join(60)
    assert not first._thread.is_alive()
    with Catalog() as catalog:
        folder = adapter_dir(catalog.memory_by_id(memory_id))
    assert (checkpoint_dir(folder) / "state.json").exists(), "a checkpoint to resume from"

    states2 = States()
    second = Teacher(runtime, states2, watch=False)
    try:
        second.request_all()  # what the app does at start
        done = states2.wait(memory_id, "done")
        assert done.report and done.report.training and done.report.training.resumed_from >= 3
    finally:
        second.close()


def test_retrain_and_remove(runtime, tmp_path):
    memory_id = folder_memory(tmp_path, "notes")
    states = States()
    teacher = Teacher(runtime, states, watch=False)
    try:
        teacher.request(memory_id)
        states.wait(memory_id, "done")
        with Catalog() as catalog:
            first = catalog.runs.adapter(memory_id)
        assert first is not None
        mark = len(states.seen)
        during: list[dict | None] = []

        def look(state: TeachState) -> None:  # called while training waits for it
            if state.phase == "training" and not during:
                with Catalog() as catalog:
                    during.append(catalog.runs.adapter(memory_id))

        states.hook = look
        teacher.retrain(memory_id)
        again = states.wait(memory_id, "done", after=mark)
        assert again.report and again.report.strategy == "full"
        assert again.report.training and again.report.training.resumed_from == 0
        # While it retrained, the memory answered with the adapter it had.
        assert during and during[0] is not None and during[0]["id"] == first["id"]
        assert Path(during[0]["path"]).exists()
        with Catalog() as catalog:
            folder = adapter_dir(catalog.memory_by_id(memory_id))
            assert catalog.runs.adapter(memory_id)["id"] != first["id"]
        assert folder.exists()
        teacher.remove(memory_id)
        states.wait(memory_id, "removed")
        with Catalog() as catalog:
            assert catalog.memories() == [] and catalog.integrity_check() == "ok"
        assert not folder.exists()
        assert (tmp_path / "notes" / "bridge.md").exists()  # the user's files are untouched
    finally:
        teacher.close()


def test_a_teach_elsewhere_is_said_and_waited_for(runtime, tmp_path):
    """`memo teach` holds the memory (another process: here the same real file lock taken by
    another thread): the teacher says it waits for it, then teaches once it is done."""
    memory_id = folder_memory(tmp_path, "notes")
    states = States()
    held, release = threading.Event(), threading.Event()

    def other_teach() -> None:
        with Catalog() as catalog, catalog.lock(f"teach-{memory_id}"):
            held.set()
            release.wait(60)

    other = threading.Thread(target=other_teach)
    other.start()
    teacher = Teacher(runtime, states, watch=False)
    try:
        assert held.wait(10)
        teacher.request(memory_id)
        waiting = states.wait(memory_id, "queued")
        while not waiting.detail:
            waiting = states.wait(memory_id, "queued", after=states.seen.index(waiting) + 1)
        assert waiting.detail == ELSEWHERE
        assert "done" not in states.phases(memory_id)
        release.set()
        states.wait(memory_id, "done")
    finally:
        release.set()
        other.join()
        teacher.close()


def test_queued_is_said_before_the_teach_it_announces(runtime, tmp_path):
    """A listener slow to take "queued" still hears it before the teach's own states: said
    after, it could follow "done", and the card would wait for a teach that had ended."""
    memory_id = folder_memory(tmp_path, "notes")
    heard: list[str] = []
    done = threading.Event()

    def slow(state: TeachState) -> None:
        if state.phase == "queued":
            threading.Event().wait(0.3)  # the worker is free to start meanwhile, if it may
        heard.append(state.phase)
        if state.phase == "done":
            done.set()

    teacher = Teacher(runtime, slow, watch=False)
    try:
        teacher.request(memory_id)
        assert done.wait(120)
        assert heard[0] == "queued" and heard[-1] == "done", heard
        # After training, the check of what it recalls is a phase of its own.
        assert heard[-2] == "checking" and "training" in heard[:-2], heard
    finally:
        teacher.close()
