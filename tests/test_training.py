"""Training a memory on the tiny model: learning, masking, batching, adapters, resume, cancel."""

from __future__ import annotations

import json
import math
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten

from memo_mlx.learning import training
from memo_mlx.learning.training import (
    Example,
    TrainingError,
    TrainProgress,
    TrainSettings,
    attach_adapter,
    checkpoint_dir,
    detach_adapter,
    load_adapter_weights,
    save_adapter,
    train_adapter,
)
from memo_mlx.models.base import BaseModel, load_base
from tiny import TinyModel

NAMES = ["Ada", "Bo", "Cy", "Di", "Ed", "Flo", "Gus", "Hal", "Ivy", "Jo"]
EXAMPLES = [Example(f"Who owns box {i}?", f"Box {i} is {n}'s.") for i, n in enumerate(NAMES)]
FAST = TrainSettings(rank=8, learning_rate=1e-3, epochs=8, checkpoint_every=0)
PROBE = mx.array([[1, 120, 118, 264, 13, 40, 50, 60]])


@pytest.fixture(scope="module")
def base(tiny_q8: TinyModel) -> BaseModel:
    return load_base(str(tiny_q8.path))


@pytest.fixture(scope="module")
def trained(base: BaseModel, tmp_path_factory: pytest.TempPathFactory):
    """One adapter trained on EXAMPLES, and the losses of its steps."""
    adapter = tmp_path_factory.mktemp("trained") / "memory"
    losses: list[float] = []
    result = train_adapter(
        base.model, base.tokenizer, EXAMPLES, adapter, settings=FAST, run_key="trained",
        on_progress=lambda p: losses.append(p.loss),
    )
    return adapter, result, losses


def epoch_steps(base: BaseModel, examples: list[Example], settings: TrainSettings) -> int:
    lengths = [len(training.encode_example(base.tokenizer, e)[0]) for e in examples]
    return len(training.make_batches(lengths, batch_size=settings.batch_size,
                                     max_batch_tokens=settings.max_batch_tokens))


def logits(model) -> mx.array:
    out = model(PROBE)
    mx.eval(out)
    return out


def test_loss_falls_and_the_adapter_is_mlx_lms(base: BaseModel, trained):
    adapter, result, losses = trained
    assert result.steps == len(losses) == FAST.epochs * epoch_steps(base, EXAMPLES, FAST)
    assert not result.cancelled and result.resumed_from == 0
    assert result.final_loss < 0.25 * losses[0], losses
    assert sorted(p.name for p in adapter.iterdir()) == ["adapter_config.json",
                                                         "adapters.safetensors"]
    assert not checkpoint_dir(adapter).exists()
    assert [p.name for p in adapter.parent.iterdir()] == ["memory"]  # no temporary leftovers
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["fine_tune_type"] == "lora" and config["num_layers"] == 2
    assert config["lora_parameters"] == {
        "rank": 8, "scale": 2.0, "dropout": 0.0, "keys": list(FAST.keys)
    }
    # mlx-lm's own loader reads it and computes what attach_adapter does.
    from mlx_lm.tuner.utils import load_adapters

    attach_adapter(base.model, adapter)
    ours = logits(base.model)
    detach_adapter(base.model)
    load_adapters(base.model, str(adapter))
    theirs = logits(base.model)
    detach_adapter(base.model)
    assert mx.allclose(ours, theirs, atol=1e-5)


def test_the_adapter_changes_the_output_and_detach_restores_the_exact_base(
    base: BaseModel, trained
):
    adapter, _, _ = trained
    before = logits(base.model)
    attach_adapter(base.model, adapter)
    with_memory = logits(base.model)
    detach_adapter(base.model)
    assert mx.abs(with_memory - before).max().item() > 0.1
    assert mx.array_equal(logits(base.model), before)
    # The memory answers what it was taught; the base does not.
    from mlx_lm.generate import generate

    prompt = base.tokenizer.apply_chat_template(
        [{"role": "user", "content": EXAMPLES[3].question}], add_generation_prompt=True,
        tokenize=False,
    )
    attach_adapter(base.model, adapter)
    answer = generate(base.model, base.tokenizer, prompt, max_tokens=12)
    detach_adapter(base.model)
    plain = generate(base.model, base.tokenizer, prompt, max_tokens=12)
    assert answer != plain


