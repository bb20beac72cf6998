"""A chat server the user named, speaking the OpenAI chat-completions API: LM Studio, Ollama,
llama.cpp's or mlx-lm's server, as the executive that answers or the writer of reflections.

The only network MeMo uses besides a model download, and only when asked. An address that is
not this computer's loopback is refused unless the user opted in (`[privacy] allow_remote`,
`--allow-remote`): what is asked (questions, passages, memories' notes) would leave it. No
proxy is ever used and no redirect followed, so a loopback request stays on the machine
whatever HTTP_PROXY says or the server answers.

The standard library's urllib is enough: one request per call, streamed as server-sent events;
no HTTP client is worth a dependency here.
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..errors import MemoError
from ..settings import from_section
from .chat_template import Message
from .runtime import Reply

# After a server refused a connection or did not answer, calls fail at once for this long:
# one answer makes several calls, and each would wait out the timeout again.
DOWN_SECONDS = 30.0
# Chats sent at once by `chat_many`: servers batch concurrent requests (mlx-lm's does).
CONCURRENT = 4
# How often a streamed reply looks at Stop while the server is silent (reading a long prompt).
CANCEL_POLL_SECONDS = 0.1
# What a broken connection or a reply of another protocol raises in urllib and http.client.
_TRANSPORT = (OSError, http.client.HTTPException)  # a timeout is an OSError


class EndpointError(MemoError):
    """A server that cannot be used: its message is one line a user can act on."""


class _ServerFailed(Exception):
    """The server said, inside its reply, that it failed."""


@dataclass(frozen=True)
class PrivacySettings:
    # An executive or writer that is not on this computer: off, only loopback addresses.
    allow_remote: bool = False

    @classmethod
    def from_defaults(cls) -> PrivacySettings:
        return from_section(cls, "privacy")


@dataclass(frozen=True)
class ExecutiveSettings:
    url: str = ""  # empty: this computer's model is the executive
    model: str = ""  # empty: the one model the server lists
    timeout_seconds: float = 120.0

    @classmethod
    def from_defaults(cls) -> ExecutiveSettings:
        return from_section(cls, "executive")


def remote_allowed(given: bool | None = None) -> bool:
    """`given` (a command's --allow-remote), else the settings'. Only a real true allows: a
    quoted "false" in a hand-edited settings file must not."""
    if given is not None:
        return given
    return PrivacySettings.from_defaults().allow_remote is True


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, allow_remote: bool = False) -> str:
    """`url` without a trailing slash, if it is an http(s) address MeMo may send to."""
    parts = urlsplit(url.strip())
    try:
        parts.port  # noqa: B018 (raises on a port that is not a number)
    except ValueError:
        parts = parts._replace(netloc="")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointError(f"{url!r} is not a server address: give one such as "
                            "http://localhost:1234/v1")
    if not allow_remote and not is_loopback(parts.hostname):
        raise EndpointError(f"{url}: {parts.hostname} is not this computer, and everything "
                            "asked would leave it; allow it with --allow-remote or "
                            "[privacy] allow_remote = true")
    return url.strip().rstrip("/")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect could lead anywhere, past `check_url`: it is an error, never followed."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any,
                         newurl: str) -> None:
        raise urllib.error.HTTPError(newurl, code, f"redirected to {newurl}", headers, fp)


class Endpoint:
    """One server and model. `chat` streams a reply; `chat_many` sends several at once."""

    def __init__(self, url: str, model: str = "", *, timeout: float = 120.0,
                 allow_remote: bool = False):
        self.url = check_url(url, allow_remote)
        self.remote = not is_loopback(urlsplit(self.url).hostname or "")
        self.timeout = timeout
        self._model = model
        self._checked = False
        self._down: tuple[float, str] | None = None  # until when, and why
        # No proxy (HTTP_PROXY, system settings) and no redirects: see the module's docstring.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                                   _NoRedirects())

    @property
    def name(self) -> str:
        return f"{self._model} at {self.url}" if self._model else f"the server at {self.url}"

    def models(self) -> list[str]:
        """The model names the server lists (GET /models)."""
        wait = min(self.timeout, 10.0)
        with self._request("models", None, wait) as response:
            try:
                raw = response.read()
            except _TRANSPORT as e:
                raise self._failed(e, wait) from e
        try:
            return [str(m["id"]) for m in json.loads(raw)["data"]]
        except (ValueError, LookupError, TypeError) as e:
            raise EndpointError(f"{self.url}: its model list is not the OpenAI API's "
                                f"shape ({e!r})") from e

    def model(self) -> str:
        """The model asked for, checked against the server's list once: a server loads a
        name it does not list (mlx-lm's unloads its model to try), so a typo is caught here."""
        if self._checked:
            return self._model
        served = self.models()
        if not self._model:
            if len(served) != 1:
                raise EndpointError(f"{self.url} serves {len(served)} models "
                                    f"({_listed(served)}): name one")
            self._model = served[0]
        elif self._model not in served:
            raise EndpointError(f"{self.url} does not serve model {self._model!r} "
                                f"(it serves: {_listed(served)})")
        self._checked = True
        return self._model

    def chat(self, messages: list[Message], max_tokens: int, *, temperature: float = 0.0,
             on_text: Callable[[str], None] | None = None,
             cancel: threading.Event | None = None) -> Reply:
        """A reply to `messages`, its text passed to `on_text` piece by piece as it arrives.
        Setting `cancel` closes the stream, also while the server is still silent: the reply
        so far, finish_reason "cancelled"."""
        began = time.perf_counter()
        body = {"model": self.model(), "messages": messages, "max_tokens": max_tokens,
                "temperature": temperature, "stream": True,
                "stream_options": {"include_usage": True}}
        text, finish = "", ""
        usage: dict[str, Any] = {}
        with self._request("chat/completions", body, self.timeout) as response:
            stop = _close_on(cancel, response)
            events = _events(response)
            try:
                while True:
                    try:
                        event = next(events, None)
                        pieces, ended, said = _read_event(event) if event else ([], "", {})
                    except _ServerFailed as e:
                        raise EndpointError(f"{self.url} failed: {e}") from e
                    except (ValueError, LookupError, TypeError, AttributeError) as e:
                        if cancel is not None and cancel.is_set():
                            break  # the stream was closed under the reader
                        raise EndpointError(f"{self.url} sent a reply that is not an OpenAI "
                                            f"chat completion ({e})") from e
                    except _TRANSPORT as e:
                        if cancel is not None and cancel.is_set():
                            break
                        raise self._failed(e, self.timeout) from e
                    if event is None:
                        break
                    usage = said or usage
                    finish = ended or finish
                    for piece in pieces:  # the caller's code, apart from the server's faults
                        text += piece
                        if on_text is not None:
                            on_text(piece)
                    if cancel is not None and cancel.is_set():
                        break
            finally:
                stop.set()
        if cancel is not None and cancel.is_set():
            finish = "cancelled"
        elif not finish:
            raise EndpointError(f"{self.url}: the reply broke off before its end")
        seconds = max(time.perf_counter() - began, 1e-9)
        made = int(usage.get("completion_tokens") or 0)
        return Reply(text, finish, int(usage.get("prompt_tokens") or 0), made,
                     prompt_tps=0.0, generation_tps=made / seconds, peak_memory_gb=0.0)

    def chat_many(self, chats: list[list[Message]], max_tokens: int,
                  cancel: threading.Event | None = None) -> list[Reply]:
        """Replies to `chats` in order, several sent at once. When `cancel` is set, the
        replies cover the chats finished before it, as the local runtime's do."""
        self.model()  # checked once, before the requests go out together

        def one(chat: list[Message]) -> Reply:
            if cancel is not None and cancel.is_set():  # not sent at all
                return Reply("", "cancelled", 0, 0, 0.0, 0.0, 0.0)
            return self.chat(chat, max_tokens, cancel=cancel)

        with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
            replies = list(pool.map(one, chats))
        done = []
        for reply in replies:
            if reply.finish_reason == "cancelled":
                break
            done.append(reply)
        return done

    # --- HTTP -----------------------------------------------------------------------------

    def _request(self, path: str, body: dict[str, Any] | None, timeout: float) -> Any:
        if self._down is not None:
            until, why = self._down
            if time.monotonic() < until:
                raise EndpointError(why)
            self._down = None
        request = urllib.request.Request(
            f"{self.url}/{path}", headers={"Content-Type": "application/json"},
            data=None if body is None else json.dumps(body).encode())
        try:
            return self._opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as e:
            raise EndpointError(self._http_error(e)) from e
        except (urllib.error.URLError, *_TRANSPORT) as e:
            raise self._failed(e, timeout) from e

    def _failed(self, e: BaseException, timeout: float) -> EndpointError:
        reason = e.reason if isinstance(e, urllib.error.URLError) else e
        if isinstance(reason, ConnectionRefusedError):
            why = f"{self.url}: no server is running there (connection refused)"
        elif isinstance(reason, TimeoutError | socket.timeout):
            why = f"{self.url} did not answer within {timeout:g} s"
        else:
            why = f"{self.url}: the connection failed ({str(reason).splitlines()[0][:200]})"
        self._down = (time.monotonic() + DOWN_SECONDS, why)
        return EndpointError(why)

    def _http_error(self, e: urllib.error.HTTPError) -> str:
        if 300 <= e.code < 400:
            return f"{self.url} answered with a redirect, which MeMo does not follow ({e.msg})"
        try:
            error = json.loads(e.read() or b"{}").get("error")
        except (ValueError, AttributeError, *_TRANSPORT):
            error = None
        # mlx-lm's server says {"error": "..."}; Ollama's and LM Studio's nest a message.
        message = error.get("message") if isinstance(error, dict) else error
        said = f": {str(message).splitlines()[0][:200]}" if message else ""
        return f"{self.url} answered HTTP {e.code}{said}"


def _close_on(cancel: threading.Event | None, response: Any) -> threading.Event:
    """Close `response` when `cancel` is set, until the returned event is: Stop then ends a
    read that is waiting on a silent server (one reading a long prompt) at once."""
    done = threading.Event()
    if cancel is None:
        return done

    def watch() -> None:
        while not done.is_set():
            if cancel.wait(CANCEL_POLL_SECONDS):
                response.close()
                return

    threading.Thread(target=watch, name="memo-endpoint-stop", daemon=True).start()
    return done


def _events(response: Any) -> Iterator[dict[str, Any]]:
    """The JSON events of a server-sent-events stream, up to `data: [DONE]`; comment lines
    (mlx-lm's keep-alives while it reads a long prompt) are skipped. A server that ignored
    `stream` and sent one JSON reply is read as one event."""
    first = True
    for raw in response:
        line = raw.decode("utf-8").strip()
        if first and line.startswith("{"):
            whole = json.loads(line + response.read().decode("utf-8"))
            if "error" in whole:
                yield whole
                return
            choice = whole["choices"][0]
            yield {"choices": [{"delta": {"content": choice["message"].get("content") or ""},
                                "finish_reason": choice.get("finish_reason") or "stop"}],
                   "usage": whole.get("usage")}
            return
        first = False
        if not line or line.startswith(":"):
            continue
        if not line.startswith("data:"):
            raise ValueError(f"an event line {line[:60]!r}")
        data = line[5:].strip()
        if data == "[DONE]":
            yield {"choices": [{"finish_reason": "stop"}]}
            return
        event = json.loads(data)
        if not isinstance(event, dict):
            raise ValueError(f"an event that is not an object: {data[:60]!r}")
        yield event


def _read_event(event: dict[str, Any]) -> tuple[list[str], str, dict[str, Any]]:
    """An event's text pieces, how it ends the reply ("stop", "length" or ""), its usage."""
    if "error" in event:  # llama.cpp's server reports a failure inside the stream
        error = event["error"]
        message = error.get("message") if isinstance(error, dict) else error
        raise _ServerFailed(str(message).splitlines()[0][:200] if message else "no reason given")
    pieces, ended = [], ""
    for choice in event.get("choices") or []:
        piece = (choice.get("delta") or {}).get("content") or ""
        if piece:
            pieces.append(str(piece))
        if choice.get("finish_reason"):
            ended = "length" if choice["finish_reason"] == "length" else "stop"
    usage = event.get("usage")
    return pieces, ended, usage if isinstance(usage, dict) else {}


def _listed(names: list[str]) -> str:
    if not names:
        return "none"
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    return ", ".join(names[:5]) + more


def configured_executive(url: str | None = None, model: str | None = None,
                         allow_remote: bool | None = None) -> Endpoint | None:
    """The executive the user chose (`memo ask --executive`, or `[executive] url`), or None:
    this computer's model."""
    settings = ExecutiveSettings.from_defaults()
    url = url or settings.url
    if not url:
        return None
    return Endpoint(url, model or settings.model, timeout=settings.timeout_seconds,
                    allow_remote=remote_allowed(allow_remote))
