"""TIES merging of LoRA adapters: the math against a plain reference, then real adapters."""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten
from mlx_lm.tuner.lora import LoRALinear

from memo_mlx.learning import training
from memo_mlx.learning.merge import factorize, lora_delta, ties, ties_merge, trim
from memo_mlx.learning.training import (
    TrainingError,
    TrainSettings,
    adapter_config,
    attach_adapter,
    detach_adapter,
    load_adapter_weights,
    save_adapter,
)
from memo_mlx.models.base import BaseModel, load_base
from tiny import TinyModel

PROBE = mx.array([[1, 120, 118, 264, 13, 40, 50, 60]])


def reference_ties(deltas, rho, weights=None):
    """TIES written out entry by entry, as the paper states it."""
    w = weights or [1.0] * len(deltas)
    trimmed = []
    for d in deltas:
        flat = list(np.asarray(d, np.float64).reshape(-1))
        by_size = sorted(range(len(flat)), key=lambda i: -abs(flat[i]))
        keep = set(by_size[: int(rho * len(flat))])
        trimmed.append([v if i in keep else 0.0 for i, v in enumerate(flat)])
    merged = []
    for i in range(len(trimmed[0])):
        sign = np.sign(sum(w[t] * trimmed[t][i] for t in range(len(deltas))))
        agree = [t for t in range(len(deltas)) if trimmed[t][i] != 0
                 and np.sign(trimmed[t][i]) == sign]
        merged.append(sum(w[t] * trimmed[t][i] for t in agree) / sum(w[t] for t in agree)
                      if agree else 0.0)
    return np.array(merged).reshape(np.shape(deltas[0]))


def test_trim_keeps_the_largest_magnitudes():
    d = np.array([0.1, -5, 2, -0.3, 4, 0.0, -1, 3, 0.2, -2], np.float32)
    assert trim(d, 0.3).tolist() == [0, -5, 0, 0, 4, 0, 0, 3, 0, 0]
    assert trim(d, 1.0).tolist() == d.tolist()


def test_sign_election_and_disjoint_mean_by_hand():
    a = np.array([2.0, -1, 3, 0])
    b = np.array([-1.0, -2, 3, 1])
    c = np.array([-2.0, 4, -1, 1])
    # Entry 0: -1 + -2 outweigh 2, so the mean of the negatives; entry 1: 4 outweighs -1 + -2;
    # entry 3: a zero takes no part in the mean.
    assert ties([a, b, c], rho=1.0).tolist() == [-1.5, 4, 3, 1]
    # Weighed 3:1:1, a's 2 wins entry 0 alone; entry 1's -3 - 2 outweighs 4.
    assert ties([a, b, c], rho=1.0, weights=[3, 1, 1]).tolist() == [2, -1.25, 3, 1]


@pytest.mark.parametrize("rho", [0.2, 0.5, 1.0])
@pytest.mark.parametrize("weights", [None, [1.0, 2.0, 0.5]])
def test_ties_matches_a_plain_reference(rho, weights):
    rng = np.random.default_rng(7)
    deltas = [rng.standard_normal((6, 5)).astype(np.float32) for _ in range(3)]
    ours = ties(deltas, rho=rho, weights=weights)
    assert np.allclose(ours, reference_ties(deltas, rho, weights), atol=1e-6)


def test_lora_delta_is_what_lora_linear_adds():
    layer = LoRALinear(6, 4, r=2, scale=2.0)
    layer.lora_b = mx.random.normal((2, 4), key=mx.random.key(1))
    x = mx.random.normal((3, 6), key=mx.random.key(2))
    added = np.asarray(layer(x) - layer.linear(x))
    delta = lora_delta(np.asarray(layer.lora_a), np.asarray(layer.lora_b), 2.0)
    assert delta.shape == (4, 6)
    assert np.allclose(added, np.asarray(x) @ delta.T, atol=1e-5)


@pytest.mark.parametrize("shape", [(8, 6), (200, 300)])  # exact SVD, then randomized
def test_factorize_is_the_best_low_rank_approximation(shape):
    rng = np.random.default_rng(3)
    low = rng.standard_normal((shape[0], 5)) @ rng.standard_normal((5, shape[1]))
    a, b = factorize(low.astype(np.float32), 5, 2.0)
    assert a.shape == (shape[1], 5) and b.shape == (5, shape[0])
    assert np.allclose(lora_delta(a, b, 2.0), low, atol=1e-3)
    full = rng.standard_normal(shape).astype(np.float32)
    a, b = factorize(full, 3, 2.0)
    tail = np.linalg.svd(full, compute_uv=False)[3:]
    error = np.linalg.norm(lora_delta(a, b, 2.0) - full)
    assert error <= np.sqrt((tail**2).sum()) * 1.02


