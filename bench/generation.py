"""Prefill and generation tokens/s of the base model, ours against mlx-lm's way, same run.

Ours is what the product runs (`models.load_base`, compute chosen per backend: on the CPU a
dense float32 copy with OpenBLAS preloaded by the launcher). The peer is mlx-lm's own path on
the same file and backend: the weights as the file quantizes them, through `quantized_matmul`.
Both generate with mlx-lm's `generate_step`, greedy, a fixed number of tokens (no EOS stop).

    make bench     # or: .venv/bin/python -m memo_mlx.blas .venv/bin/python bench/generation.py

Writes bench/out/generation.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from statistics import median

import mlx.core as mx
from mlx_lm.generate import generate_step
from mlx_lm.sample_utils import make_sampler

from memo_mlx.blas import active_blas
from memo_mlx.models import BaseModel, load_base

TEXT = (
    "The lighthouse keeper of Varrow Point kept a ledger of every ship that passed, the "
    "weather at dawn and dusk, and the names of the gulls that nested on the gallery rail. "
)


def measure(base: BaseModel, prompt_tokens: int, gen_tokens: int, repeats: int) -> dict:
    ids = base.tokenizer.encode(TEXT * 40)[:prompt_tokens]
    prompt = mx.array(ids)
    prefill, generation = [], []
    for i in range(repeats + 1):  # the first run warms up and is not counted
        start = time.perf_counter()
        steps = generate_step(prompt, base.model, max_tokens=gen_tokens, sampler=make_sampler(0.0))
        next(steps)
        first = time.perf_counter()
        count = 1 + sum(1 for _ in steps)
        end = time.perf_counter()
        if i:
            prefill.append(prompt_tokens / (first - start))
            generation.append((count - 1) / (end - first))
    return {
        "prefill_tps": round(median(prefill), 1),
        "generation_tps": round(median(generation), 1),
        "prompt_tokens": prompt_tokens,
        "generated_tokens": gen_tokens,
        "peak_memory_gb": round(mx.get_peak_memory() / 1e9, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="MEMO_MODEL-style source; default bundled")
    parser.add_argument("--prompt-tokens", type=int, default=256)
    parser.add_argument("--gen-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    default_out = Path(__file__).parent / "out" / "generation.json"
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args()

    rows = {}
    for label, compute in (("memo", "auto"), ("mlx-lm (quantized as in the file)", "quantized")):
        mx.reset_peak_memory()
        base = load_base(args.model, compute=compute)
        rows[label] = {
            "compute": base.compute,
            "load_seconds": round(base.load_seconds, 2),
            **measure(base, args.prompt_tokens, args.gen_tokens, args.repeats),
        }
        del base
    ours, peer = rows["memo"], rows["mlx-lm (quantized as in the file)"]
    result = {
        "model": args.model or "bundled SmolLM2-135M-Instruct Q4_1",
        "backend": "cpu" if mx.default_device() == mx.cpu else "gpu",
        "blas": active_blas(),
        "machine": f"{platform.system()} {platform.machine()}",
        "mlx": mx.__version__,
        "rows": rows,
        "ratio_vs_peer": {
            "prefill": round(ours["prefill_tps"] / peer["prefill_tps"], 2),
            "generation": round(ours["generation_tps"] / peer["generation_tps"], 2),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"{result['model']} on {result['machine']}, {result['backend']}, {result['blas']}")
    print("| path | compute | prefill tok/s | generation tok/s | load s | peak GB |")
    print("|---|---|---|---|---|---|")
    for label, r in rows.items():
        print(f"| {label} | {r['compute']} | {r['prefill_tps']} | {r['generation_tps']} "
              f"| {r['load_seconds']} | {r['peak_memory_gb']} |")
    print(f"ratio ours/peer: prefill {result['ratio_vs_peer']['prefill']}x, "
          f"generation {result['ratio_vs_peer']['generation']}x")


if __name__ == "__main__":
    main()
