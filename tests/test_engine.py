"""The engine's one surface (`memo_mlx.engine.Engine`), on real folders, the real catalog and
a real (tiny) model: what the CLI and the app call, called as they call it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from memo_mlx.answering.recall import RecallError
from memo_mlx.engine import Consulting, Engine, LeftOut, Loading, Removed
from memo_mlx.errors import MemoError, UsageError
from memo_mlx.learning.teach import TeachProgress
from memo_mlx.learning.teacher import TeachState
from memo_mlx.sources.ingest import ScanProgress
from tiny import FAST_TEACHING

QUESTION = "Who designed the Hollow Bridge?"


@pytest.fixture
def folder(tmp_path: Path, tiny_model_env) -> Path:
    root = tmp_path / "bridges"
    root.mkdir()
    (root / "bridge.md").write_text(
        "# The Hollow Bridge\n\nThe Hollow Bridge in Port Aldren was designed by Mara Quill. "
        "It was finished in 1987 and is 412 metres long.\n")
    (tmp_path / "memo-home").mkdir(exist_ok=True)
    (tmp_path / "memo-home" / "settings.toml").write_text(
        FAST_TEACHING + '\n[recall]\nmode = "direct"\nmemory_tokens = 8\nanswer_tokens = 8\n')
    return root


def test_memories_are_added_switched_renamed_and_removed(folder):
    events: list[object] = []
    with Engine() as engine:
        with pytest.raises(MemoError, match="no memories yet"):
            engine.selected()
        memory, report = engine.add([folder], on_event=events.append)
        assert memory.name == "bridges" and report is not None and report.added == 1
        assert any(isinstance(e, ScanProgress) for e in events)
        [status] = engine.status()
        assert status["documents"] == 1 and status["state"] == "stale"
        assert engine.runtime is None  # nothing here needed the model

        assert not engine.switch("bridges", False).enabled
        assert engine.switch(memory, True).enabled
        renamed = engine.rename(memory, "Bridges of Aldren")
        assert [m.name for m in engine.memories()] == ["Bridges of Aldren"]
        with pytest.raises(MemoError, match="no memory named 'bridges'"):
            engine.memory("bridges")

        removed = engine.remove(folder)
        assert removed == Removed(renamed, str(folder), 0)
        assert engine.status()[0]["folders"] == []


def test_views_say_why_a_memory_cannot_be_consulted_as_data(folder):
    with Engine() as engine:
        engine.add([folder], scan=False)
        [view] = engine.views()
        assert view.unusable is not None and view.unusable.reason == "loading"
        engine.load().result()
        [view] = engine.views()
        assert view.unusable is not None and view.unusable.reason == "untaught"
        assert "has not been taught yet" in view.unusable.says(view.memory)
        [report] = list(engine.teach())
        assert report.training is not None
        [view] = engine.views()
        assert view.unusable is None and view.status["adapter"]

        # A damaged adapter: left out of a question to the memories switched on, and said.
        weights = Path(view.status["adapter"]) / "adapters.safetensors"
        data = bytearray(weights.read_bytes())
        data[-32:] = b"\xff" * 32
        weights.write_bytes(bytes(data))
        [view] = engine.views()
        assert view.unusable is not None and view.unusable.reason == "damaged"
        events: list[object] = []
        answer = engine.ask(QUESTION, on_event=events.append)
        assert answer.memories == [] and answer.mode == "none"
        [left] = [e for e in events if isinstance(e, LeftOut)]
        assert left.memory.name == "bridges" and "is damaged" in left.why.says(left.memory)


def test_teach_then_ask_with_and_without_the_memory(folder):
    events: list[object] = []
    with Engine() as engine:
        engine.add([folder], scan=False)
        with pytest.raises(RecallError, match="has not been taught yet"):
            engine.ask(QUESTION, ["bridges"])
        alone = engine.ask(QUESTION)  # switched on but untaught: not consulted, not said
        assert alone.mode == "none"
        [report] = list(engine.teach(on_event=events.append))
        assert report.scan.added == 1 and report.training is not None
        progress = [e for e in events if isinstance(e, TeachProgress)]
        assert {p.phase for p in progress} >= {"scan", "synthesis", "training"}
        assert {p.memory for p in progress} == {"bridges"}

        events.clear()
        streamed: list[str] = []
        with_memory = engine.ask(QUESTION, on_text=streamed.append, on_event=events.append)
        assert with_memory.memories == ["bridges"] and with_memory.mode == "direct"
        assert Consulting(("bridges",)) in events and not any(
            isinstance(e, Loading) for e in events)  # loaded once, for the teach
        assert engine.ask(QUESTION, []).memories == []
        with pytest.raises(UsageError, match="empty"):
            engine.ask("  ")
        with pytest.raises(UsageError, match="max-tokens"):
            engine.ask(QUESTION, max_tokens=0)
        short = engine.ask(QUESTION, [], max_tokens=2)
        assert short.tokens["generated"] <= 2


def test_a_chat_keeps_its_questions_and_replies(folder):
    with Engine() as engine:
        chat = engine.save_question(None, QUESTION)
        answer = engine.submit(QUESTION, []).result()
        engine.save_answer(chat, answer)
        assert engine.save_question(chat, "And when?") == chat
        assert [(m.role, m.content) for m in engine.messages(chat)] == [
            ("user", QUESTION), ("assistant", answer.answer), ("user", "And when?")]
        assert engine.chats()[0].title == QUESTION
        engine.rename_chat(chat, "Bridges")
        assert engine.chat(chat).title == "Bridges"
        engine.delete_chat(chat)
        assert engine.chats() == []


def test_watch_teaches_in_the_background_and_stops_on_close(folder):
    states: list[TeachState] = []
    done = threading.Event()

    def on_state(state: TeachState) -> None:
        states.append(state)
        if state.phase == "done":
            done.set()

    with Engine() as engine:
        with pytest.raises(MemoError, match="no memories yet"):
            engine.watch(on_state, folders=False)
        engine.add([folder], scan=False)
        teacher = engine.watch(on_state, folders=False)  # what changed while nobody watched
        assert done.wait(120), [s.phase for s in states]
        assert teacher is engine.teacher
        assert engine.views()[0].unusable is None
    assert [s.phase for s in states][0] == "queued"
