"""The runtime: one engine thread owns the model; streaming, cancellation, failures."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from memo_mlx.models.base import ModelError
from memo_mlx.models.runtime import ModelRuntime, RuntimeClosed
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


# --- memories on the one base: batched answers, adapters kept and swapped, the exact base ---

QUESTIONS = [[{"role": "user", "content": q}] for q in
             ("the hat in the hat", "who owns box 3?", "a", "the cat sat on the mat " * 4)]


@pytest.fixture(scope="module")
def adapters(tiny_q8, tmp_path_factory):
    """Two adapters of one shape on the tiny model: one trained, one its negation."""
    import json

    from memo_mlx.learning.training import (
        Example,
        TrainSettings,
        load_adapter_weights,
        save_adapter,
        train_adapter,
    )
    from memo_mlx.models.base import load_base
    from memo_mlx.models.runtime import run_on_engine

    where = tmp_path_factory.mktemp("adapters")

    def make():
        base = load_base(str(tiny_q8.path))
        examples = [Example(f"Who owns box {i}?", f"Box {i} is {n}'s.")
                    for i, n in enumerate(["Ada", "Bo", "Cy", "Di"])]
        train_adapter(base.model, base.tokenizer, examples, where / "one",
                      settings=TrainSettings(rank=8, learning_rate=1e-2, epochs=6,
                                             checkpoint_every=0), run_key="one")
        weights = load_adapter_weights(where / "one")
        config = json.loads((where / "one" / "adapter_config.json").read_text())
        save_adapter(where / "two", {k: -v if k.endswith("lora_b") else v
                                     for k, v in weights.items()}, config)

    run_on_engine(make).result()  # MLX work stays on the engine thread
    return where / "one", where / "two"


def test_a_batch_answers_as_one_by_one(runtime):
    batch = runtime.generate_batch(QUESTIONS, max_tokens=12).result(timeout=120)
    single = [runtime.generate(q, max_tokens=12).result(timeout=60) for q in QUESTIONS]
    assert [r.text for r in batch] == [r.text for r in single]
    assert [r.prompt_tokens for r in batch] == [r.prompt_tokens for r in single]
    assert all(0.0 < r.confidence <= 1.0 for r in batch + single)


def test_more_chats_than_a_batch_answer_as_one_by_one(runtime):
    # With two places in the batch, each finished reply hands its place to the next chat.
    from memo_mlx.models.runtime import _generate_batch

    chats = [[{"role": "user", "content": f"the {w} in the hat"}]
             for w in ("cat", "dog", "hat", "mat", "bat")]
    batch = runtime.submit(lambda base: _generate_batch(base, chats, 12, None, batch_size=2))
    single = [runtime.generate(c, max_tokens=12).result(timeout=60) for c in chats]
    assert [r.text for r in batch.result(timeout=120)] == [r.text for r in single]


def test_a_cancelled_batch_stops(runtime):
    cancel = threading.Event()
    cancel.set()
    assert runtime.generate_batch(QUESTIONS, cancel=cancel).result(timeout=60) == []


def test_no_memory_is_exactly_the_base_after_any_memory(runtime, adapters):
    one, two = adapters
    base = runtime.logits(CHAT).result(timeout=60)
    with_one = runtime.logits(CHAT, adapter=one).result(timeout=60)
    with_two = runtime.logits(CHAT, adapter=two).result(timeout=60)  # a swap
    assert not np.array_equal(with_one, base) and not np.array_equal(with_one, with_two)
    assert np.array_equal(runtime.logits(CHAT, adapter=one).result(timeout=60), with_one)
    assert np.array_equal(runtime.logits(CHAT).result(timeout=60), base)  # bit for bit
    # Jobs submitted raw always see the plain base, even right after a memory answered.
    runtime.generate(CHAT, adapter=two, max_tokens=2).result(timeout=60)
    attached = runtime._on_base(lambda b: {type(m).__name__ for _, m in b.model.named_modules()})
    assert "LoRALinear" in attached.result(timeout=60)  # the check below can fail
    kinds = runtime.submit(lambda b: {type(m).__name__ for _, m in b.model.named_modules()})
    assert not any(k.startswith("LoRA") for k in kinds.result(timeout=60))


def test_a_retrained_adapter_is_loaded_afresh(runtime, adapters, tmp_path):
    import shutil

    one, two = adapters
    folder = tmp_path / "memory"
    shutil.copytree(one, folder)
    first = runtime.logits(CHAT, adapter=folder).result(timeout=60)
    shutil.copy(two / "adapters.safetensors", folder / "adapters.safetensors.new")
    (folder / "adapters.safetensors.new").replace(folder / "adapters.safetensors")
    again = runtime.logits(CHAT, adapter=folder).result(timeout=60)
    assert not np.array_equal(first, again)
    assert np.array_equal(again, runtime.logits(CHAT, adapter=two).result(timeout=60))


def test_a_missing_adapter_says_which(runtime, tmp_path):
    with pytest.raises(RuntimeError, match="adapter is missing"):
        runtime.logits(CHAT, adapter=tmp_path / "gone").result(timeout=60)
