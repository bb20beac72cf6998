"""The model runtime: one long-lived worker thread owns the base model and does all MLX work.

Since mlx 0.31.2 streams are thread-local, so the thread that loads the model must be the one
that runs it, trains it and generates with it. Callers on any thread submit jobs and get
`concurrent.futures.Future`s back; streamed text arrives through a callback called on the
worker thread (the CLI writes it out, the app turns it into a queued Qt signal).
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import mlx.core as mx

from ..settings import GenerationSettings, generation_settings
from .base import BaseModel, load_base
from .chat_template import Message, prompt_ids

T = TypeVar("T")


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
    # exp(mean log-probability) of the generated tokens: near 1 when the model was sure of
    # every token (a memory reciting what it was taught), lower when it was guessing.
    confidence: float = 0.0


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
        # The adapter now attached to the base (engine thread only): its folder and the
        # stat of its weights, so a re-trained adapter in the same folder is loaded afresh.
        self._attached: tuple[str, int, int] | None = None
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
        """Run `fn(base_model)` on the engine thread after the model has loaded; `fn` gets the
        plain base, with no memory attached (training attaches and removes its own layers)."""

        def job(base: BaseModel) -> T:
            self._use(base, None)
            return fn(base)

        return self._on_base(job)

    def _on_base(self, fn: Callable[[BaseModel], T]) -> Future[T]:
        def job() -> T:
            if self._base is None:  # loading failed: every job reports why
                raise self.loaded.exception() or RuntimeClosed("the model did not load")
            return fn(self._base)

        return self._put(job)

    def _use(self, base: BaseModel, adapter: Path | None) -> None:
        """Make the loaded base answer as `adapter`'s memory (None: as the plain base).

        The adapter stays attached between answers: consecutive questions to one memory cost
        nothing, and a swap to another memory of the same shape only loads its weights.
        """
        from ..learning.training import attach_adapter, detach_adapter

        if adapter is None:
            if self._attached is not None:
                self._attached = None
                detach_adapter(base.model)
            return
        weights = Path(adapter) / "adapters.safetensors"
        try:
            st = weights.stat()
        except OSError as e:
            raise RuntimeError(f"{adapter}: the memory's adapter is missing ({e.strerror})") from e
        key = (str(adapter), st.st_mtime_ns, st.st_size)
        if key == self._attached:
            return
        self._attached = None  # attach_adapter leaves the base detached when it fails
        attach_adapter(base.model, Path(adapter))
        self._attached = key

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
        messages = self.with_system(messages, adapter)
        limit = max_tokens or settings.max_tokens

        def job(base: BaseModel) -> Reply:
            self._use(base, adapter)
            return _generate(base, messages, settings, on_text, cancel, limit)

        return self._on_base(job)

    def generate_batch(
        self,
        chats: list[list[Message]],
        *,
        adapter: Path | None = None,
        max_tokens: int | None = None,
        cancel: threading.Event | None = None,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> Future[list[Reply]]:
        """Answer many chats at once, in the order given (not streamed): greedily, or sampled
        at `temperature` from `seed` (the same chats and seed give the same replies).

        One batched forward pass serves every chat: on the CPU, where a small model's time
        is per-operation overhead, 8 questions took 5.6 s batched against 17.8 s one by one.
        Setting `cancel` stops it at the next token; the replies then cover the chats done.
        """
        settings = self.settings
        limit = max_tokens or settings.max_tokens
        chats = [self.with_system(c, adapter) for c in chats]

        def job(base: BaseModel) -> list[Reply]:
            self._use(base, adapter)
            if temperature > 0:
                mx.random.seed(seed)
            return _generate_batch(base, chats, limit, cancel, temperature=temperature)

        return self._on_base(job)

    def logits(self, messages: list[Message], *, adapter: Path | None = None) -> Future[Any]:
        """The next-token logits after `messages` (as numpy): what the model would say next."""
        import numpy as np

        messages = self.with_system(messages, adapter)

        def job(base: BaseModel) -> Any:
            self._use(base, adapter)
            ids = prompt_ids(base.tokenizer, messages)
            out = base.model(mx.array([ids]))[0, -1].astype(mx.float32)
            return np.array(out)

        return self._on_base(job)

    def prompt_tokens(self, chats: list[list[Message]]) -> Future[list[int]]:
        """How many tokens each chat's prompt is, as the executive would be asked it (counted
        on the engine thread: the tokenizer is the model's, and is not shared across threads)."""
        chats = [self.with_system(c, None) for c in chats]
        return self._on_base(lambda base: [len(prompt_ids(base.tokenizer, c)) for c in chats])

    def with_system(self, messages: list[Message], adapter: Path | None) -> list[Message]:
        """`messages` with the user's system prompt (`[chat] system_prompt`) first, for the
        executive (`adapter` None), wherever it runs. A memory is asked exactly as it was
        taught, with none (`encode_example`)."""
        prompt = self.settings.system_prompt
        if prompt and adapter is None and (not messages or messages[0]["role"] != "system"):
            return [{"role": "system", "content": prompt}, *messages]
        return messages

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
        self._attached = None
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
    prompt = prompt_ids(tokenizer, messages)
    sampler = make_sampler(temp=settings.temperature, top_p=settings.top_p)
    processors = make_logits_processors(
        repetition_penalty=settings.repetition_penalty or None,
        repetition_context_size=settings.repetition_context,
    )
    pieces: list[str] = []
    logprob = 0.0
    last = None
    finish = "stop"
    for response in stream_generate(
        base.model, tokenizer, prompt, max_tokens=max_tokens,
        sampler=sampler, logits_processors=processors,
    ):
        last = response
        logprob += float(response.logprobs[response.token].item())  # type: ignore[arg-type]
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
        confidence=math.exp(logprob / last.generation_tokens) if last else 0.0,
    )


