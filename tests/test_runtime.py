"""The runtime: one engine thread owns the model; streaming, cancellation, failures."""

from __future__ import annotations

import threading

import pytest

from memo_mlx.models import ModelError
from memo_mlx.runtime import ModelRuntime, RuntimeClosed
from memo_mlx.settings import GenerationSettings

CHAT = [{"role": "user", "content": "the hat in the hat"}]


@pytest.fixture
def runtime(tiny_q8):
    with ModelRuntime(str(tiny_q8.path), settings=GenerationSettings(max_tokens=24)) as rt:
        yield rt


def test_streams_the_whole_reply(runtime):
    pieces: list[str] = []
    threads: set[str] = set()

    def on_text(text: str) -> None:
        pieces.append(text)
        threads.add(threading.current_thread().name)

    reply = runtime.generate(CHAT, on_text=on_text).result(timeout=60)
    assert reply.generation_tokens > 1
    assert "".join(pieces) == reply.text and len(pieces) > 1
    assert threads == {"memo-engine"}  # all MLX work on the one engine thread
    assert reply.finish_reason in ("stop", "length")
    assert reply.prompt_tokens == len(
        runtime.submit(
            lambda b: b.tokenizer.encode(
                b.tokenizer.apply_chat_template(CHAT, add_generation_prompt=True, tokenize=False),
                add_special_tokens=False,
            )
        ).result()
    )


def test_greedy_generation_is_reproducible(runtime):
    first = runtime.generate(CHAT).result(timeout=60)
    second = runtime.generate(CHAT).result(timeout=60)
    assert first.text == second.text


def test_max_tokens(runtime):
    reply = runtime.generate(CHAT, max_tokens=3).result(timeout=60)
    assert reply.generation_tokens <= 3


def test_cancel_stops_at_the_next_token(runtime):
    cancel = threading.Event()
    seen: list[str] = []

    def on_text(text: str) -> None:
        seen.append(text)
        cancel.set()

    reply = runtime.generate(CHAT, on_text=on_text, cancel=cancel, max_tokens=24).result(60)
    assert reply.finish_reason == "cancelled"
    assert reply.generation_tokens == 1 and reply.text == "".join(seen)


def test_load_failure_reaches_every_job(tmp_path):
    rt = ModelRuntime(str(tmp_path / "missing.gguf"))
    with pytest.raises(ModelError, match="missing.gguf: no such model file"):
        rt.loaded.result(timeout=60)
    with pytest.raises(ModelError, match="missing.gguf"):
        rt.generate(CHAT).result(timeout=60)
    rt.close()


def test_close_cancels_queued_work_and_refuses_new(tiny_q8):
    rt = ModelRuntime(str(tiny_q8.path))
    started, gate = threading.Event(), threading.Event()
    busy = rt.submit(lambda _b: started.set() or gate.wait(30))
    queued = rt.generate(CHAT)
    assert started.wait(60)
    closer = threading.Thread(target=rt.close)
    closer.start()
    gate.set()
    closer.join(60)
    assert busy.result() is True  # the job under way finishes
    assert queued.cancelled()
    with pytest.raises(RuntimeClosed):
        rt.generate(CHAT)


def test_system_prompt_setting_is_prepended(tiny_q8):
    settings = GenerationSettings(system_prompt="Be brief.", max_tokens=2)
    with ModelRuntime(str(tiny_q8.path), settings=settings) as rt:
        with_system = rt.generate(CHAT).result(60)
    assert with_system.prompt_tokens > ModelRuntime(str(tiny_q8.path)).generate(
        CHAT, max_tokens=2
    ).result(60).prompt_tokens
