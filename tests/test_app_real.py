"""The app's promise on the real default model, through the real window: a folder dropped on
it is taught, and with the memory switched on a question about it is answered from it; with
the memory off, the base model does not know. Slow: a couple of minutes on a CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication

from memo_mlx.catalog import Catalog
from memo_mlx.settings import memo_home
from test_app import ask, drop, stall_meter
from test_teach_real import DOCS

# A short teach: six passes over the reflections (the default, for a folder this small, is 30).
SETTINGS = """
[teaching]
exposures = 0

[training]
epochs = 6

[recall]
mode = "direct"
"""
QUESTION = "Who designed the Hollow Bridge?"


@pytest.mark.slow(minutes=2)
@pytest.mark.usefixtures("gui_thread_sql")
def test_a_dropped_folder_answers_in_the_chat(qtbot, tmp_path: Path):
    from app.engine import EngineBridge
    from app.main import MainWindow, dress

    (memo_home() / "settings.toml").write_text(SETTINGS)
    folder = tmp_path / "aldren"
    folder.mkdir()
    # One note: learning itself is test_teach_real's; this is the window's path on the real
    # model, and a folder of one note takes a third of the teach.
    (folder / "bridge.md").write_text(DOCS["bridge.md"])
    dress(QApplication.instance())
    engine = EngineBridge(watch=False)
    with qtbot.waitSignal(engine.loaded, timeout=120_000):
        win = MainWindow(engine)
        qtbot.addWidget(win)
        win.show()
    states: list = []
    engine.teach_state.connect(states.append)
    stalls = stall_meter()
    drop(win, [folder])
    qtbot.waitUntil(lambda: any(s.phase in ("done", "failed") for s in states), timeout=900_000)
    stalls.stop()
    print(f"longest event-loop stall while teaching on the real model: "
          f"{max(stalls.gaps) * 1000:.0f} ms, {len(stalls.gaps)} ticks")
    # A hang, as Apple's tools count one, is 250 ms without the main thread answering. On this
    # 2-core CPU a real-model teach gives one or two gaps of 90-120 ms in two minutes while the
    # GUI thread sits idle in Qt's event loop: a sampler thread in the same process waited as
    # long at those moments, so it is the machine's scheduling, not work on the GUI thread (the
    # tiny-model test in test_app.py keeps the 100 ms bound).
    assert max(stalls.gaps) < 0.25
    done = next(s for s in states if s.phase in ("done", "failed"))
    assert done.phase == "done", done.error
    with Catalog() as catalog:
        memory = catalog.memory("aldren")
    qtbot.waitUntil(lambda: memory.id in win.chat.switches
                    and win.chat.switches[memory.id].isEnabled(), timeout=5_000)

    win.chat.switches[memory.id].setChecked(True)
    on, streamed = ask(qtbot, win, QUESTION)
    print(f"memory on: {on.answer!r} (sources {on.sources})")
    assert "Mara Quill" in on.answer and streamed.strip() == on.answer
    assert {Path(p).name for p in on.sources} == {"bridge.md"}

    win.chat.switches[memory.id].setChecked(False)
    win.new_chat()
    off, _ = ask(qtbot, win, QUESTION)
    print(f"memory off: {off.answer!r}")
    assert off.mode == "none" and "Mara Quill" not in off.answer
    win.close()
