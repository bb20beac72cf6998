"""The Settings dialog, driven as a user would, writing real settings files."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from app.settings_dialog import SettingsDialog
from memo_mlx.settings import (
    data_folder_pointer,
    memo_home,
    save_user_settings,
    set_data_folder,
    user_settings,
)


@pytest.fixture
def warnings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts of the warnings the dialog shows, instead of a modal box."""
    shown: list[str] = []

    def record(parent: object, title: str, text: str, *args: object) -> object:
        shown.append(text)
        return QMessageBox.StandardButton.Ok

    monkeypatch.setattr(QMessageBox, "warning", record)
    return shown


def _open(qtbot) -> SettingsDialog:
    dialog = SettingsDialog()
    qtbot.addWidget(dialog)
    dialog.show()
    return dialog


def test_defaults_are_shown(qtbot):
    dialog = _open(qtbot)
    assert dialog.model_builtin.isChecked()
    assert dialog.generator.local.isChecked() and not dialog.generator.url.isEnabled()
    assert dialog.executive.local.isChecked() and not dialog.executive.model.isEnabled()
    assert not dialog.allow_remote.isChecked()
    assert dialog.strength.currentData() == "normal"
    assert dialog.data_folder.text() == str(memo_home())
    assert not dialog.data_choose.isEnabled()  # conftest sets MEMO_HOME


def test_every_hint_is_shown_whole(qtbot):
    """Qt sizes a window by its layout's size hint, not by height for width: the dialog came
    up 608 px tall where its wrapped hints need 692 at its width, the executive's three lines
    squeezed into two over the field above them."""
    from PySide6.QtWidgets import QLabel

    dialog = _open(qtbot)
    qtbot.waitExposed(dialog)
    for width in (dialog.width(), dialog.width() + 200):
        dialog.resize(width, dialog.height())
        qtbot.wait(10)
        cut = [(label.text()[:40], label.height(), label.heightForWidth(label.width()))
               for label in dialog.findChildren(QLabel)
               if label.wordWrap() and label.isVisible()
               and label.height() < label.heightForWidth(label.width())]
        assert not cut, (width, cut)


def test_accept_saves_and_names_what_changed(qtbot, warnings: list[str]):
    save_user_settings({"recall": {"mode": "direct"}})
    (memo_home() / "settings.toml").write_text(
        "# mine\n" + (memo_home() / "settings.toml").read_text())
    dialog = _open(qtbot)
    dialog.model_hub.setChecked(True)
    dialog.hub_id.setText("mlx-community/Qwen2.5-0.5B-Instruct-4bit")
    dialog.generator.server.setChecked(True)
    dialog.generator.url.setText("http://localhost:1234/v1")
    dialog.generator.model.setText("qwen2.5-7b")
    dialog.executive.server.setChecked(True)
    dialog.executive.url.setText("http://127.0.0.1:11434/v1/")
    dialog.strength.setCurrentIndex(dialog.strength.findText("Thorough"))

    with qtbot.waitSignal(dialog.changed) as signal:
        dialog.accept()
    assert signal.args == [{"model", "generator", "executive", "strength"}]
    assert warnings == []
    assert not dialog.isVisible()
    assert user_settings() == {
        "recall": {"mode": "direct"},
        "model": {"spec": "mlx-community/Qwen2.5-0.5B-Instruct-4bit"},
        "synthesis": {"generator_url": "http://localhost:1234/v1", "generator_model": "qwen2.5-7b"},
        "executive": {"url": "http://127.0.0.1:11434/v1", "model": ""},
        "teaching": {"exposures": 1200},
    }
    assert (memo_home() / "settings.toml").read_text().startswith("# mine\n")

    # Opened again it shows what was saved; back to the built-in model removes the key.
    again = _open(qtbot)
    assert again.model_hub.isChecked() and again.hub_id.text().startswith("mlx-community/")
    assert again.generator.server.isChecked() and again.executive.server.isChecked()
    assert again.strength.currentData() == "thorough"
    again.model_builtin.setChecked(True)
    again.generator.local.setChecked(True)
    with qtbot.waitSignal(again.changed) as signal:
        again.accept()
    assert signal.args == [{"model", "generator"}]
    assert user_settings()["model"] == {}
    assert user_settings()["synthesis"] == {"generator_model": "qwen2.5-7b"}


def test_invalid_url_keeps_the_dialog_open_and_writes_nothing(qtbot, warnings: list[str]):
    dialog = _open(qtbot)
    dialog.generator.server.setChecked(True)
    dialog.generator.url.setText("localhost:1234/v1")
    with qtbot.assertNotEmitted(dialog.changed):
        dialog.accept()
    assert len(warnings) == 1 and "is not a server address" in warnings[0]
    assert warnings[0].startswith("Reflection writer's server:")
    assert dialog.isVisible()
    assert not (memo_home() / "settings.toml").exists()


def test_a_server_elsewhere_needs_the_privacy_switch(qtbot, warnings: list[str]):
    dialog = _open(qtbot)
    dialog.executive.server.setChecked(True)
    dialog.executive.url.setText("http://192.168.1.20:1234/v1")
    with qtbot.assertNotEmitted(dialog.changed):
        dialog.accept()
    assert len(warnings) == 1 and warnings[0].startswith("Answering server:")
    assert "192.168.1.20 is not this computer" in warnings[0]
    dialog.allow_remote.setChecked(True)
    with qtbot.waitSignal(dialog.changed) as signal:
        dialog.accept()
    assert signal.args == [{"executive", "privacy"}]
    assert user_settings() == {"executive": {"url": "http://192.168.1.20:1234/v1", "model": ""},
                               "privacy": {"allow_remote": True}}


def test_missing_model_file_is_refused(qtbot, tmp_path: Path, warnings: list[str]):
    dialog = _open(qtbot)
    dialog.model_file.setChecked(True)
    dialog.model_path.setText(str(tmp_path / "gone.gguf"))
    dialog.accept()
    assert warnings and "Base model" in warnings[0] and "gone.gguf" in warnings[0]
    assert dialog.isVisible() and user_settings() == {}


def test_model_file_is_saved(qtbot, tiny_q8):
    dialog = _open(qtbot)
    dialog.model_file.setChecked(True)
    dialog.model_path.setText(str(tiny_q8.path))
    with qtbot.waitSignal(dialog.changed) as signal:
        dialog.accept()
    assert signal.args == [{"model"}]
    assert user_settings() == {"model": {"spec": str(tiny_q8.path)}}


def test_custom_strength_is_left_alone(qtbot):
    save_user_settings({"teaching": {"exposures": 750}})
    dialog = _open(qtbot)
    assert dialog.strength.currentData() == "custom" and "750" in dialog.strength.currentText()
    with qtbot.waitSignal(dialog.changed) as signal:
        dialog.accept()
    assert signal.args == [set()]
    assert user_settings() == {"teaching": {"exposures": 750}}


def test_data_folder_is_moved_for_the_next_start(qtbot, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MEMO_HOME")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    dialog = _open(qtbot)
    assert dialog.data_choose.isEnabled()
    moved = tmp_path / "moved"
    dialog.data_folder.setText(str(moved))
    with qtbot.waitSignal(dialog.changed) as signal:
        dialog.accept()
    assert signal.args == [{"data"}]
    assert data_folder_pointer().read_text().strip() == str(moved)
    assert memo_home() == moved
    set_data_folder(None)