def test_loss_is_on_answer_tokens_only(base: BaseModel):
    tokenizer = base.tokenizer
    example = Example("Where is the key?", "Under the mat.", system="Be brief.")
    ids, offset = training.encode_example(tokenizer, example)
    assert tokenizer.decode(ids[offset:]) == "Under the mat.<|im_end|>\n"
    messages = [{"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Where is the key?"}]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert tokenizer.decode(ids[:offset]) == prompt

    data = [training.encode_example(tokenizer, e) for e in [example, *EXAMPLES[:2]]]
    batch = training.make_batches([len(d[0]) for d in data], batch_size=4,
                                  max_batch_tokens=2048)[0]
    inputs, targets, mask = training.batch_arrays(data, batch)
    # A hand-written masked cross-entropy, in numpy, over the model's full logits.
    full = np.asarray(base.model(inputs), np.float64)
    logp = full - np.log(np.exp(full - full.max(-1, keepdims=True)).sum(-1, keepdims=True)) \
        - full.max(-1, keepdims=True)
    t = np.asarray(targets)
    nll = -np.take_along_axis(logp, t[..., None], axis=-1)[..., 0]
    m = np.asarray(mask)
    expected = (nll * m).sum() / m.sum()
    for row, i in enumerate(batch.indices):  # the mask covers exactly the answer targets
        ids, offset = data[i]
        assert m[row].sum() == len(ids) - offset
        assert list(t[row][m[row] > 0]) == ids[offset:]
    reference, ntoks = training.masked_loss(base.model, inputs, targets, mask)
    step_loss = training._answer_loss(base.model)(*training.answer_arrays(data, batch))
    assert ntoks.item() == m.sum()
    assert abs(reference.item() - expected) < 1e-4
    assert abs(step_loss.item() - expected) < 1e-4
    assert training._split_head(base.model) is not None  # the answer-only head was used


def test_bucketing_respects_the_caps_and_pads_little():
    rng = np.random.default_rng(1)
    lengths = [int(n) for n in rng.integers(8, 400, size=200)]
    batches = training.make_batches(lengths, batch_size=8, max_batch_tokens=1024)
    assert sorted(i for b in batches for i in b.indices) == list(range(200))
    for b in batches:
        assert len(b.indices) <= 8
        assert b.padded_tokens <= 1024
        assert all(lengths[i] - 1 <= b.width for i in b.indices)
        assert b.width % training.PAD_MULTIPLE == 0
    real = sum(lengths[i] - 1 for b in batches for i in b.indices)
    assert 1 - real / sum(b.padded_tokens for b in batches) < 0.1
    # One example longer than the token cap still gets a batch of its own.
    alone = training.make_batches([10, 3000], batch_size=4, max_batch_tokens=1024)
    assert [b.indices for b in alone] == [(0,), (1,)]


def test_long_examples_are_truncated_and_unanswerable_ones_skipped(base: BaseModel, tmp_path):
    long = Example("Tell me everything.", "word " * 300)
    hopeless = Example("question " * 100, "An answer.")
    settings = replace(FAST, epochs=1, max_seq_len=48)
    result = train_adapter(base.model, base.tokenizer, [long, hopeless, *EXAMPLES[:2]],
                           tmp_path / "m", settings=settings, run_key="long")
    assert (result.truncated, result.skipped) == (2, 1)
    assert result.steps == 1
    with pytest.raises(TrainingError, match="nothing to train on"):
        train_adapter(base.model, base.tokenizer, [hopeless], tmp_path / "m",
                      settings=settings, run_key="hopeless")


KILLED_RUN = """
import json, sys, time
from pathlib import Path
from memo_mlx.models.base import load_base
from memo_mlx.learning.training import Example, TrainSettings, train_adapter
model_path, adapter, settings, examples = sys.argv[1:5]
base = load_base(model_path)
train_adapter(
    base.model, base.tokenizer, [Example(*e) for e in json.loads(examples)], Path(adapter),
    settings=TrainSettings.from_dict(json.loads(settings)), run_key="kill-me",
    on_progress=lambda p: time.sleep(0.15),
)
"""


