"""What `memo` shows on a terminal while it works (#18): a resumed run says so, the time a
training takes is told before it starts, and what is said after a progress line starts on a
line of its own."""

from __future__ import annotations

import io
import sys

import pytest

from memo_mlx import cli
from memo_mlx.errors import MemoError
from memo_mlx.learning.teach import TeachProgress
from memo_mlx.learning.training import TrainProgress
from memo_mlx.reflections.synthesis import SynthesisProgress

CLEAR = "\r\x1b[K"


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def terminal(monkeypatch: pytest.MonkeyPatch) -> Tty:
    """stderr as a terminal, from here on (pytest sets its own between a test's fixtures and
    its body)."""
    tty = Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    monkeypatch.setattr(cli, "_partial_line", False)
    return tty


def interrupt_after(monkeypatch: pytest.MonkeyPatch, *shown: tuple[str, str],
                    error: BaseException | None = None) -> None:
    """`memo status` made to show progress lines, then be interrupted (or fail)."""

    def handler(args: object) -> int:
        for message, end in shown:
            cli._progress(message, end=end)
        raise error or KeyboardInterrupt

    monkeypatch.setattr(cli, "cmd_status", handler)


def test_interrupted_starts_on_its_own_line(monkeypatch):
    stderr = terminal(monkeypatch)
    interrupt_after(monkeypatch, ("Loading the model...", "\n"),
                    (f"{CLEAR}Training [##....] 3/10", ""))
    assert cli.main(["status"]) == cli.EXIT_INTERRUPTED
    # The progress stays in sight; the message is on the next line, not glued to it.
    assert stderr.getvalue() == (f"Loading the model...\n{CLEAR}Training [##....] 3/10\n"
                                 "memo: interrupted\n")


def test_a_cleared_line_takes_no_newline(monkeypatch):
    stderr = terminal(monkeypatch)
    interrupt_after(monkeypatch, (f"{CLEAR}Reading 1/3", ""), (CLEAR, ""))
    assert cli.main(["status"]) == cli.EXIT_INTERRUPTED
    assert stderr.getvalue() == f"{CLEAR}Reading 1/3{CLEAR}memo: interrupted\n"


def test_a_failure_after_a_progress_line_starts_on_its_own_line(monkeypatch):
    stderr = terminal(monkeypatch)
    interrupt_after(monkeypatch, (f"{CLEAR}Writing reflections 1/3", ""),
                    error=MemoError("the disk is full"))
    assert cli.main(["status"]) == cli.EXIT_FAILED
    assert stderr.getvalue().endswith("Writing reflections 1/3\nmemo: the disk is full\n")


def test_no_terminal_no_progress(monkeypatch):
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", piped)
    monkeypatch.setattr(cli, "_partial_line", False)
    interrupt_after(monkeypatch, (f"{CLEAR}Training 3/10", ""))
    assert cli.main(["status"]) == cli.EXIT_INTERRUPTED
    assert piped.getvalue() == "memo: interrupted\n"


def training(step: int, total: int = 162, resumed_from: int = 0,
             eta: float | None = None) -> TeachProgress:
    return TeachProgress("training", TrainProgress(
        step=step, total_steps=total, epoch=1, loss=float("nan") if step == resumed_from else 1.5,
        tokens=100 * step, tokens_per_second=0.0 if step == resumed_from else 80.0,
        eta_seconds=eta, resumed_from=resumed_from), eta, "notes")


def test_teach_progress_tells_the_time_before_and_while_training(monkeypatch):
    stderr = terminal(monkeypatch)
    cli._teach_progress(training(0, eta=545))
    assert stderr.getvalue() == f"{CLEAR}Training 162 steps · about 9 min"
    stderr.seek(0), stderr.truncate()
    cli._teach_progress(training(0))  # no earlier run on this computer: no number
    assert stderr.getvalue() == f"{CLEAR}Training 162 steps"
    stderr.seek(0), stderr.truncate()
    cli._teach_progress(training(65, eta=190))
    assert stderr.getvalue().endswith("65/162  loss 1.500  80 tok/s  ETA 3:10")
    stderr.seek(0), stderr.truncate()
    cli._teach_progress(training(1))
    assert stderr.getvalue().endswith("ETA -:--")
    stderr.seek(0), stderr.truncate()
    cli._teach_progress(TeachProgress(
        "synthesis", SynthesisProgress(1, 3, "direct", "/n/boat.md"), 62.0))
    assert stderr.getvalue() == f"{CLEAR}Writing reflections 2/3 (direct)  1:02 left  boat.md"


def test_a_resumed_training_says_so_once_on_a_line_of_its_own(monkeypatch):
    stderr = terminal(monkeypatch)
    cli._teach_progress(training(25, resumed_from=25, eta=400))
    cli._teach_progress(training(26, resumed_from=25, eta=390))
    shown = stderr.getvalue().split(CLEAR)
    assert shown[1:3] == ["Resuming 'notes' at step 25 of 162\n",
                          "Training 162 steps · about 7 min"]
    assert "Resuming" not in "".join(shown[3:])


def test_after_training_the_check_is_said(monkeypatch):
    from memo_mlx.learning.teach import CheckProgress

    stderr = terminal(monkeypatch)
    cli._teach_progress(TeachProgress("check", CheckProgress(12)))
    assert stderr.getvalue() == f"{CLEAR}Checking what it recalls: 12 test questions"
