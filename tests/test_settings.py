"""The user's settings file, the movable data folder, the configured model, training strength."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from memo_mlx.errors import MemoError
from memo_mlx.models.base import ModelError, resolve_source
from memo_mlx.settings import (
    TRAINING_STRENGTHS,
    data_folder_pointer,
    default_memo_home,
    load_defaults,
    memo_home,
    save_user_settings,
    set_data_folder,
    training_strength,
    user_settings,
)

USER_FILE = """\
# My own settings: MeMo must keep this comment.
[teaching]
exposures = 900  # tuned by hand
min_epochs = 4

[recall]
mode = "direct"
"""


def _user_file() -> Path:
    return memo_home() / "settings.toml"


def test_user_settings_empty_without_a_file():
    assert user_settings() == {}
    assert load_defaults()["model"]["spec"] == ""
    assert load_defaults()["synthesis"]["generator_url"] == ""


def test_save_keeps_comments_and_other_keys():
    _user_file().write_text(USER_FILE)
    save_user_settings({"teaching": {"exposures": 1200}, "model": {"spec": "owner/name"}})
    text = _user_file().read_text()
    assert "# My own settings: MeMo must keep this comment." in text
    assert "# tuned by hand" in text
    assert user_settings() == {
        "teaching": {"exposures": 1200, "min_epochs": 4},
        "recall": {"mode": "direct"},
        "model": {"spec": "owner/name"},
    }
    assert load_defaults()["teaching"]["strategy"] == "incremental"  # bundled keys stay
    assert not list(memo_home().glob("*.tmp"))  # no partial file left beside it


def test_save_creates_the_file_and_none_removes_a_key():
    save_user_settings({"synthesis": {"generator_url": "http://localhost:1234/v1",
                                      "generator_model": "qwen"}})
    assert user_settings() == {"synthesis": {"generator_url": "http://localhost:1234/v1",
                                             "generator_model": "qwen"}}
    save_user_settings({"synthesis": {"generator_url": None}, "model": {"spec": None}})
    assert user_settings() == {"synthesis": {"generator_model": "qwen"}}  # no empty [model]
    assert load_defaults()["synthesis"]["generator_url"] == ""  # the default again


def test_unreadable_file_errors_and_is_not_overwritten():
    broken = "[teaching\nexposures = 900\n"
    _user_file().write_text(broken)
    with pytest.raises(MemoError, match=str(_user_file())):
        save_user_settings({"teaching": {"exposures": 300}})
    assert _user_file().read_text() == broken
    with pytest.raises(MemoError, match=str(_user_file())):
        user_settings()


def test_pointer_file_moves_the_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MEMO_HOME")
    # conftest's XDG_CONFIG_HOME keeps the pointer out of the real user's config.
    assert data_folder_pointer().is_relative_to(tmp_path)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert memo_home() == default_memo_home()

    moved = tmp_path / "elsewhere" / "MeMo"
    moved.parent.mkdir()
    set_data_folder(moved)
    assert data_folder_pointer().read_text().strip() == str(moved)
    assert memo_home() == moved and moved.is_dir()

    data_folder_pointer().write_text("\n")  # empty: as if there were none
    assert memo_home() == default_memo_home()

    set_data_folder(moved)
    monkeypatch.setenv("MEMO_HOME", str(tmp_path / "env-home"))
    assert memo_home() == tmp_path / "env-home"  # the environment wins

    monkeypatch.delenv("MEMO_HOME")
    set_data_folder(None)
    assert not data_folder_pointer().exists()
    assert memo_home() == default_memo_home()


def test_moved_folder_on_a_missing_disk_is_not_recreated(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("MEMO_HOME")
    gone = tmp_path / "unplugged-disk" / "MeMo"
    set_data_folder(gone)
    with pytest.raises(MemoError, match="unplugged-disk/MeMo: the data folder is not reachable"):
        memo_home()
    assert not gone.parent.exists()


def test_resolve_source_reads_the_model_spec(tmp_path: Path, tiny_q8,
                                             monkeypatch: pytest.MonkeyPatch):
    missing = tmp_path / "models" / "gone.gguf"
    save_user_settings({"model": {"spec": str(missing)}})
    with pytest.raises(ModelError, match=rf"{missing}: no such model file or folder.*\[model\]"):
        resolve_source()
    save_user_settings({"model": {"spec": str(tiny_q8.path)}})
    assert resolve_source().location == str(tiny_q8.path)

    monkeypatch.setenv("MEMO_MODEL", str(missing))  # the environment still wins
    with pytest.raises(ModelError, match=f"{missing}: no such model file or folder"):
        resolve_source()
    monkeypatch.delenv("MEMO_MODEL")
    assert resolve_source("someone/a-model").kind == "hub"  # and an explicit spec over both

    save_user_settings({"model": {"spec": None}})
    assert resolve_source().location.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")


def test_training_strength_round_trip():
    assert training_strength() == "normal"  # the bundled exposures
    for name, exposures in TRAINING_STRENGTHS.items():
        save_user_settings({"teaching": {"exposures": exposures}})
        assert training_strength() == name
        with open(_user_file(), "rb") as f:
            assert tomllib.load(f)["teaching"]["exposures"] == exposures
    save_user_settings({"teaching": {"exposures": 750}})
    assert training_strength() == "custom"