def test_a_killed_run_resumes_where_it_stopped(base: BaseModel, trained, tmp_path, tiny_q8):
    examples = EXAMPLES[:4]
    settings = replace(FAST, batch_size=2, epochs=6, checkpoint_every=2)
    previous, _, _ = trained
    adapter = tmp_path / "memory"
    shutil.copytree(previous, adapter)  # a memory taught before: must survive the kill
    ckpt = checkpoint_dir(adapter)

    as_dict = {k: list(v) if isinstance(v, tuple) else v for k, v in vars(settings).items()}
    proc = subprocess.Popen([
        sys.executable, "-c", KILLED_RUN, str(tiny_q8.path), str(adapter),
        json.dumps(as_dict), json.dumps([[e.question, e.answer] for e in examples]),
    ])
    try:
        deadline = time.monotonic() + 60
        while not (ckpt / "state.json").exists():
            assert proc.poll() is None, "the training process ended before a checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 60 s"
            time.sleep(0.02)
        time.sleep(0.1)  # land the kill anywhere in the next steps
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()

    # The memory taught before is whole and loads.
    before = load_adapter_weights(previous)
    after = load_adapter_weights(adapter)
    assert all(mx.array_equal(before[k], after[k]) for k in before)
    attach_adapter(base.model, adapter)
    detach_adapter(base.model)

    resumed = train_adapter(base.model, base.tokenizer, examples, adapter, settings=settings,
                            run_key="kill-me")
    total = settings.epochs * epoch_steps(base, examples, settings)
    assert 0 < resumed.resumed_from < resumed.steps == total
    assert not ckpt.exists()
    attach_adapter(base.model, adapter)
    detach_adapter(base.model)

    # The same run uninterrupted ends in the same adapter.
    whole = train_adapter(base.model, base.tokenizer, examples, tmp_path / "whole",
                          settings=settings, run_key="whole")
    assert whole.steps == resumed.steps and whole.resumed_from == 0
    assert whole.tokens == resumed.tokens
    a, b = load_adapter_weights(adapter), load_adapter_weights(tmp_path / "whole")
    assert all(np.allclose(np.asarray(a[k]), np.asarray(b[k]), atol=1e-5) for k in a)


def test_a_checkpoint_of_another_run_is_discarded(base: BaseModel, tmp_path):
    adapter = tmp_path / "memory"
    stop = threading.Event()
    stop.set()  # cancelled before the first step: still leaves a checkpoint
    first = train_adapter(base.model, base.tokenizer, EXAMPLES[:4], adapter,
                          settings=replace(FAST, epochs=1), run_key="one", cancel=stop)
    assert first.cancelled and first.steps == 0
    state = json.loads((checkpoint_dir(adapter) / "state.json").read_text())
    assert state["run_key"] == "one"
    other = train_adapter(base.model, base.tokenizer, EXAMPLES[:4], adapter,
                          settings=replace(FAST, epochs=1), run_key="two")
    assert other.resumed_from == 0 and not other.cancelled
    assert not checkpoint_dir(adapter).exists()


