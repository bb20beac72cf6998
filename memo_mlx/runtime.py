"""The model runtime: one long-lived worker thread owns the base model and does all MLX work.

Since mlx 0.31.2 streams are thread-local, so the thread that loads the model must be the one
that runs it, trains it and generates with it. Callers on any thread submit jobs and get
`concurrent.futures.Future`s back; streamed text arrives through a callback called on the
worker thread (the CLI writes it out, the app turns it into a queued Qt signal).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import mlx.core as mx

from .models import BaseModel, load_base
from .settings import GenerationSettings, generation_settings

T = TypeVar("T")
Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}


@dataclass(frozen=True)
class Reply:
    """A finished (or cancelled) generation and what it cost."""

    text: str
    finish_reason: str  # "stop", "length" or "cancelled"
    prompt_tokens: int
    generation_tokens: int
    prompt_tps: float
    generation_tps: float
    peak_memory_gb: float


class RuntimeClosed(RuntimeError):
    pass


# One engine thread for the whole process, started on first use and never stopped: MLX
# (0.32) aborts the process at exit ("terminate called without an active exception") when a
# thread that used a thread-local stream has ended before it.
_jobs: queue.Queue[tuple[Future[Any], Callable[[], Any]]] = queue.Queue()
_engine: threading.Thread | None = None
_engine_lock = threading.Lock()


def _work() -> None:
    while True:
        fut, fn = _jobs.get()
        if not fut.set_running_or_notify_cancel():
            continue
        try:
            fut.set_result(fn())
        except BaseException as e:  # handed to the caller, never lost on this thread
            fut.set_exception(e)


def run_on_engine(fn: Callable[[], T]) -> Future[T]:
    """Run `fn()` on the engine thread, after the jobs already queued."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = threading.Thread(target=_work, name="memo-engine", daemon=True)
            _engine.start()
    fut: Future[T] = Future()
    _jobs.put((fut, fn))
    return fut


class ModelRuntime:
    """Loads the base model on the engine thread at construction, then runs submitted jobs.

    `spec` and `compute` are those of `models.load_base`.
    """

    def __init__(
        self,
        spec: str | None = None,
        *,
        compute: str = "auto",
        settings: GenerationSettings | None = None,
    ):
        self.settings = settings or generation_settings()
        self._closed = False
        self._pending: set[Future[Any]] = set()
        self._base: BaseModel | None = None
        self.loaded: Future[BaseModel] = self._put(lambda: self._load(spec, compute))

    def _load(self, spec: str | None, compute: str) -> BaseModel:
        self._base = load_base(spec, compute=compute)
        return self._base

    def _put(self, fn: Callable[[], T]) -> Future[T]:
        if self._closed:
            raise RuntimeClosed("the model runtime is closed")
        fut = run_on_engine(fn)
        self._pending.add(fut)
        fut.add_done_callback(self._pending.discard)
        return fut

    def submit(self, fn: Callable[[BaseModel], T]) -> Future[T]:
        """Run `fn(base_model)` on the engine thread after the model has loaded."""

        def job() -> T:
            if self._base is None:  # loading failed: every job reports why
                raise self.loaded.exception() or RuntimeClosed("the model did not load")
            return fn(self._base)

        return self._put(job)

    def generate(
        self,
        messages: list[Message],
        *,
        on_text: Callable[[str], None] | None = None,
        cancel: threading.Event | None = None,
        max_tokens: int | None = None,
        adapter: Path | None = None,
    ) -> Future[Reply]:
        """Answer a chat; `on_text` receives each new piece of text as it is generated.

        Setting `cancel` stops generation at the next token; the reply then has
        finish_reason "cancelled" and the text so far. With `adapter` (a memory's adapter
        folder) the base answers with that memory attached, and is the plain base again after.
        """
        settings = self.settings
        if settings.system_prompt and (not messages or messages[0]["role"] != "system"):
            messages = [{"role": "system", "content": settings.system_prompt}, *messages]
        limit = max_tokens or settings.max_tokens

        def job(base: BaseModel) -> Reply:
            if adapter is None:
                return _generate(base, messages, settings, on_text, cancel, limit)
            from .training import attach_adapter, detach_adapter

            attach_adapter(base.model, adapter)
            try:
                return _generate(base, messages, settings, on_text, cancel, limit)
            finally:
                detach_adapter(base.model)

        return self.submit(job)

    def close(self) -> None:
        """Drop queued jobs, let the one under way finish, and free the model."""
        if self._closed:
            return
        self._closed = True
        for fut in list(self._pending):
            fut.cancel()
        run_on_engine(self._release).result()

    def _release(self) -> None:
        self._base = None
        mx.clear_cache()

    def __enter__(self) -> ModelRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _generate(
    base: BaseModel,
    messages: list[Message],
    settings: GenerationSettings,
    on_text: Callable[[str], None] | None,
    cancel: threading.Event | None,
    max_tokens: int,
) -> Reply:
    from mlx_lm.generate import stream_generate
    from mlx_lm.sample_utils import make_logits_processors, make_sampler

    tokenizer = base.tokenizer
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    sampler = make_sampler(temp=settings.temperature, top_p=settings.top_p)
    processors = make_logits_processors(
        repetition_penalty=settings.repetition_penalty or None,
        repetition_context_size=settings.repetition_context,
    )
    pieces: list[str] = []
    last = None
    finish = "stop"
    for response in stream_generate(
        base.model, tokenizer, prompt, max_tokens=max_tokens,
        sampler=sampler, logits_processors=processors,
    ):
        last = response
        if response.text:
            pieces.append(response.text)
            if on_text is not None:
                on_text(response.text)
        if cancel is not None and cancel.is_set():
            finish = "cancelled"
            break
        finish = response.finish_reason or finish
    return Reply(
        text="".join(pieces),
        finish_reason=finish,
        prompt_tokens=last.prompt_tokens if last else 0,
        generation_tokens=last.generation_tokens if last else 0,
        prompt_tps=last.prompt_tps if last else 0.0,
        generation_tps=last.generation_tps if last else 0.0,
        peak_memory_gb=last.peak_memory if last else 0.0,
    )
