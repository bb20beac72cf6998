"""A chat server as executive or writer (`memo_mlx.models.endpoint`): against mlx-lm's real
server on loopback (the tiny model), and against hand-made servers only for replies a real one
does not give (garbage, a hang, a nested error, a non-streamed reply, a list of several models)."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from memo_mlx.models.endpoint import Endpoint, EndpointError, check_url, configured_executive
from memo_mlx.settings import save_user_settings
from servers import free_port

HI = [{"role": "user", "content": "hello"}]


def test_only_this_computer_unless_allowed():
    assert check_url("http://localhost:1234/v1/") == "http://localhost:1234/v1"
    assert check_url("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080/v1"
    assert check_url("http://[::1]:8080/v1") == "http://[::1]:8080/v1"
    with pytest.raises(EndpointError, match="192.168.1.5 is not this computer.*--allow-remote"):
        check_url("http://192.168.1.5:1234/v1")
    with pytest.raises(EndpointError, match="example.com is not this computer"):
        Endpoint("https://example.com/v1")
    assert check_url("https://example.com/v1", allow_remote=True) == "https://example.com/v1"
    assert Endpoint("https://example.com/v1", allow_remote=True).remote
    for bad in ("localhost:1234/v1", "ftp://localhost/v1", "http:///v1", "",
                "http://localhost:abc/v1"):
        with pytest.raises(EndpointError, match="is not a server address"):
            check_url(bad)


def test_the_settings_choose_the_executive():
    assert configured_executive() is None  # this computer's model
    save_user_settings({"executive": {"url": "http://127.0.0.1:9/v1", "model": "m"}})
    executive = configured_executive()
    assert executive is not None and executive.name == "m at http://127.0.0.1:9/v1"
    save_user_settings({"executive": {"url": "http://10.0.0.2:9/v1"}})
    with pytest.raises(EndpointError, match="not this computer"):
        configured_executive()
    save_user_settings({"privacy": {"allow_remote": True}})
    assert configured_executive() is not None
    assert configured_executive("http://127.0.0.1:7/v1", "x").name == "x at http://127.0.0.1:7/v1"


# --- mlx-lm's server --------------------------------------------------------------------------


def test_a_real_server_streams_a_reply(tiny_server):
    endpoint = Endpoint(tiny_server)
    served = endpoint.models()
    assert len(served) == 1 and endpoint.model() == served[0]  # the one it serves
    pieces: list[str] = []
    reply = endpoint.chat(HI, 6, on_text=pieces.append)
    assert len(pieces) > 1 and "".join(pieces) == reply.text  # piece by piece, as it came
    assert reply.finish_reason in ("stop", "length")
    assert reply.prompt_tokens > 0 and 0 < reply.generation_tokens <= 6
    assert endpoint.chat(HI, 6).text == reply.text  # greedy: the same again
    many = endpoint.chat_many([HI, [{"role": "user", "content": "bye"}], HI], 6)
    assert [r.text for r in many][0] == many[2].text == reply.text


def test_stop_closes_the_stream(tiny_server):
    cancel = threading.Event()
    pieces: list[str] = []

    def on_text(text: str) -> None:
        pieces.append(text)
        cancel.set()

    reply = Endpoint(tiny_server).chat(HI, 40, on_text=on_text, cancel=cancel)
    assert reply.finish_reason == "cancelled" and reply.text == "".join(pieces)
    assert len(pieces) == 1


def test_a_wrong_model_name_is_caught_before_the_server_reloads(tiny_server):
    endpoint = Endpoint(tiny_server, "qwen3-8b")
    with pytest.raises(EndpointError, match=r"does not serve model 'qwen3-8b' \(it serves: /"):
        endpoint.chat(HI, 4)
    assert Endpoint(tiny_server).chat(HI, 2).text  # the server still has its model


def test_a_server_that_is_not_running(monkeypatch: pytest.MonkeyPatch):
    endpoint = Endpoint(f"http://127.0.0.1:{free_port()}/v1", "m")  # nothing listens there
    opened: list[object] = []
    monkeypatch.setattr(endpoint._opener, "open", lambda *a, **k: opened.append(a) or
                        urllib.request.OpenerDirector.open(endpoint._opener, *a, **k))
    with pytest.raises(EndpointError, match="no server is running there"):
        endpoint.chat(HI, 4)
    with pytest.raises(EndpointError, match="no server is running there"):
        endpoint.chat(HI, 4)  # not tried again at once: one answer makes several calls
    assert len(opened) == 1


def test_no_proxy_is_used_for_this_computer(tiny_server, monkeypatch: pytest.MonkeyPatch):
    for name in ("NO_PROXY", "no_proxy"):  # which would let loopback by the proxy anyway
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing there: would refuse
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    assert Endpoint(tiny_server).chat(HI, 2).text


# --- replies a real server does not give ------------------------------------------------------


class Odd(BaseHTTPRequestHandler):
    """Answers /models with `models` and chats as `reply` says."""

    models: list[str] = ["m"]
    reply = "garbage"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self._send(200, json.dumps({"data": [{"id": m} for m in self.models]}).encode())

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        if self.reply == "hang":
            time.sleep(3)
            self._send(200, b"{}")
        elif self.reply == "no choices":
            self._send(200, b'{"id": "x", "object": "chat.completion"}')
        elif self.reply == "fails midway":  # llama.cpp's server reports errors in the stream
            self._send(200, b'data: {"choices": [{"delta": {"content": "Par"}}]}\n\n'
                            b'data: {"error": {"message": "context full"}}\n\n')
        elif self.reply == "broken off":
            self._send(200, b'data: {"choices": [{"delta": {"content": "Par"}}]}\n\n')
        elif self.reply == "redirect":  # to a machine elsewhere: never followed
            self.send_response(307)
            self.send_header("Location", "http://10.0.0.7:1234/v1/chat/completions")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.reply == "garbage":
            self._send(200, b"<html>It works!</html>")
        elif self.reply == "error":
            self._send(500, json.dumps({"error": {"message": "out of memory\nat line 3"}})
                       .encode())
        elif self.reply == "whole":  # `stream` ignored: one JSON reply
            self._send(200, json.dumps({
                "choices": [{"message": {"role": "assistant", "content": "Paris."},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 7, "completion_tokens": 2}}).encode())

    def _send(self, code: int, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def odd_server(reply: str, models: list[str] | None = None) -> Iterator[str]:
    handler = type("Handler", (Odd,), {"reply": reply, "models": models or ["m"]})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("reply, error", [
    ("garbage", r"sent a reply that is not an OpenAI chat completion"),
    ("no choices", r"sent a reply that is not an OpenAI chat completion"),
    ("error", r"answered HTTP 500: out of memory$"),
    ("hang", r"did not answer within 1 s"),
    ("fails midway", r"failed: context full$"),
    ("broken off", r"the reply broke off before its end"),
    ("redirect", r"answered with a redirect, which MeMo does not follow"),
])
def test_a_server_that_misbehaves_is_one_clear_line(reply: str, error: str):
    with odd_server(reply) as url:
        with pytest.raises(EndpointError, match=error) as raised:
            Endpoint(url, timeout=1).chat(HI, 4)
    assert "\n" not in str(raised.value)


def test_stop_ends_a_wait_on_a_silent_server():
    """A server still reading a long prompt sends nothing: Stop closes the connection rather
    than waiting for it (this one would answer, wrongly, after 3 s)."""
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    with odd_server("hang") as url:
        reply = Endpoint(url, timeout=30).chat(HI, 4, cancel=cancel)
    assert (reply.finish_reason, reply.text) == ("cancelled", "")


def test_a_reply_that_was_not_streamed_is_read_whole():
    with odd_server("whole") as url:
        pieces: list[str] = []
        reply = Endpoint(url).chat(HI, 4, on_text=pieces.append)
    assert (reply.text, pieces, reply.prompt_tokens, reply.generation_tokens) == (
        "Paris.", ["Paris."], 7, 2)


def test_a_server_of_several_models_needs_one_named():
    with odd_server("whole", ["llama3", "qwen3"]) as url:
        with pytest.raises(EndpointError, match=r"serves 2 models \(llama3, qwen3\): name one"):
            Endpoint(url).chat(HI, 4)
        assert Endpoint(url, "qwen3").chat(HI, 4).text == "Paris."
