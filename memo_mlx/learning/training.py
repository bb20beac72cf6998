"""Teach a memory: train one LoRA adapter on question-answer reflections, quietly.

The frozen base model is loaded once and shared by the whole app. Training wraps its linear
layers in place with mlx-lm's LoRA layers, trains only those (loss on the answer tokens), writes
the adapter and unwraps the model again, whether training finished, failed or was cancelled.
Recall attaches a memory the same way; memories of one structure swap by loading weights only.

On disk an adapter is mlx-lm's own: `adapters.safetensors` + `adapter_config.json` in one
folder, so `mlx_lm.generate --adapter-path` loads it too. Folders are written whole into a
temporary sibling, fsynced, and swapped in atomically: a reader sees the old adapter or the new
one, never half of one, and a crash leaves the old one in place.

A run checkpoints into the sibling folder `<adapter>.checkpoint` (every `checkpoint_every`
steps, and on cancel): LoRA weights, optimizer state and the step reached. The batch order of
an epoch is a pure function of (seed, epoch), so the step alone says where to go on; a later
call with the same `run_key` (and the same examples and settings) resumes from it.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, cast

import mlx.core as mx
import mlx.nn as nn
import mlx.optimizers as optim
import numpy as np
from mlx.utils import tree_flatten, tree_unflatten
from mlx_lm.tuner.dora import DoRAEmbedding, DoRALinear
from mlx_lm.tuner.lora import LoRAEmbedding, LoRALinear, LoRASwitchLinear
from mlx_lm.tuner.utils import linear_to_lora_layers, remove_lora_layers

from ..errors import MemoError
from ..models.chat_template import chat_text

ADAPTER_FILE = "adapters.safetensors"
CONFIG_FILE = "adapter_config.json"
_OPTIMIZER_FILE = "optimizer.safetensors"
_STATE_FILE = "state.json"
# Batch widths are rounded up to a multiple of this: few distinct shapes (each one is a new
# compiled graph) for little padding.
PAD_MULTIPLE = 8
_LORA_TYPES = (LoRALinear, LoRASwitchLinear, LoRAEmbedding, DoRALinear, DoRAEmbedding)


class TrainingError(MemoError):
    pass


@dataclass(frozen=True)
class TrainSettings:
    rank: int = 16
    scale: float = 2.0  # mlx-lm's LoRA "scale": the update is scale * (x @ A @ B)
    dropout: float = 0.0
    num_layers: int = -1  # adapt the last N transformer blocks; -1 = all
    keys: tuple[str, ...] = (
        "self_attn.q_proj",
        "self_attn.k_proj",
        "self_attn.v_proj",
        "self_attn.o_proj",
        "mlp.gate_proj",
        "mlp.up_proj",
        "mlp.down_proj",
    )
    learning_rate: float = 5e-4
    # Linear warm-up over the first steps, then cosine decay to `min_lr_ratio` of the rate;
    # 0 and 1.0 give the constant rate.
    warmup_steps: int = 0
    min_lr_ratio: float = 1.0
    epochs: int = 30
    batch_size: int = 4  # most examples in a batch
    max_batch_tokens: int = 2048  # most padded tokens in a batch (length bucketing)
    max_seq_len: int = 512  # longer examples are truncated
    checkpoint_every: int = 25  # steps; 0 = only on cancel
    seed: int = 0
    # mx.compile the training step. Off: tracing a new batch shape holds Python's lock for
    # ~200 ms on the default model, which froze the app's window at each; it bought 3.5% on the
    # CPU (bench/RESULTS.md).
    compile: bool = False

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainSettings:
        known = {f.name for f in fields(cls)}
        picked = {k: v for k, v in values.items() if k in known}
        if "keys" in picked:
            picked["keys"] = tuple(picked["keys"])
        return cls(**picked)

    def check(self) -> None:
        """Raise TrainingError naming the first setting that cannot work."""
        problems = [
            (self.rank < 1, "rank must be at least 1"),
            (self.scale <= 0, "scale must be positive"),
            (not 0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)"),
            (self.num_layers == 0 or self.num_layers < -1, "num_layers must be -1 or positive"),
            (not self.keys, "keys must name at least one layer"),
            (self.learning_rate <= 0, "learning_rate must be positive"),
            (self.warmup_steps < 0, "warmup_steps must not be negative"),
            (not 0.0 <= self.min_lr_ratio <= 1.0, "min_lr_ratio must be in [0, 1]"),
            (self.epochs < 1, "epochs must be at least 1"),
            (self.batch_size < 1, "batch_size must be at least 1"),
            (self.max_batch_tokens < 2, "max_batch_tokens must be at least 2"),
            (self.max_seq_len < 2, "max_seq_len must be at least 2"),
            (self.checkpoint_every < 0, "checkpoint_every must not be negative"),
            (self.seed < 0, "seed must not be negative"),
        ]
        for bad, message in problems:
            if bad:
                raise TrainingError(f"training settings: {message}")


@dataclass(frozen=True)
class Example:
    question: str
    answer: str
    system: str | None = None  # a system message before the question


@dataclass(frozen=True)
class TrainProgress:
    step: int  # steps done, 1 after the first
    total_steps: int
    epoch: int  # the epoch the step belonged to, from 1
    loss: float  # that step's mean loss per answer token
    tokens: int  # prompt + answer tokens processed so far in the run
    tokens_per_second: float  # in this call, by wall time
    eta_seconds: float | None  # time left (see `Pace`); None: nothing to tell it by yet
    resumed_from: int = 0  # the step this call began at (0 = a fresh run)


@dataclass(frozen=True)
class TrainResult:
    steps: int  # steps done in the whole run, across resumes
    tokens: int  # prompt + answer tokens processed in the whole run
    final_loss: float  # mean loss per answer token over the last epoch's worth of steps
    seconds: float  # wall time of the whole run, across resumes
    adapter_path: Path
    resumed_from: int  # the step resumed from (0 = fresh)
    cancelled: bool
    truncated: int = 0  # examples cut to max_seq_len
    skipped: int = 0  # examples whose answer did not fit max_seq_len at all: not trained on


@dataclass(frozen=True)
class Batch:
    """Examples trained together: `width` is the padded number of positions per row."""

    indices: tuple[int, ...]
    width: int

    @property
    def padded_tokens(self) -> int:
        return len(self.indices) * self.width


# --- data -------------------------------------------------------------------------------


def encode_example(tokenizer: Any, example: Example) -> tuple[list[int], int]:
    """The example's tokens and where its answer starts.

    Tokenized the way recall tokenizes a prompt (chat template text, then `encode` with a BOS
    only where the template has none), so training sees exactly what inference will feed.
    The answer part is the assistant's text plus whatever the template closes a turn with.
    """
    messages = [{"role": "user", "content": example.question}]
    if example.system is not None:
        messages.insert(0, {"role": "system", "content": example.system})
    prompt = chat_text(tokenizer, messages, add_generation_prompt=True)
    full = chat_text(tokenizer, [*messages, {"role": "assistant", "content": example.answer}],
                     add_generation_prompt=False)
    bos = getattr(tokenizer, "bos_token", None)
    add_special = bos is None or not full.startswith(bos)
    prompt_ids = list(tokenizer.encode(prompt, add_special_tokens=add_special))
    ids = list(tokenizer.encode(full, add_special_tokens=add_special))
    # Usually the prompt is a prefix of the whole; where a template rewrites earlier turns
    # or tokens merge across the seam, the answer starts where the two part.
    offset = 0
    for a, b in zip(prompt_ids, ids, strict=False):
        if a != b:
            break
        offset += 1
    return ids, max(offset, 1)


def _encode_all(
    tokenizer: Any, examples: Sequence[Example], limit: int
) -> tuple[list[tuple[list[int], int]], int, int]:
    data: list[tuple[list[int], int]] = []
    truncated = skipped = 0
    for example in examples:
        ids, offset = encode_example(tokenizer, example)
        if len(ids) > limit:
            ids = ids[:limit]
            truncated += 1
        if offset >= len(ids):  # not one answer token left
            skipped += 1
            continue
        data.append((ids, offset))
    return data, truncated, skipped


def make_batches(
    lengths: Sequence[int],
    *,
    batch_size: int,
    max_batch_tokens: int,
    pad_multiple: int = PAD_MULTIPLE,
) -> list[Batch]:
    """Group examples of similar length: at most `batch_size` rows and `max_batch_tokens`
    padded positions a batch (an example of n tokens fills n - 1 positions: inputs are all
    tokens but the last). Sorted by length, so little is padding."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], i))
    batches: list[Batch] = []
    rows: list[int] = []
    width = 0
    for i in order:
        positions = max(lengths[i] - 1, 1)
        # Rounded up, but never past the cap (an example longer than it fills a batch alone).
        own = max(positions, min(-(-positions // pad_multiple) * pad_multiple, max_batch_tokens))
        wider = max(own, width)
        if rows and (len(rows) >= batch_size or (len(rows) + 1) * wider > max_batch_tokens):
            batches.append(Batch(tuple(rows), width))
            rows, wider = [], own
        rows.append(i)
        width = wider
    if rows:
        batches.append(Batch(tuple(rows), width))
    return batches


def batch_arrays(
    data: Sequence[tuple[list[int], int]], batch: Batch
) -> tuple[mx.array, mx.array, mx.array]:
    """Inputs, targets and the loss mask (1.0 on answer targets) of a batch, right-padded.
    (Causal attention: real tokens never see the padding after them.)"""
    tokens = np.zeros((len(batch.indices), batch.width + 1), np.int32)
    mask = np.zeros((len(batch.indices), batch.width), np.float32)
    for row, i in enumerate(batch.indices):
        ids, offset = data[i]
        tokens[row, : len(ids)] = ids
        mask[row, offset - 1 : len(ids) - 1] = 1.0  # target t is token t + 1
    return mx.array(tokens[:, :-1]), mx.array(tokens[:, 1:]), mx.array(mask)


def answer_arrays(
    data: Sequence[tuple[list[int], int]], batch: Batch, pad_multiple: int = PAD_MULTIPLE
) -> tuple[mx.array, mx.array, mx.array, mx.array]:
    """What a training step takes: inputs (rows x width), the flat positions whose next token
    is an answer token, those tokens, and weights (0.0 for the positions padding the count
    to a multiple of `pad_multiple`, so few distinct shapes)."""
    inputs, targets, mask = batch_arrays(data, batch)
    flat = np.flatnonzero(np.asarray(mask).reshape(-1)).astype(np.int32)
    count = -(-len(flat) // pad_multiple) * pad_multiple
    positions = np.zeros(count, np.int32)
    positions[: len(flat)] = flat
    weights = np.zeros(count, np.float32)
    weights[: len(flat)] = 1.0
    answers = np.asarray(targets).reshape(-1)[positions]
    return inputs, mx.array(positions), mx.array(answers), mx.array(weights)


def masked_loss(
    model: nn.Module, inputs: mx.array, targets: mx.array, mask: mx.array
) -> tuple[mx.array, mx.array]:
    """Mean cross-entropy over the answer tokens only, and how many there were: the plain
    reference of what the training step computes."""
    logits = model(inputs)
    ce = nn.losses.cross_entropy(logits.astype(mx.float32), targets) * mask
    ntoks = mask.sum()
    return ce.sum() / mx.maximum(ntoks, 1.0), ntoks


def _split_head(model: nn.Module) -> tuple[Callable[..., mx.array], Callable[..., mx.array]] | None:
    """The model as (body -> hidden states, head -> logits), where that split reproduces it.

    The output head is a 576 x 49152 product per position on SmolLM2 and the cross-entropy
    over it as large again; only answer positions need it (~20% of a step saved).
    Checked on a few tokens rather than trusted per architecture: a model whose head does
    more (soft-capping, scaling) keeps the full forward.
    """
    body = getattr(model, "model", None)
    if not isinstance(body, nn.Module):
        return None
    if getattr(getattr(model, "args", None), "tie_word_embeddings", False) or not hasattr(
        model, "lm_head"
    ):
        head = getattr(getattr(body, "embed_tokens", None), "as_linear", None)
    else:
        head = model.lm_head
    if head is None:
        return None
    probe = mx.array([[1, 2, 3, 4]])
    try:
        whole = model(probe)
        split = head(body(probe))
        same = whole.shape == split.shape and bool(mx.allclose(whole, split, rtol=1e-4, atol=1e-4))
    except Exception:  # any other calling convention: the full forward
        return None
    return (body, head) if same else None


def _answer_loss(model: nn.Module) -> Callable[..., mx.array]:
    """loss(inputs, positions, answers, weights): mean cross-entropy over answer tokens."""
    split = _split_head(model)

    def loss(inputs: mx.array, positions: mx.array, answers: mx.array, weights: mx.array):
        if split is None:
            logits = model(inputs)
            logits = logits.reshape(-1, logits.shape[-1])[positions]
        else:
            body, head = split
            hidden = body(inputs)
            logits = head(hidden.reshape(-1, hidden.shape[-1])[positions])
        ce = nn.losses.cross_entropy(logits.astype(mx.float32), answers) * weights
        return ce.sum() / mx.maximum(weights.sum(), 1.0)

    return loss


def _flat(tree: Any) -> dict[str, mx.array]:
    return dict(cast(list[tuple[str, mx.array]], tree_flatten(tree)))


def _scalar(value: mx.array) -> float:
    return float(cast(float, value.item()))


def _epoch_order(seed: int, epoch: int, count: int) -> list[int]:
    return [int(i) for i in np.random.default_rng([seed, epoch]).permutation(count)]


def _fingerprint(settings: TrainSettings, data: Sequence[tuple[list[int], int]]) -> str:
    # What a resumed run must share with the one that wrote the checkpoint.
    same = {k: v for k, v in asdict(settings).items() if k not in ("checkpoint_every", "compile")}
    digest = hashlib.sha256(json.dumps(same, sort_keys=True).encode())
    for ids, offset in data:
        digest.update(np.asarray([offset, *ids], np.int64).tobytes())
        digest.update(b"|")
    return digest.hexdigest()


# --- adapters: structure, attach, detach --------------------------------------------------


def adapter_config(settings: TrainSettings, model: nn.Module) -> dict[str, Any]:
    """The adapter_config.json that `settings` give on `model` (mlx-lm's keys)."""
    total = len(model.layers)
    if settings.num_layers > total:
        raise TrainingError(
            f"training settings: num_layers is {settings.num_layers} "
            f"but the model has {total} blocks"
        )
    return {
        "fine_tune_type": "lora",
        "num_layers": total if settings.num_layers < 0 else settings.num_layers,
        "lora_parameters": {
            "rank": settings.rank,
            "scale": settings.scale,
            "dropout": settings.dropout,
            "keys": list(settings.keys),
        },
    }


def load_adapter_config(adapter_dir: Path) -> dict[str, Any]:
    path = Path(adapter_dir) / CONFIG_FILE
    _recover(Path(adapter_dir), clean=False)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        missing = {"rank", "scale"} - set(config["lora_parameters"])
        if missing:
            raise KeyError(", ".join(sorted(missing)))
    except FileNotFoundError:
        raise TrainingError(f"{adapter_dir}: no adapter there ({CONFIG_FILE} is missing)") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise TrainingError(f"{path}: not a readable adapter config ({e!r})") from e
    kind = config.get("fine_tune_type", "lora")
    if kind != "lora":
        raise TrainingError(f"{adapter_dir}: a {kind!r} adapter; only LoRA adapters are supported")
    return dict(config)


def load_adapter_weights(adapter_dir: Path) -> dict[str, mx.array]:
    path = Path(adapter_dir) / ADAPTER_FILE
    _recover(Path(adapter_dir), clean=False)
    if not path.is_file():
        raise TrainingError(f"{adapter_dir}: no adapter there ({ADAPTER_FILE} is missing)")
    try:
        weights = mx.load(str(path))
    except (OSError, ValueError, RuntimeError) as e:
        raise TrainingError(f"{path}: not a readable adapter ({e})") from e
    if not isinstance(weights, dict):
        raise TrainingError(f"{path}: not a readable adapter")
    return weights


def _span(config: dict[str, Any], model: nn.Module) -> int:
    # mlx-lm's reading of num_layers: the last N blocks, all of them for N <= 0.
    n = int(config.get("num_layers", -1))
    total = len(model.layers)
    return total if n <= 0 else min(n, total)


def _shape_of(config: dict[str, Any], model: nn.Module) -> tuple[Any, ...]:
    """What decides the shapes of an adapter's weights and what they mean."""
    params = config["lora_parameters"]
    keys = params.get("keys")
    return (
        _span(config, model),
        int(params["rank"]),
        float(params["scale"]),
        None if keys is None else tuple(sorted(keys)),
    )


def _has_structure(model: nn.Module, config: dict[str, Any]) -> bool:
    """Whether the model already carries the LoRA layers `config` describes."""
    params = config["lora_parameters"]
    keys = params.get("keys")
    if keys is None:
        return False  # mlx-lm's "every linear layer": rebuilt each time, not ours
    layers = model.layers
    first = len(layers) - _span(config, model)
    expected = found = 0
    for i, layer in enumerate(layers):
        for name, module in layer.named_modules():
            if i >= first and name in keys:
                expected += 1
                if not isinstance(module, LoRALinear):
                    return False
                if (
                    module.lora_a.shape[1] != int(params["rank"])
                    or module.scale != float(params["scale"])
                    or not math.isclose(1.0 - module.dropout._p_1, float(params.get("dropout", 0)))
                ):
                    return False
    for _, module in model.named_modules():
        if isinstance(module, _LORA_TYPES):
            found += 1
    return found == expected > 0


def _apply_lora(model: nn.Module, config: dict[str, Any]) -> None:
    params = dict(config["lora_parameters"])
    params.setdefault("dropout", 0.0)
    model.freeze()
    try:
        linear_to_lora_layers(model, _span(config, model), params)
    except (KeyError, ValueError, TypeError) as e:
        detach_adapter(model)
        raise TrainingError(f"cannot add LoRA layers to this model ({e})") from e
    if not any(isinstance(m, _LORA_TYPES) for _, m in model.named_modules()):
        raise TrainingError(f"no layer of this model matches the LoRA keys {params.get('keys')}")


def _load_lora(model: nn.Module, weights: dict[str, mx.array], where: object) -> None:
    """Load LoRA weights that must cover every LoRA parameter of the model, shapes equal."""
    leaves = ("lora_a", "lora_b")
    params = {k: v for k, v in _flat(model.parameters()).items() if k.rsplit(".", 1)[-1] in leaves}
    extra = sorted(set(weights) - set(params))
    missing = sorted(set(params) - set(weights))
    wrong = sorted(k for k in set(weights) & set(params) if weights[k].shape != params[k].shape)
    if extra or missing or wrong:
        detail = [
            f"{len(extra)} unknown tensors (e.g. {extra[0]})" if extra else "",
            f"{len(missing)} missing (e.g. {missing[0]})" if missing else "",
            f"{len(wrong)} of another shape (e.g. {wrong[0]})" if wrong else "",
        ]
        raise TrainingError(
            f"{where}: the adapter does not fit this model: " + ", ".join(d for d in detail if d)
        )
    model.load_weights(list(weights.items()), strict=False)


def attach_adapter(model: nn.Module, adapter_dir: Path) -> None:
    """Make `model` the base plus the adapter in `adapter_dir`, in inference mode.

    If the model already carries LoRA layers of the adapter's structure (another memory of
    the same settings), only the weights are loaded: milliseconds. On failure the model is
    left detached: the exact base.
    """
    config = load_adapter_config(adapter_dir)
    weights = load_adapter_weights(adapter_dir)
    try:
        if not _has_structure(model, config):
            detach_adapter(model)
            _apply_lora(model, config)
        _load_lora(model, weights, adapter_dir)
        mx.eval(model.parameters())
    except BaseException:
        detach_adapter(model)
        raise
    model.eval()


def detach_adapter(model: nn.Module) -> None:
    """Remove every LoRA layer: the model is the exact base again."""
    remove_lora_layers(model)
    rest = [
        (name, module.embedding if hasattr(module, "embedding") else module.linear)
        for name, module in model.named_modules()
        if isinstance(module, _LORA_TYPES)
    ]
    if rest:
        model.update_modules(tree_unflatten(rest))


def _init_lora(model: nn.Module, seed: int) -> None:
    # mlx-lm draws A from MLX's global RNG; here from the run's seed, leaving that RNG alone.
    modules = sorted(
        (name, m) for name, m in model.named_modules() if isinstance(m, LoRALinear)
    )
    keys = mx.random.split(mx.random.key(seed), max(len(modules), 2))
    for (_, module), key in zip(modules, keys, strict=False):
        fan_in = module.lora_a.shape[0]
        bound = 1.0 / math.sqrt(fan_in)
        module.lora_a = mx.random.uniform(-bound, bound, module.lora_a.shape, key=key)
        module.lora_b = mx.zeros_like(module.lora_b)


# --- atomic folders ---------------------------------------------------------------------


def checkpoint_dir(adapter_dir: Path) -> Path:
    """Where a run that writes `adapter_dir` keeps its checkpoint."""
    adapter_dir = Path(adapter_dir)
    return adapter_dir.parent / f"{adapter_dir.name}.checkpoint"


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2, macOS renamex_np); False if unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if sys.platform.startswith("linux") and hasattr(libc, "renameat2"):
            at_fdcwd, rename_exchange = -100, 2
            rc = libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
        elif sys.platform == "darwin" and hasattr(libc, "renamex_np"):
            rename_swap = 2
            rc = libc.renamex_np(os.fsencode(a), os.fsencode(b), ctypes.c_uint(rename_swap))
        else:
            return False
    except OSError:
        return False
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


def _recover(dest: Path, *, clean: bool = True) -> None:
    """Undo what a crash mid-publish can leave: the old folder set aside but no new one in
    place (only where the filesystem cannot swap atomically); with `clean`, remove the
    leftovers of killed writers."""
    if not dest.parent.is_dir():
        return
    olds = sorted(dest.parent.glob(f".{dest.name}.old-*"), key=lambda p: p.stat().st_mtime)
    if olds and not dest.exists():
        os.replace(olds.pop(), dest)
    if clean:
        for leftover in [*olds, *dest.parent.glob(f".{dest.name}.tmp-*")]:
            shutil.rmtree(leftover, ignore_errors=True)


def write_folder(
    dest: Path,
    tensors: dict[str, dict[str, mx.array]],
    documents: dict[str, dict[str, Any]],
) -> None:
    """Write safetensors files and JSON documents as the folder `dest`, atomically: all in a
    temporary sibling, fsynced, then swapped in; the old folder is removed after."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        for name, arrays in tensors.items():
            mx.save_safetensors(str(tmp / name), arrays)
            _fsync(tmp / name)
        for name, document in documents.items():
            with open(tmp / name, "w", encoding="utf-8") as f:
                json.dump(document, f, indent=2, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
        os.chmod(tmp, 0o755)
        _fsync(tmp)
        if not dest.exists():
            os.replace(tmp, dest)
        elif not _exchange(tmp, dest):
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
            os.replace(dest, old)
            os.replace(tmp, dest)
            tmp = old
        _fsync(dest.parent)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # the new folder's leftovers, or the old one


def save_adapter(adapter_dir: Path, weights: dict[str, mx.array], config: dict[str, Any]) -> Path:
    """Write an adapter folder (mlx-lm's format) atomically."""
    write_folder(Path(adapter_dir), {ADAPTER_FILE: weights}, {CONFIG_FILE: config})
    return Path(adapter_dir)


# --- integrity ---------------------------------------------------------------------------
# The catalog records the sha256 of each adapter's weights (`weights_digest`); before a memory
# answers or is trained on from, its file is compared with it. Bytes overwritten inside the
# tensors load fine and answer "<|endoftext|>" forever: only the digest sees them.

_digests: dict[tuple[str, int, int], str] = {}  # (path, mtime_ns, size) -> sha256
_digests_lock = threading.Lock()


def weights_digest(adapter_dir: Path) -> str:
    """The sha256 of the adapter's weights file; a file unchanged since (same mtime and size)
    is not hashed again, so a memory asked many times costs one read of its few MB."""
    path = Path(adapter_dir) / ADAPTER_FILE
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    with _digests_lock:
        known = _digests.get(key)
    if known is None:
        sha = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(1 << 20):
                sha.update(block)
        known = sha.hexdigest()
        with _digests_lock:
            _digests[key] = known
    return known


def adapter_damage(adapter_dir: Path, digest: str | None) -> str | None:
    """Why the adapter in `adapter_dir` is not the one saved, or None. One recorded without a
    digest (before they were kept) is checked as far as it can be: whole safetensors."""
    path = Path(adapter_dir) / ADAPTER_FILE
    try:
        if digest is not None:
            return None if weights_digest(adapter_dir) == digest else (
                "its adapter file does not match what was saved")
        return None if _whole_safetensors(path) else "its adapter file is cut short or unreadable"
    except FileNotFoundError:
        return "its adapter file is missing"
    except OSError as e:
        return f"its adapter file cannot be read ({e.strerror or e})"


def _whole_safetensors(path: Path) -> bool:
    """Whether `path` is a safetensors file with all its tensors' bytes: an 8-byte header
    length, the JSON header, then data up to the last tensor's end, and nothing after."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            return False
        length = int.from_bytes(head, "little")
        if length > size - 8:
            return False
        try:
            header = json.loads(f.read(length))
            ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
        except (ValueError, KeyError, TypeError, IndexError, AttributeError):
            return False
    return size == 8 + length + max(ends, default=0)


# --- checkpoints ------------------------------------------------------------------------


@dataclass
class _Checkpoint:
    step: int
    tokens: int
    seconds: float
    recent: list[tuple[float, float]]  # (loss * answer tokens, answer tokens) of recent steps
    weights: dict[str, mx.array]
    optimizer: dict[str, mx.array]


def _read_checkpoint(path: Path, run_key: str, fingerprint: str, total: int) -> _Checkpoint | None:
    """The checkpoint at `path` if it belongs to this run; any other is removed."""
    if not path.is_dir():
        return None
    try:
        state = json.loads((path / _STATE_FILE).read_text(encoding="utf-8"))
        if (
            state["run_key"] == run_key
            and state["fingerprint"] == fingerprint
            and 0 <= int(state["step"]) <= total
        ):
            return _Checkpoint(
                step=int(state["step"]),
                tokens=int(state["tokens"]),
                seconds=float(state["seconds"]),
                recent=[(float(a), float(b)) for a, b in state["recent"]],
                weights=_loaded(path / ADAPTER_FILE),
                optimizer=_loaded(path / _OPTIMIZER_FILE),
            )
    except (OSError, ValueError, KeyError, TypeError, RuntimeError):
        pass  # unreadable: as good as none
    shutil.rmtree(path, ignore_errors=True)
    return None


def _loaded(path: Path) -> dict[str, mx.array]:
    arrays = mx.load(str(path))
    if not isinstance(arrays, dict):
        raise ValueError(f"{path}: not a safetensors file")
    mx.eval(list(arrays.values()))  # a bad file fails here, not mid-training
    return arrays


def _set_optimizer_state(optimizer: optim.Optimizer, saved: dict[str, mx.array]) -> None:
    """Put saved leaves into the initialized state tree, in place (its lists of layers keep
    their length, which rebuilding the tree from flat names would not)."""
    current = _flat(optimizer.state)
    if set(current) != set(saved) or any(current[k].shape != saved[k].shape for k in saved):
        raise ValueError("optimizer state of another structure")
    for name, value in saved.items():
        *path, leaf = name.split(".")
        node: Any = optimizer.state
        for part in path:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[int(leaf) if isinstance(node, list) else leaf] = value.astype(current[name].dtype)


# --- training ---------------------------------------------------------------------------


class Pace:
    """How long the rest of a run will take, from how long its steps took.

    The rate is seconds per token over the last `window` timed steps: batches differ in size,
    and the tokens of the steps to come are known. The first `warmup` steps of a call are not
    timed: they pay for starting up and once made the first estimate 2.4x the real time. Until
    a step is timed, `prior` (seconds per token of earlier runs on this computer) stands in,
    and after it counts as `prior_steps` steps; with no prior there is no estimate before a
    timed step, rather than a wrong one.
    """

    def __init__(self, prior: float | None = None, *, warmup: int = 1, window: int = 32,
                 prior_steps: float = 2.0):
        self.prior = prior if prior is not None and prior > 0 else None
        self.warmup = warmup
        self.prior_steps = prior_steps
        self._seen = 0
        self._recent: deque[tuple[float, float]] = deque(maxlen=window)

    def add(self, seconds: float, tokens: float) -> None:
        """One step done, in `seconds`, over `tokens`."""
        self._seen += 1
        if self._seen > self.warmup and tokens > 0:
            self._recent.append((seconds, tokens))

    def rate(self) -> float | None:
        """Seconds per token, or None when nothing tells it yet."""
        if not self._recent:
            return self.prior
        seconds = sum(s for s, _ in self._recent)
        tokens = sum(t for _, t in self._recent)
        if self.prior is None:
            return seconds / tokens
        weight = self.prior_steps * tokens / len(self._recent)
        return (seconds + self.prior * weight) / (tokens + weight)

    def eta(self, tokens_left: float) -> float | None:
        """Seconds for `tokens_left` more tokens."""
        rate = self.rate()
        return None if rate is None else rate * max(tokens_left, 0.0)


@dataclass(frozen=True)
class _Plan:
    """A run's data and schedule: what decides every step, and so what a resume must share."""

    data: list[tuple[list[int], int]]  # (tokens, where the answer starts) per example
    batches: list[Batch]
    total: int  # steps of the whole run
    fingerprint: str
    truncated: int
    skipped: int

    @property
    def per_epoch(self) -> int:
        return len(self.batches)



def _optimizer(settings: TrainSettings, total_steps: int) -> optim.Optimizer:
    lr = settings.learning_rate
    schedule: Any = lr
    if settings.min_lr_ratio < 1.0:
        decay_steps = max(total_steps - settings.warmup_steps, 1)
        schedule = optim.cosine_decay(lr, decay_steps, lr * settings.min_lr_ratio)
    if settings.warmup_steps > 0:
        warmup = optim.linear_schedule(lr / settings.warmup_steps, lr, settings.warmup_steps)
        rest = schedule if callable(schedule) else (lambda _: mx.array(lr))
        schedule = optim.join_schedules([warmup, rest], [settings.warmup_steps])
    return optim.AdamW(learning_rate=schedule)


def _step_function(
    model: nn.Module, optimizer: optim.Optimizer, compiled: bool
) -> Callable[..., mx.array]:
    """One optimizer step on a batch's `answer_arrays`; returns its loss, evaluated."""
    loss_and_grad = nn.value_and_grad(model, _answer_loss(model))
    # Everything the step reads and writes besides its arguments (as mlx-lm's trainer does):
    # compile needs it declared to see updates between calls.
    state = [model.state, optimizer.state, mx.random.state]

    def step(*batch: mx.array) -> mx.array:
        loss, grads = loss_and_grad(*batch)
        optimizer.update(model, grads)
        return loss

    fn = mx.compile(step, inputs=state, outputs=state) if compiled else step

    def run(*batch: mx.array) -> mx.array:
        loss = fn(*batch)
        mx.eval(state, loss)
        return loss

    return run


def _plan(tokenizer: Any, examples: Sequence[Example], settings: TrainSettings) -> _Plan:
    limit = min(settings.max_seq_len, settings.max_batch_tokens + 1)
    data, truncated, skipped = _encode_all(tokenizer, examples, limit)
    if not data:
        raise TrainingError(
            "nothing to train on: no examples" if not examples
            else f"nothing to train on: no answer fits within max_seq_len={limit} tokens"
        )
    batches = make_batches(
        [len(ids) for ids, _ in data],
        batch_size=settings.batch_size,
        max_batch_tokens=settings.max_batch_tokens,
        pad_multiple=PAD_MULTIPLE,
    )
    return _Plan(
        data=data,
        batches=batches,
        total=len(batches) * settings.epochs,
        fingerprint=_fingerprint(settings, data),
        truncated=truncated,
        skipped=skipped,
    )


def train_adapter(
    base_model: nn.Module,
    tokenizer: Any,
    examples: Sequence[Example],
    adapter_dir: Path,
    *,
    settings: TrainSettings,
    run_key: str,
    init_adapter: Path | None = None,
    on_progress: Callable[[TrainProgress], None] | None = None,
    on_start: Callable[[TrainProgress], None] | None = None,
    seconds_per_token: float | None = None,
    cancel: threading.Event | None = None,
) -> TrainResult:
    """Train a LoRA adapter on `examples` into `adapter_dir`; see the module docstring.

    Resumes from this run's checkpoint if there is one (same `run_key`, examples and
    settings); otherwise starts from `init_adapter`'s weights, if given, or a fresh LoRA.
    `on_progress` hears of each step; `on_start` once before the first, with the step the
    run starts at (`resumed_from`), its length and, given `seconds_per_token` (the pace of
    earlier runs), an estimate of its time; its loss is NaN. Setting `cancel` stops between
    steps: the run is checkpointed and the result says cancelled. The model is always left
    detached (the exact base).
    """
    settings.check()
    began = time.perf_counter()
    adapter_dir = Path(adapter_dir)
    model = base_model
    detach_adapter(model)
    config = adapter_config(settings, model)
    config_doc = {**config, "memo": {"run_key": run_key, "examples": len(examples)}}

    plan = _plan(tokenizer, examples, settings)
    ckpt_dir = checkpoint_dir(adapter_dir)
    _recover(adapter_dir)
    _recover(ckpt_dir)
    saved = _read_checkpoint(ckpt_dir, run_key, plan.fingerprint, plan.total)
    init_weights = None
    if saved is None and init_adapter is not None:
        init_config = load_adapter_config(init_adapter)
        if _shape_of(init_config, model) != _shape_of(config, model):
            raise TrainingError(
                f"{init_adapter}: the adapter to start from has another structure "
                f"(layers, rank, scale, keys) than these settings: "
                f"{_shape_of(init_config, model)} vs {_shape_of(config, model)}"
            )
        init_weights = load_adapter_weights(init_adapter)

    try:
        _apply_lora(model, config)
        _init_lora(model, settings.seed)
        optimizer = _optimizer(settings, plan.total)
        if saved is not None:
            try:
                _load_lora(model, saved.weights, ckpt_dir)
                optimizer.init(model.trainable_parameters())
                _set_optimizer_state(optimizer, saved.optimizer)
            except (TrainingError, ValueError):  # another structure: start afresh
                shutil.rmtree(ckpt_dir, ignore_errors=True)
                saved = None
                _init_lora(model, settings.seed)
                optimizer = _optimizer(settings, plan.total)
        if saved is None and init_weights is not None:
            _load_lora(model, init_weights, init_adapter)
        if saved is None:
            optimizer.init(model.trainable_parameters())
        mx.eval(model.parameters(), optimizer.state)
        return _run(
            model, optimizer, settings, plan, saved,
            adapter_dir=adapter_dir, run_key=run_key, config_doc=config_doc, began=began,
            on_progress=on_progress, on_start=on_start, pace=Pace(seconds_per_token),
            cancel=cancel,
        )
    finally:
        detach_adapter(model)
        model.eval()


def _run(
    model: nn.Module,
    optimizer: optim.Optimizer,
    settings: TrainSettings,
    plan: _Plan,
    saved: _Checkpoint | None,
    *,
    adapter_dir: Path,
    run_key: str,
    config_doc: dict[str, Any],
    began: float,
    on_progress: Callable[[TrainProgress], None] | None,
    on_start: Callable[[TrainProgress], None] | None,
    pace: Pace,
    cancel: threading.Event | None,
) -> TrainResult:
    """The training loop, from step 0 or the checkpoint's step to the end or a cancel."""
    ckpt_dir = checkpoint_dir(adapter_dir)
    per_epoch, total = plan.per_epoch, plan.total
    start = step = saved.step if saved else 0
    tokens = saved.tokens if saved else 0
    seconds_before = saved.seconds if saved else 0.0
    recent: deque[tuple[float, float]] = deque(saved.recent if saved else (), maxlen=per_epoch)
    arrays = [answer_arrays(plan.data, b) for b in plan.batches]
    answer_tokens = [_scalar(weights.sum()) for *_, weights in arrays]
    real_tokens = [sum(len(plan.data[i][0]) for i in b.indices) for b in plan.batches]
    if settings.dropout > 0:
        mx.random.seed(settings.seed * 1_000_003 + step)  # dropout draws from MLX's own RNG
    run_step = _step_function(model, optimizer, settings.compile)
    model.train()

    def checkpoint() -> None:
        state = {
            "run_key": run_key,
            "fingerprint": plan.fingerprint,
            "step": step,
            "total_steps": total,
            "tokens": tokens,
            "seconds": seconds_before + time.perf_counter() - began,
            "recent": list(recent),
        }
        write_folder(
            ckpt_dir,
            {
                ADAPTER_FILE: _flat(model.trainable_parameters()),
                _OPTIMIZER_FILE: _flat(optimizer.state),
            },
            {CONFIG_FILE: config_doc, _STATE_FILE: state},
        )

    epoch_tokens = sum(real_tokens)

    def tokens_left(order: list[int], order_epoch: int) -> int:
        # From `step` on: the rest of this epoch (its order known), then whole epochs.
        epoch, position = divmod(step, per_epoch)
        rest = sum(real_tokens[b] for b in order[position:]) if epoch == order_epoch else 0
        whole = total // per_epoch - epoch - (1 if epoch == order_epoch else 0)
        return rest + whole * epoch_tokens

    if on_start is not None:
        first = start // per_epoch
        left = tokens_left(_epoch_order(settings.seed, first, per_epoch), first)
        on_start(TrainProgress(
            step=start, total_steps=total, epoch=first + 1, loss=float("nan"), tokens=tokens,
            tokens_per_second=0.0, eta_seconds=pace.eta(left), resumed_from=start,
        ))
    loop_start = lap = time.perf_counter()
    tokens_here = 0
    order: list[int] = []
    order_epoch = -1
    cancelled = False
    while step < total:
        if cancel is not None and cancel.is_set():
            cancelled = True
            break
        epoch, position = divmod(step, per_epoch)
        if epoch != order_epoch:
            order, order_epoch = _epoch_order(settings.seed, epoch, per_epoch), epoch
        b = order[position]
        loss = _scalar(run_step(*arrays[b]))
        step += 1
        tokens += real_tokens[b]
        tokens_here += real_tokens[b]
        recent.append((loss * answer_tokens[b], answer_tokens[b]))
        # Step start to step start: a checkpoint or a slow listener is part of the pace.
        now = time.perf_counter()
        pace.add(now - lap, real_tokens[b])
        lap = now
        if on_progress is not None:
            elapsed = now - loop_start
            on_progress(
                TrainProgress(
                    step=step,
                    total_steps=total,
                    epoch=epoch + 1,
                    loss=loss,
                    tokens=tokens,
                    tokens_per_second=tokens_here / elapsed if elapsed > 0 else 0.0,
                    eta_seconds=pace.eta(tokens_left(order, order_epoch)),
                    resumed_from=start,
                )
            )
        if settings.checkpoint_every and step % settings.checkpoint_every == 0 and step < total:
            checkpoint()

    if cancelled:
        checkpoint()
    else:
        weights = _flat(model.trainable_parameters())
        save_adapter(adapter_dir, weights, config_doc)
        shutil.rmtree(ckpt_dir, ignore_errors=True)
    weight = sum(n for _, n in recent)
    return TrainResult(
        steps=step,
        tokens=tokens,
        final_loss=sum(s for s, _ in recent) / weight if weight else float("nan"),
        seconds=seconds_before + time.perf_counter() - began,
        adapter_path=adapter_dir,
        resumed_from=start,
        cancelled=cancelled,
        truncated=plan.truncated,
        skipped=plan.skipped,
    )