def test_cancel_checkpoints_and_leaves_the_base(base: BaseModel, trained, tmp_path):
    before = logits(base.model)
    stop = threading.Event()
    seen: list[TrainProgress] = []

    def on_progress(p: TrainProgress) -> None:
        seen.append(p)
        if p.step == 3:
            stop.set()

    result = train_adapter(base.model, base.tokenizer, EXAMPLES, tmp_path / "m",
                           settings=FAST, run_key="c", on_progress=on_progress, cancel=stop)
    assert result.cancelled and result.steps == 3 and len(seen) == 3
    assert not (tmp_path / "m").exists()  # no adapter until a run finishes
    state = json.loads((checkpoint_dir(tmp_path / "m") / "state.json").read_text())
    assert state["step"] == 3
    assert mx.array_equal(logits(base.model), before)
    assert not any("lora" in k for k, _ in tree_flatten(base.model.parameters()))
    p = seen[-1]
    assert p.total_steps == FAST.epochs * epoch_steps(base, EXAMPLES, FAST)
    assert p.epoch == (3 - 1) // epoch_steps(base, EXAMPLES, FAST) + 1
    assert p.tokens == result.tokens and p.tokens_per_second > 0 and p.eta_seconds > 0
    # The next call of the run picks up at step 3 (here to be cancelled again at once).
    stop.clear()
    again = train_adapter(base.model, base.tokenizer, EXAMPLES, tmp_path / "m", settings=FAST,
                          run_key="c", on_progress=lambda p: stop.set(), cancel=stop)
    assert again.resumed_from == 3 and again.steps == 4 and again.cancelled
    # Run to the end, it is the uninterrupted run, bit for bit.
    done = train_adapter(base.model, base.tokenizer, EXAMPLES, tmp_path / "m", settings=FAST,
                         run_key="c")
    assert done.resumed_from == 4 and done.steps == trained[1].steps
    assert done.tokens == trained[1].tokens and done.final_loss == trained[1].final_loss
    ours, reference = load_adapter_weights(tmp_path / "m"), load_adapter_weights(trained[0])
    assert all(mx.array_equal(ours[k], reference[k]) for k in reference)


def test_a_failing_run_leaves_the_base_and_the_old_adapter(base: BaseModel, trained, tmp_path):
    before = logits(base.model)
    adapter = tmp_path / "memory"
    shutil.copytree(trained[0], adapter)

    def boom(p: TrainProgress) -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        train_adapter(base.model, base.tokenizer, EXAMPLES, adapter, settings=FAST,
                      run_key="f", on_progress=boom)
    assert mx.array_equal(logits(base.model), before)
    old, now = load_adapter_weights(trained[0]), load_adapter_weights(adapter)
    assert all(mx.array_equal(old[k], now[k]) for k in old)


def test_a_failed_write_keeps_the_old_adapter(base: BaseModel, trained, tmp_path, monkeypatch):
    adapter = tmp_path / "memory"
    shutil.copytree(trained[0], adapter)
    old = load_adapter_weights(adapter)
    calls = {"n": 0}
    real_fsync = training._fsync

    def failing_fsync(path: Path) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # after the weights are written, before the folder is swapped in
            raise OSError("disk full")
        real_fsync(path)

    monkeypatch.setattr(training, "_fsync", failing_fsync)
    with pytest.raises(OSError, match="disk full"):
        save_adapter(adapter, {k: v * 0 for k, v in old.items()}, {"fine_tune_type": "lora"})
    assert [p.name for p in tmp_path.iterdir()] == ["memory"]
    now = load_adapter_weights(adapter)
    assert all(mx.array_equal(old[k], now[k]) for k in old)


def test_folders_are_replaced_whole_where_no_atomic_swap_exists(tmp_path, monkeypatch):
    monkeypatch.setattr(training, "_exchange", lambda a, b: False)
    adapter = tmp_path / "memory"
    save_adapter(adapter, {"w.lora_a": mx.zeros((2, 2))}, {"version": 1})
    save_adapter(adapter, {"w.lora_a": mx.ones((2, 2))}, {"version": 2})
    assert json.loads((adapter / "adapter_config.json").read_text())["version"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["memory"]
    # A crash between setting the old folder aside and moving the new one in: the old comes back.
    aside = tmp_path / ".memory.old-x"
    adapter.rename(aside)
    training._recover(adapter)
    assert [p.name for p in tmp_path.iterdir()] == ["memory"]
    assert json.loads((adapter / "adapter_config.json").read_text())["version"] == 2


WRITER = """
import sys
from pathlib import Path
import mlx.core as mx
from memo_mlx.learning.training import save_adapter
k = 0
while True:
    k += 1
    save_adapter(Path(sys.argv[1]), {"w.lora_a": mx.full((256, 256), float(k))},
                 {"fine_tune_type": "lora", "version": k})
"""


def test_sigkill_while_writing_never_leaves_a_torn_adapter(tmp_path):
    adapter = tmp_path / "memory"
    for delay in (0.0, 0.03, 0.07, 0.11):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(adapter)])
        try:
            deadline = time.monotonic() + 60
            while not adapter.exists():  # wait out the imports: kill it while it writes
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.005)
            time.sleep(delay)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        version = json.loads((adapter / "adapter_config.json").read_text())["version"]
        weights = mx.load(str(adapter / "adapters.safetensors"))
        assert mx.all(weights["w.lora_a"] == version).item()  # both files of one version
    training._recover(adapter)  # a new run clears what the killed writer left
    assert [p.name for p in tmp_path.iterdir()] == ["memory"]


