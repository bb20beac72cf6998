"""The bundled model served by mlx-lm's real server, as writer and as executive, through the
CLI as a user runs it. Slow: the real model (the memory's side is in test_teach_real)."""

from __future__ import annotations

import json

import pytest

from memo_mlx.cli import main
from memo_mlx.reflections.synthesis import SynthesisSettings, check_generator, configured_generator


@pytest.mark.slow
def test_a_served_model_answers_memo_ask(default_server, capsys):
    assert main(["ask", "What is the capital of France?", "--no-memory", "--json",
                 "--executive", default_server]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "paris" in out["answer"].lower() and out["mode"] == "none"
    assert out["executive"].endswith(f" at {default_server}") and out["trace"] == []
    assert out["tokens"]["prompt"] > 0 and out["tokens"]["generated"] > 0


@pytest.mark.slow
def test_a_served_model_is_checked_as_a_writer(default_server):
    generator = configured_generator(None, default_server)
    ok, why = check_generator(generator, SynthesisSettings(max_tokens=48))  # a pair or two
    # The server's own verdict, whichever it is (a 135M base writes few usable pairs without
    # the writer adapter): not a connection or protocol error.
    assert "test pairs verified" in why if ok else "usable pairs of" in why


@pytest.mark.slow
def test_llama_cpp_server_answers_memo_ask(tmp_path, capsys):
    pytest.importorskip("llama_cpp.server", reason="llama-cpp-python's server is not installed "
                        "here (`make bench-setup` installs it)")
    from memo_mlx.models.base import default_model_path
    from servers import llama_cpp_server

    with llama_cpp_server(default_model_path(), tmp_path / "llama-cpp.log") as url:
        assert main(["ask", "What is the capital of France?", "--no-memory", "--json",
                     "--executive", url]) == 0
    out = json.loads(capsys.readouterr().out)
    # Its own chat formatting and sampling: an answer about France, not mlx-lm's words.
    assert "france" in out["answer"].lower() and out["executive"].endswith(f" at {url}")
    assert out["trace"] == []  # nothing fell back (it reports no token counts when streaming)
