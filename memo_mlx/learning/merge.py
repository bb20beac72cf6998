"""Merge memories: TIES merging of LoRA adapters into one adapter.

A memory taught in batches is a list of adapters of one structure. Merging them is done on
what they change, the delta weights of each adapted layer, ΔW = scale · Bᵀ Aᵀ for mlx-lm's
LoRALinear (y = x Wᵀ + scale · x A B, A: in x r, B: r x out), not on A and B separately:
averaging factors is not averaging their products.

TIES (Yadav et al., 2023), per layer, with the adapters' deltas as task vectors:
1. trim: keep each delta's `rho` fraction of entries largest in magnitude, zero the rest;
2. elect: the sign of each entry is that of the weighted sum of the trimmed deltas, i.e. the
   side with more total magnitude;
3. disjoint mean: average, per entry, only the deltas that agree with the elected sign.
The merged ΔW is then factorized back into a LoRA pair of rank `rank` by truncated SVD (the
merged delta is no longer of low rank: trimming is per entry), and written as a normal adapter.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mlx.core as mx
import numpy as np

from .training import TrainingError, load_adapter_config, load_adapter_weights, save_adapter

Adapter = Path | dict[str, mx.array]


def trim(delta: np.ndarray, rho: float) -> np.ndarray:
    """`delta` with all but its `rho` fraction of largest-magnitude entries set to zero."""
    keep = int(rho * delta.size)
    if keep >= delta.size:
        return delta.copy()
    flat = delta.reshape(-1)
    out = np.zeros_like(flat)
    if keep > 0:
        top = np.argpartition(np.abs(flat), flat.size - keep)[flat.size - keep :]
        out[top] = flat[top]
    return out.reshape(delta.shape)


def ties(
    deltas: Sequence[np.ndarray], *, rho: float = 0.3, weights: Sequence[float] | None = None
) -> np.ndarray:
    """TIES merge of task vectors of one shape: trim, elect sign, disjoint (weighted) mean."""
    if not deltas:
        raise TrainingError("nothing to merge")
    w = np.ones(len(deltas), np.float32) if weights is None else np.asarray(weights, np.float32)
    trimmed = np.stack([trim(np.asarray(d, np.float32), rho) for d in deltas])
    scaled = trimmed * w.reshape(-1, *([1] * (trimmed.ndim - 1)))
    elected = np.sign(scaled.sum(axis=0))
    agree = (np.sign(trimmed) == elected) & (trimmed != 0)
    weight_agreeing = (agree * w.reshape(-1, *([1] * (trimmed.ndim - 1)))).sum(axis=0)
    total = (scaled * agree).sum(axis=0)
    return np.divide(total, weight_agreeing, out=np.zeros_like(total), where=weight_agreeing != 0)


def lora_delta(lora_a: np.ndarray, lora_b: np.ndarray, scale: float) -> np.ndarray:
    """ΔW (out x in) that a LoRALinear adds to its layer's weight: scale · Bᵀ Aᵀ."""
    return scale * (np.asarray(lora_a, np.float32) @ np.asarray(lora_b, np.float32)).T