def _generate_batch(
    base: BaseModel,
    chats: list[list[Message]],
    max_tokens: int,
    cancel: threading.Event | None,
    batch_size: int = 16,
    temperature: float = 0.0,
) -> list[Reply]:
    # mlx-lm's BatchGenerator rather than its batch_generate: we stop at the next token when
    # cancelled and keep each sequence's log-probabilities for `confidence`. All chats go in
    # at once: a finished sequence's place in the batch goes to the next chat (continuous
    # batching), where fixed batches of `batch_size` each waited for their longest reply.
    import time

    from mlx_lm.generate import BatchGenerator
    from mlx_lm.sample_utils import make_sampler

    if not chats:
        return []
    tokenizer = base.tokenizer
    prompts = [prompt_ids(tokenizer, c) for c in chats]
    began = time.perf_counter()
    gen = BatchGenerator(base.model, stop_tokens=[[t] for t in tokenizer.eos_token_ids],
                         sampler=make_sampler(temp=temperature) if temperature > 0 else None,
                         completion_batch_size=batch_size, prefill_batch_size=batch_size)
    try:
        uids = gen.insert(prompts, [max_tokens] * len(prompts))
        tokens: dict[int, list[int]] = {u: [] for u in uids}
        logprobs: dict[int, float] = dict.fromkeys(uids, 0.0)
        finish: dict[int, str | None] = dict.fromkeys(uids)
        while not (cancel is not None and cancel.is_set()) and (
                responses := gen.next_generated()):
            for r in responses:
                if r.finish_reason != "stop":
                    tokens[r.uid].append(r.token)
                    logprobs[r.uid] += float(r.logprobs[r.token].item())
                if r.finish_reason is not None:
                    finish[r.uid] = r.finish_reason
    finally:
        gen.close()
    cancelled = cancel is not None and cancel.is_set()
    seconds = max(time.perf_counter() - began, 1e-9)
    generated = sum(len(t) for t in tokens.values())
    prompt_total = sum(len(p) for p in prompts)
    replies: list[Reply] = []
    for uid, prompt in zip(uids, prompts, strict=True):
        reason = finish[uid]
        if reason is None and cancelled:  # the replies cover the chats finished before it
            break
        n = len(tokens[uid])
        replies.append(Reply(
            text=tokenizer.decode(tokens[uid]),
            finish_reason=reason or "length",
            prompt_tokens=len(prompt),
            generation_tokens=n,
            # The run's throughput: the sequences ran together.
            prompt_tps=prompt_total / seconds,
            generation_tps=generated / seconds,
            peak_memory_gb=mx.get_peak_memory() / 1e9,
            confidence=math.exp(logprobs[uid] / n) if n else 0.0,
        ))
    return replies
