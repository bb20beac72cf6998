"""A chat server the user named, speaking the OpenAI chat-completions API: LM Studio, Ollama,
llama.cpp's or mlx-lm's server, as the executive that answers or the writer of reflections.

The only network MeMo uses besides a model download, and only when asked. An address that is
not this computer's loopback is refused unless the user opted in (`[privacy] allow_remote`,
`--allow-remote`): what is asked (questions, passages, memories' notes) would leave it. No
proxy is ever used, so a loopback request stays on the machine whatever HTTP_PROXY says.

The standard library's urllib is enough: one request at a time per call, streamed as
server-sent events; no HTTP client is worth a dependency here.
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

from .errors import MemoError
from .runtime import Message, Reply
from .settings import from_section

# After a server refused a connection or did not answer, calls fail at once for this long:
# one answer makes several calls, and each would wait out the timeout again.
DOWN_SECONDS = 30.0
# Chats sent at once by `chat_many`: servers batch concurrent requests (mlx-lm's does).
CONCURRENT = 4


class EndpointError(MemoError):
    """A server that cannot be used: its message is one line a user can act on."""


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
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EndpointError(f"{url!r} is not a server address: give one such as "
                            "http://localhost:1234/v1")
    if not allow_remote and not is_loopback(parts.hostname):
        raise EndpointError(f"{url}: {parts.hostname} is not this computer, and everything "
                            "asked would leave it; allow it with --allow-remote or "
                            "[privacy] allow_remote = true")
    return url.strip().rstrip("/")


class Endpoint:
    """One server and model. `chat` streams a reply; `chat_many` sends several at once."""

    def __init__(self, url: str, model: str = "", *, timeout: float = 120.0,
                 allow_remote: bool = False, api_key: str | None = None):
        self.url = check_url(url, allow_remote)
        self.remote = not is_loopback(urlsplit(self.url).hostname or "")
        self.timeout, self.api_key = timeout, api_key
        self._model = model
        self._checked = False
        self._down: tuple[float, str] | None = None  # until when, and why
        # No proxy: a request to 127.0.0.1 is never handed to one (HTTP_PROXY, system settings).
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @property
    def name(self) -> str:
        return f"{self._model} at {self.url}" if self._model else f"the server at {self.url}"

    def models(self) -> list[str]:
        """The model names the server lists (GET /models)."""
        with self._request("models", None, min(self.timeout, 10.0)) as response:
            body = _json(response.read(), self.url)
        try:
            return [str(m["id"]) for m in body["data"]]
        except (KeyError, TypeError) as e:
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
        Setting `cancel` closes the stream: the reply so far, finish_reason "cancelled"."""
        began = time.perf_counter()
        body = {"model": self.model(), "messages": messages, "max_tokens": max_tokens,
                "temperature": temperature, "stream": True,
                "stream_options": {"include_usage": True}}
        text, finish = "", "stop"
        usage: dict[str, Any] = {}
        with self._request("chat/completions", body, self.timeout) as response:
            try:
                for event in _events(response):
                    if cancel is not None and cancel.is_set():
                        finish = "cancelled"
                        break
                    usage = event.get("usage") or usage
                    for choice in event.get("choices") or []:
                        piece = (choice.get("delta") or {}).get("content") or ""
                        if piece:
                            text += piece
                            if on_text is not None:
                                on_text(piece)
                        if choice.get("finish_reason"):
                            finish = "length" if choice["finish_reason"] == "length" else "stop"
            except (AttributeError, TypeError, ValueError) as e:
                raise EndpointError(f"{self.url} sent a reply that is not an OpenAI chat "
                                    f"completion ({e})") from e
            except (OSError, http.client.HTTPException) as e:  # a timeout is an OSError
                raise self._failed(e) from e
        seconds = max(time.perf_counter() - began, 1e-9)
        made = int(usage.get("completion_tokens") or 0)
        return Reply(text, finish, int(usage.get("prompt_tokens") or 0), made,
                     prompt_tps=0.0, generation_tps=made / seconds, peak_memory_gb=0.0)

    def chat_many(self, chats: list[list[Message]], max_tokens: int,
                  cancel: threading.Event | None = None) -> list[Reply]:
        """Replies to `chats` in order, several sent at once. When `cancel` is set, the
        replies cover the chats finished before it, as the local runtime's do."""
        self.model()  # checked once, before the requests go out together
        with ThreadPoolExecutor(max_workers=CONCURRENT) as pool:
            replies = list(pool.map(lambda c: self.chat(c, max_tokens, cancel=cancel), chats))
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
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(
            f"{self.url}/{path}", headers=headers,
            data=None if body is None else json.dumps(body).encode())
        try:
            return self._opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as e:
            raise EndpointError(self._http_error(e)) from e
        except (urllib.error.URLError, TimeoutError, OSError) as e:
            raise self._failed(e) from e

    def _failed(self, e: BaseException) -> EndpointError:
        reason = e.reason if isinstance(e, urllib.error.URLError) else e
        if isinstance(reason, ConnectionRefusedError):
            why = f"{self.url}: no server is running there (connection refused)"
        elif isinstance(reason, TimeoutError | socket.timeout):
            why = f"{self.url} did not answer within {self.timeout:g} s"
        else:
            why = f"{self.url}: the connection failed ({reason})"
        self._down = (time.monotonic() + DOWN_SECONDS, why)
        return EndpointError(why)

    def _http_error(self, e: urllib.error.HTTPError) -> str:
        try:
            error = json.loads(e.read() or b"{}").get("error")
        except (ValueError, AttributeError, OSError):
            error = None
        # mlx-lm's server says {"error": "..."}; Ollama's and LM Studio's nest a message.
        message = error.get("message") if isinstance(error, dict) else error
        said = f": {str(message).splitlines()[0][:200]}" if message else ""
        return f"{self.url} answered HTTP {e.code}{said}"