def test_training_from_an_adapter_starts_from_its_weights(base: BaseModel, trained, tmp_path):
    def first_loss(**kwargs) -> float:
        stop = threading.Event()
        losses: list[float] = []

        def on_progress(p: TrainProgress) -> None:
            losses.append(p.loss)
            stop.set()

        train_adapter(base.model, base.tokenizer, EXAMPLES, tmp_path / "m", settings=FAST,
                      on_progress=on_progress, cancel=stop, **kwargs)
        return losses[0]

    fresh = first_loss(run_key="fresh")
    taught = first_loss(run_key="again", init_adapter=trained[0])
    assert taught < 0.5 * fresh
    with pytest.raises(TrainingError, match="another structure"):
        train_adapter(base.model, base.tokenizer, EXAMPLES, tmp_path / "m",
                      settings=replace(FAST, rank=4), run_key="x", init_adapter=trained[0])


def test_swapping_adapters_of_one_structure_only_loads_weights(
    base: BaseModel, trained, tmp_path
):
    first = trained[0]
    weights = load_adapter_weights(first)
    second = tmp_path / "other"
    config = json.loads((first / "adapter_config.json").read_text())
    save_adapter(second, {k: -v if k.endswith("lora_b") else v for k, v in weights.items()},
                 config)
    before = logits(base.model)

    attach_adapter(base.model, first)
    layer = base.model.layers[0].self_attn.q_proj
    with_first = logits(base.model)
    attach_adapter(base.model, second)
    assert base.model.layers[0].self_attn.q_proj is layer  # no rebuild
    with_second = logits(base.model)
    detach_adapter(base.model)
    attach_adapter(base.model, second)
    assert mx.allclose(logits(base.model), with_second)  # as if attached alone
    attach_adapter(base.model, first)
    assert mx.allclose(logits(base.model), with_first)
    assert not mx.allclose(with_first, with_second)
    detach_adapter(base.model)
    assert mx.array_equal(logits(base.model), before)

    # Another structure is rebuilt; an adapter that does not fit leaves the base.
    smaller = tmp_path / "smaller"
    save_adapter(smaller, {k: v[:, :4] if k.endswith("lora_a") else v[:4]
                           for k, v in weights.items()},
                 {**config, "lora_parameters": {**config["lora_parameters"], "rank": 4}})
    attach_adapter(base.model, smaller)
    assert base.model.layers[0].self_attn.q_proj.lora_a.shape[1] == 4
    broken = tmp_path / "broken"
    save_adapter(broken, dict(list(weights.items())[:-1]), config)
    with pytest.raises(TrainingError, match="does not fit"):
        attach_adapter(base.model, broken)
    assert mx.array_equal(logits(base.model), before)
    with pytest.raises(TrainingError, match="no adapter there"):
        attach_adapter(base.model, tmp_path / "nothing")


def test_settings_from_dict_ignore_unknown_keys_and_are_checked():
    s = TrainSettings.from_dict({"rank": 4, "keys": ["self_attn.q_proj"], "colour": "blue"})
    assert s.rank == 4 and s.keys == ("self_attn.q_proj",)
    with pytest.raises(TrainingError, match="rank"):
        TrainSettings(rank=0).check()


# --- the time left (#18) ----------------------------------------------------------------


def run_pace(pace: training.Pace, steps: list[tuple[float, float]]) -> list[float | None]:
    """The estimates a run of (seconds, tokens) steps gets after each step."""
    out = []
    for i, (seconds, tokens) in enumerate(steps):
        pace.add(seconds, tokens)
        out.append(pace.eta(sum(t for _, t in steps[i + 1:])))
    return out


