"""The memory card's state line while a memory is taught (#18): what the time goes to, and a
resumed training saying where it goes on. `state_line` is a pure function of the memory's
status and the teacher's last state."""

from __future__ import annotations

from typing import Any

from app.sidebar import state_line
from memo_mlx.learning.teacher import TeachState

STATUS: dict[str, Any] = {"paused": False, "documents": 3, "reflections": 40, "adapter": None,
                          "state": "stale", "chunks": 3, "failed": 0, "missing": []}


def line(**state: Any) -> str:
    return state_line(STATUS, TeachState(1, **state))


def test_training_tells_its_length_and_its_time_before_the_first_step():
    assert line(phase="training", total=162, eta_seconds=545) == "Training 162 steps · about 9 min"
    assert line(phase="training", total=162, eta_seconds=20) == (
        "Training 162 steps · under a minute")
    # No earlier run on this computer to tell it by: no number rather than a wrong one.
    assert line(phase="training", total=162) == "Training 162 steps"


def test_training_tells_how_far_and_the_time_left():
    assert line(phase="training", done=65, total=162, eta_seconds=190) == (
        "Training 162 steps · 40% · 3:10 left")
    assert line(phase="training", done=1, total=162) == "Training 162 steps · 1%"
    assert line(phase="training", done=10, total=1600, eta_seconds=4 * 3600 + 5) == (
        "Training 1600 steps · 1% · 4:00:05 left")


def test_a_resumed_training_says_where_it_goes_on():
    assert line(phase="training", done=25, total=162, resumed_from=25, eta_seconds=400) == (
        "Resuming at step 25 of 162 · about 7 min")
    assert line(phase="training", done=25, total=162, resumed_from=25) == (
        "Resuming at step 25 of 162")
    assert line(phase="training", done=26, total=162, resumed_from=25, eta_seconds=390) == (
        "Training 162 steps · 16% · 6:30 left")


def test_writing_reflections_tells_the_time_left_once_a_chunk_is_done():
    assert line(phase="writing", done=0, total=3) == "Writing reflections 1/3"
    assert line(phase="writing", done=1, total=3, eta_seconds=62) == (
        "Writing reflections 2/3 · 1:02 left")


def test_a_teach_elsewhere_is_what_it_waits_for():
    from memo_mlx.learning.teacher import ELSEWHERE

    assert line(phase="queued", detail=ELSEWHERE) == f"Waiting: {ELSEWHERE}"
    assert line(phase="queued") == "Waiting to learn"


def test_after_training_the_check_is_said():
    assert line(phase="checking", detail="12 test questions") == (
        "Checking what it recalls: 12 test questions")
