"""Where a decoded token's time goes on this backend: the model's weights in each form MLX offers.

One token at a time (a KV cache, greedy), milliseconds per token after a warm-up, for the
default model with its weights as the product computes them (dense float32), as the file
quantizes them (mlx-lm's path), re-quantized to 4 and 8 bits, and in bfloat16; then single
matrix-vector products of the model's shapes, to compare with what memory bandwidth allows.
The profile behind the CPU generation row of bench/RESULTS.md.

    .venv/bin/python -m memo_mlx.blas .venv/bin/python bench/decode.py

Writes bench/out/decode.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
from mlx_lm.models.cache import make_prompt_cache

from memo_mlx.blas import active_blas
from memo_mlx.models.base import load_base


def ms_per_token(model: nn.Module, steps: int) -> float:
    cache = make_prompt_cache(model)
    mx.eval(model(mx.array([list(range(1, 33))]), cache=cache))
    token = mx.array([[42]])
    for i in range(steps + 5):  # 5 to warm up
        if i == 5:
            start = time.perf_counter()
        token = model(token, cache=cache)[:, -1, :].argmax(-1, keepdims=True)
        mx.eval(token)
    return (time.perf_counter() - start) / steps * 1000


def variant(name: str) -> nn.Module:
    if name == "quantized as in the file":
        return load_base(None, compute="quantized").model
    model = load_base(None, compute="dense").model
    if name == "bfloat16":
        model.set_dtype(mx.bfloat16)
    elif name.startswith("re-quantized"):
        nn.quantize(model, group_size=64, bits=int(name.split()[1]))
    mx.eval(model.parameters())
    return model


def matvec_us(rows: int, cols: int, dtype: mx.Dtype, repeats: int = 200) -> float:
    w = mx.random.normal((rows, cols)).astype(dtype)
    x = mx.random.normal((1, cols)).astype(dtype)
    mx.eval(w, x)
    for _ in range(10):
        mx.eval(x @ w.T)
    start = time.perf_counter()
    for _ in range(repeats):
        mx.eval(x @ w.T)
    return (time.perf_counter() - start) / repeats * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "decode.json")
    args = parser.parse_args()
    rows = {}
    for name in ("dense float32 (the product)", "quantized as in the file", "re-quantized 4",
                 "re-quantized 8", "bfloat16"):
        rows[name] = round(ms_per_token(variant(name), args.steps), 1)
    # The model's shapes: an MLP projection and the tied 49k-word head.
    products = {}
    for rows_, cols in ((1536, 576), (49152, 576)):
        for dtype in (mx.float32, mx.bfloat16, mx.float16):
            us = matvec_us(rows_, cols, dtype)
            # Weights read per microsecond: what the product's speed is bound by.
            products[f"{rows_} x {cols} {dtype}"] = {
                "us": round(us, 1),
                "weights_gb_per_s": round(rows_ * cols * dtype.size / us / 1e3, 1),
            }
    result = {"backend": str(mx.default_device()), "blas": active_blas(),
              "ms_per_token": rows, "matvec_us": products}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"{result['backend']}, {result['blas']}\n")
    print("| weights | ms per token | tokens/s |\n|---|---|---|")
    for name, ms in rows.items():
        print(f"| {name} | {ms} | {1000 / ms:.1f} |")
    print("\n| matrix x vector | µs | weights read, GB/s |\n|---|---|---|")
    for name, p in products.items():
        print(f"| {name} | {p['us']} | {p['weights_gb_per_s']} |")


if __name__ == "__main__":
    main()