def test_a_slow_first_step_does_not_make_the_estimate():
    """The first step pays for warming up (2.4x the real time in the first estimate it once
    made): left out, the estimate after the second step is the rest of the run's time."""
    steps = [(10.0, 100.0)] + [(4.0, 100.0)] * 161
    etas = run_pace(training.Pace(), steps)
    assert etas[0] is None  # one step, the warm-up: nothing to tell by, so no number
    real = sum(s for s, _ in steps[2:])
    assert etas[1] == pytest.approx(real)
    assert etas[-1] == 0.0


def test_the_rate_is_per_token_over_recent_steps():
    # Steps of two sizes at one pace per token: a short step says nothing wrong of long ones.
    steps = [(1.0, 50.0), (1.0, 50.0)] + [(4.0, 200.0), (1.0, 50.0)] * 20
    etas = run_pace(training.Pace(), steps)
    for i, eta in enumerate(etas[1:], start=1):
        assert eta == pytest.approx(sum(s for s, _ in steps[i + 1:]))
    # The pace changed (the computer got busy): the window follows it.
    pace = training.Pace(window=8)
    run_pace(pace, [(1.0, 100.0)] * 20 + [(3.0, 100.0)] * 8)
    assert pace.rate() == pytest.approx(0.03)


def test_an_earlier_runs_pace_stands_in_until_steps_are_timed():
    pace = training.Pace(prior=0.02)
    assert pace.eta(1000) == pytest.approx(20.0)  # before any step: the earlier runs' pace
    pace.add(9.0, 100)  # the warm-up: still the prior
    assert pace.eta(1000) == pytest.approx(20.0)
    pace.add(1.0, 100)  # one timed step at 0.01 s a token counts against two of the prior's
    assert pace.rate() == pytest.approx((1.0 + 0.02 * 200) / 300)
    for _ in range(30):
        pace.add(1.0, 100)
    assert pace.rate() == pytest.approx((31 + 0.02 * 200) / 3300)
    assert training.Pace(prior=0.0).eta(100) is None  # a prior of nothing is no prior


def test_the_start_tells_the_run_and_the_tokens_left(base: BaseModel, tmp_path, monkeypatch):
    """`on_start` comes once, before the first step; with the pace fixed at the prior, each
    estimate is exactly the prior times the tokens of the steps still to come."""

    class Fixed(training.Pace):
        def add(self, seconds: float, tokens: float) -> None:
            pass

    monkeypatch.setattr(training, "Pace", Fixed)
    starts: list[TrainProgress] = []
    seen: list[TrainProgress] = []
    stop = threading.Event()

    def on_progress(p: TrainProgress) -> None:
        seen.append(p)
        if p.step == 3:
            stop.set()

    settings = replace(FAST, batch_size=3)
    kwargs = dict(settings=settings, run_key="eta", seconds_per_token=0.5,
                  on_start=starts.append)
    first = train_adapter(base.model, base.tokenizer, EXAMPLES, tmp_path / "m",
                          on_progress=on_progress, cancel=stop, **kwargs)
    assert first.cancelled and len(starts) == 1 and len(seen) == 3
    stop.clear()
    done = train_adapter(base.model, base.tokenizer, EXAMPLES, tmp_path / "m",
                         on_progress=seen.append, **kwargs)
    assert len(starts) == 2 and done.resumed_from == 3
    fresh, resumed = starts
    assert (fresh.step, fresh.resumed_from, fresh.tokens) == (0, 0, 0)
    assert fresh.eta_seconds == pytest.approx(0.5 * done.tokens)
    assert (resumed.step, resumed.resumed_from, resumed.tokens) == (3, 3, seen[2].tokens)
    assert resumed.total_steps == done.steps and math.isnan(resumed.loss)
    assert resumed.eta_seconds == pytest.approx(0.5 * (done.tokens - resumed.tokens))
    assert [p.resumed_from for p in seen] == [0] * 3 + [3] * (done.steps - 3)
    for p in seen:
        assert p.eta_seconds == pytest.approx(0.5 * (done.tokens - p.tokens))