@pytest.fixture(scope="module")
def base(tiny_q8: TinyModel) -> BaseModel:
    return load_base(str(tiny_q8.path))


def random_adapter(base: BaseModel, path: Path, seed: int, rank: int = 4) -> Path:
    config = adapter_config(TrainSettings(rank=rank), base.model)
    training._apply_lora(base.model, config)
    shapes = [(k, v.shape) for k, v in tree_flatten(base.model.trainable_parameters())]
    detach_adapter(base.model)
    rng = np.random.default_rng(seed)
    weights = {k: mx.array(rng.normal(0, 0.05, s).astype(np.float32)) for k, s in shapes}
    return save_adapter(path, weights, config)


def logits_with(base: BaseModel, adapter: Path | None) -> np.ndarray:
    if adapter is not None:
        attach_adapter(base.model, adapter)
    out = np.asarray(base.model(PROBE), np.float64).reshape(-1)
    detach_adapter(base.model)
    return out


def deltas_of(adapter: Path) -> dict[str, np.ndarray]:
    config = json.loads((adapter / "adapter_config.json").read_text())
    weights = load_adapter_weights(adapter)
    scale = config["lora_parameters"]["scale"]
    return {
        name[: -len(".lora_a")]: lora_delta(np.asarray(w), np.asarray(weights[name[:-1] + "b"]),
                                            scale)
        for name, w in weights.items() if name.endswith("lora_a")
    }


def test_merging_one_adapter_reproduces_it(base: BaseModel, tmp_path: Path):
    one = random_adapter(base, tmp_path / "one", seed=1)
    merged = ties_merge([one], tmp_path / "merged", rho=1.0)
    config = json.loads((merged / "adapter_config.json").read_text())
    assert config["lora_parameters"]["rank"] == 4
    expected, got = deltas_of(one), deltas_of(merged)
    assert expected.keys() == got.keys()
    for name in expected:
        assert np.allclose(got[name], expected[name], atol=1e-5), name
    assert np.allclose(logits_with(base, merged), logits_with(base, one), atol=1e-4)


def test_a_merged_adapter_moves_the_logits_toward_its_parts(base: BaseModel, tmp_path: Path):
    parts = [random_adapter(base, tmp_path / f"part{i}", seed=10 + i) for i in range(2)]
    merged = ties_merge(parts, tmp_path / "merged")  # rho 0.3
    config = json.loads((merged / "adapter_config.json").read_text())
    assert config["lora_parameters"]["rank"] == 8  # 4 x 2 adapters
    assert config["memo"]["merged"]["rho"] == 0.3
    plain = logits_with(base, None)
    moved = logits_with(base, merged) - plain
    assert np.abs(moved).max() > 1e-3
    for part in parts:
        towards = logits_with(base, part) - plain
        cosine = moved @ towards / (np.linalg.norm(moved) * np.linalg.norm(towards))
        assert cosine > 0.3, cosine

    # Weights alone, with the config given, merge the same.
    again = ties_merge([load_adapter_weights(p) for p in parts], tmp_path / "again",
                       config=json.loads((parts[0] / "adapter_config.json").read_text()))
    first, second = deltas_of(merged), deltas_of(again)
    assert all(np.allclose(first[k], second[k], atol=1e-5) for k in first)


def test_merge_refuses_what_it_cannot_merge(base: BaseModel, tmp_path: Path):
    part = random_adapter(base, tmp_path / "part", seed=1)
    weights = load_adapter_weights(part)
    fewer = {k: v for k, v in weights.items() if ".layers.0." not in k}
    with pytest.raises(TrainingError, match="other layers"):
        ties_merge([part, fewer], tmp_path / "out")
    with pytest.raises(TrainingError, match="need a config"):
        ties_merge([weights], tmp_path / "out")
    with pytest.raises(TrainingError, match="rho"):
        ties_merge([part], tmp_path / "out", rho=0.0)
    assert not (tmp_path / "out").exists()
