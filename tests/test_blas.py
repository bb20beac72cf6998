"""The launcher preloads OpenBLAS on Linux where it exists, once, unless told not to."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from memo_mlx import blas

LIB = "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0"
# Skipped, and said so (-ra), where there is nothing to preload: macOS computes with Accelerate.
LINUX_OPENBLAS = pytest.mark.skipif(
    blas.openblas_path() is None,
    reason="no system OpenBLAS: the launcher preloads it on Linux only (macOS uses Accelerate)")


def test_preload_is_added_once(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(blas, "openblas_path", lambda: LIB)
    env = blas.environment_with_fast_blas({"LD_PRELOAD": "/other.so"})
    assert env is not None and env["LD_PRELOAD"] == f"{LIB}:/other.so"
    assert blas.environment_with_fast_blas(env) is None  # already there: no re-exec loop
    assert blas.environment_with_fast_blas({"MEMO_BLAS": "bundled"}) is None


def test_nothing_to_do_without_openblas(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(blas, "openblas_path", lambda: None)
    assert blas.environment_with_fast_blas({}) is None


@LINUX_OPENBLAS
def test_launcher_runs_the_command_with_openblas_loaded():
    code = "import os; print(os.environ.get('LD_PRELOAD', ''))"
    done = subprocess.run(
        [sys.executable, "-m", "memo_mlx.blas", sys.executable, "-c", code],
        capture_output=True, text=True, check=True,
    )
    assert blas.openblas_path() in done.stdout


@pytest.mark.parametrize("entry", ["memo_mlx.launch", "app.launch"])
def test_entry_points_restart_before_the_heavy_imports(entry: str):
    # The re-exec for the BLAS restarts the process: whatever was imported before it is paid
    # for twice. The entry modules must import nothing heavy themselves.
    code = (f"import sys, {entry}; "
            "print(sorted(m for m in ('mlx', 'mlx_lm', 'PySide6', 'transformers', 'sqlite_utils')"
            " if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "[]"


@LINUX_OPENBLAS
def test_the_memo_command_runs_with_openblas():
    memo = shutil.which("memo", path=str(Path(sys.executable).parent))
    assert memo is not None, "the memo console script is not installed"
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}  # as a user starts it
    done = subprocess.run([memo, "status", "--json"], capture_output=True, text=True, env=env,
                          check=True)
    assert "OpenBLAS" in json.loads(done.stdout)["model"]["blas"]