def _events(response: Any) -> Iterator[dict[str, Any]]:
    """The JSON events of a server-sent-events stream, up to `data: [DONE]`; comment lines
    (mlx-lm's keep-alives while it reads a long prompt) are skipped. A server that ignored
    `stream` and sent one JSON reply is read as one event."""
    first = True
    for raw in response:
        line = raw.decode("utf-8").strip()
        if first and line.startswith("{"):
            whole = json.loads(line + response.read().decode("utf-8"))
            message = whole["choices"][0]["message"]
            yield {"choices": [{"delta": {"content": message.get("content") or ""},
                                "finish_reason": whole["choices"][0].get("finish_reason")}],
                   "usage": whole.get("usage")}
            return
        first = False
        if not line or line.startswith(":"):
            continue
        if not line.startswith("data:"):
            raise ValueError(f"an event line {line[:60]!r}")
        data = line[5:].strip()
        if data == "[DONE]":
            return
        event = json.loads(data)
        if not isinstance(event, dict):
            raise ValueError(f"an event that is not an object: {data[:60]!r}")
        yield event


def _json(raw: bytes, url: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as e:
        raise EndpointError(f"{url} sent a reply that is not JSON ({e})") from e


def _listed(names: list[str]) -> str:
    return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "") \
        if names else "none"


def configured_executive(url: str | None = None, model: str | None = None,
                         allow_remote: bool | None = None) -> Endpoint | None:
    """The executive the user chose (`memo ask --executive`, or `[executive] url`), or None:
    this computer's model."""
    settings = ExecutiveSettings.from_defaults()
    url = url or settings.url
    if not url:
        return None
    allowed = PrivacySettings.from_defaults().allow_remote if allow_remote is None \
        else allow_remote
    return Endpoint(url, model or settings.model, timeout=settings.timeout_seconds,
                    allow_remote=allowed)
