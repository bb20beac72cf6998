"""`memo-app --self-test`, the check a built bundle runs on itself. The real model passing it is
what `packaging/build` checks on the frozen app; here, on the tiny model (which cannot learn a
page), the plumbing: a throw-away data folder, one line, the exit status."""

from __future__ import annotations

import os

from app.main import main
from memo_mlx.selftest import self_test


def test_a_model_that_cannot_learn_fails_in_one_line(tiny_model_env, capsys):
    home = os.environ["MEMO_HOME"]
    result = self_test()
    assert not result.ok
    assert result.line.startswith("memo self-test: FAILED: tiny-test-model")
    assert "asked 'Who built the Quillon Beacon?', got " in result.line
    assert os.environ["MEMO_HOME"] == home  # the user's data folder was never touched
    assert not os.path.exists(os.path.join(home, "catalog.db"))

    assert main(["--self-test"]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("memo self-test: FAILED")


def test_a_model_that_cannot_load_fails_in_one_line(tmp_path):
    result = self_test(str(tmp_path / "missing.gguf"))
    assert not result.ok
    assert result.line.startswith("memo self-test: FAILED: ") and "missing.gguf" in result.line