def factorize(
    delta: np.ndarray, rank: int, scale: float, *, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """A LoRA pair (A: in x rank, B: rank x out) with scale · Bᵀ Aᵀ ≈ `delta` (out x in): the
    best rank-`rank` approximation, singular values split evenly between A and B."""
    u, s, vt = _svd(delta, rank, seed)
    root = np.sqrt(s)
    lora_a = vt.T * root  # in x rank
    lora_b = (u * root).T / scale  # rank x out
    return lora_a, lora_b


def _svd(matrix: np.ndarray, rank: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The top `rank` singular triplets. Exact for small matrices; for large ones a randomized
    SVD (Halko et al.: range finder with power iterations), minutes faster on a 7B model."""
    rows, cols = matrix.shape
    sketch = rank + 16
    if min(rows, cols) <= 2 * sketch:
        u, s, vt = np.linalg.svd(matrix, full_matrices=False)
    else:
        rng = np.random.default_rng(seed)
        q, _ = np.linalg.qr(matrix @ rng.standard_normal((cols, sketch)))
        for _ in range(2):
            q, _ = np.linalg.qr(matrix.T @ q)
            q, _ = np.linalg.qr(matrix @ q)
        small_u, s, vt = np.linalg.svd(q.T @ matrix, full_matrices=False)
        u = q @ small_u
    return u[:, :rank], s[:rank], vt[:rank]


def _layers(
    weights: dict[str, mx.array], where: object
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{layer name: (A, B)} of an adapter's weights."""
    pairs: dict[str, dict[str, np.ndarray]] = {}
    for name, value in weights.items():
        layer, _, leaf = name.rpartition(".")
        if leaf not in ("lora_a", "lora_b"):
            raise TrainingError(f"{where}: {name} is not a LoRA weight; only LoRA merges")
        pairs.setdefault(layer, {})[leaf] = np.asarray(value.astype(mx.float32))
    broken = [layer for layer, p in pairs.items() if len(p) != 2]
    if broken:
        raise TrainingError(f"{where}: {broken[0]} lacks lora_a or lora_b")
    return {layer: (p["lora_a"], p["lora_b"]) for layer, p in pairs.items()}


def ties_merge(
    adapters: Sequence[Adapter],
    out_dir: Path,
    *,
    rho: float = 0.3,
    weights: Sequence[float] | None = None,
    rank: int | None = None,
    config: dict[str, Any] | None = None,
) -> Path:
    """Merge adapters of one structure with TIES into a new adapter at `out_dir`.

    Each adapter is an adapter folder or its weights (`load_adapter_weights`); weights alone
    take their scale and structure from `config` (an adapter_config), by default the config of
    the first folder given. `weights` weigh the adapters (default equal). `rank` is that of
    the result: by default the adapters' ranks summed, at most the layer's smaller dimension
    (where the merge can be exact). Written atomically, in mlx-lm's format.
    """
    if not adapters:
        raise TrainingError("nothing to merge")
    if not 0.0 < rho <= 1.0:
        raise TrainingError(f"rho must be in (0, 1], not {rho}")
    if weights is not None and (len(weights) != len(adapters) or min(weights) <= 0):
        raise TrainingError("weights: one positive weight per adapter")
    configs: list[dict[str, Any] | None] = []
    loaded: list[dict[str, tuple[np.ndarray, np.ndarray]]] = []
    for adapter in adapters:
        if isinstance(adapter, dict):
            configs.append(None)
            loaded.append(_layers(adapter, "an adapter's weights"))
        else:
            configs.append(load_adapter_config(Path(adapter)))
            loaded.append(_layers(load_adapter_weights(Path(adapter)), adapter))
    base_config = config or next((c for c in configs if c is not None), None)
    if base_config is None:
        raise TrainingError("adapters given as weights need a config (their scale and layers)")
    scales = [float((c or base_config)["lora_parameters"]["scale"]) for c in configs]

    names = set(loaded[0])
    for i, layers in enumerate(loaded[1:], start=1):
        if set(layers) != names:
            raise TrainingError(
                f"adapter {i + 1} adapts other layers than adapter 1: merging needs one structure"
            )
    if rank is None:
        rank = sum(next(iter(layers.values()))[0].shape[1] for layers in loaded)
    if rank < 1:
        raise TrainingError(f"rank must be at least 1, not {rank}")

    out_scale = scales[0]
    # One rank for every layer (mlx-lm's config has one), at most the largest that any layer
    # can use; a layer with a smaller dimension is exact below it and padded with zeros.
    out_rank = min(rank, max(min(a.shape[0], b.shape[1]) for a, b in loaded[0].values()))
    merged: dict[str, mx.array] = {}
    for name in sorted(names):
        deltas = []
        for layers, scale in zip(loaded, scales, strict=True):
            a, b = layers[name]
            deltas.append(lora_delta(a, b, scale))
        if any(d.shape != deltas[0].shape for d in deltas):
            raise TrainingError(f"{name}: the adapters' layers differ in shape")
        delta = ties(deltas, rho=rho, weights=weights)
        keep = min(out_rank, *delta.shape)
        a, b = factorize(delta, keep, out_scale)
        if keep < out_rank:  # zero rows and columns add nothing to scale · Bᵀ Aᵀ
            a = np.pad(a, ((0, 0), (0, out_rank - keep)))
            b = np.pad(b, ((0, out_rank - keep), (0, 0)))
        merged[f"{name}.lora_a"] = mx.array(a.astype(np.float32))
        merged[f"{name}.lora_b"] = mx.array(b.astype(np.float32))

    out_config = {
        **{k: v for k, v in base_config.items() if k != "memo"},
        "lora_parameters": {**base_config["lora_parameters"], "rank": out_rank, "scale": out_scale},
        "memo": {
            "merged": {
                "method": "ties",
                "rho": rho,
                "weights": list(weights) if weights is not None else None,
                "adapters": [str(a) if not isinstance(a, dict) else None for a in adapters],
            }
        },
    }
    return save_adapter(Path(out_dir), merged, out_config)
