"""Prefill and generation tokens/s of the base model: ours, mlx-lm's way and llama.cpp's, same run.

Ours is what the product runs (`models.load_base`, compute chosen per backend: on the CPU a
dense float32 copy with OpenBLAS preloaded by the launcher). The mlx-lm peer is mlx-lm's own
path on the same file and backend: the weights as the file quantizes them, through
`quantized_matmul`. Both generate with mlx-lm's `generate_step`, greedy, a fixed number of
tokens (no EOS stop). The llama.cpp peer (llama-cpp-python, built on this machine by
`make bench-setup`) loads the same GGUF file and evaluates the same token ids with as many
threads as there are cores. Each path runs in a process of its own, so its peak resident
memory (ru_maxrss) is its own: the memory a chat costs.

    make bench     # or: .venv/bin/python -m memo_mlx.blas .venv/bin/python bench/generation.py

Writes bench/out/generation.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from statistics import median

TEXT = (
    "The lighthouse keeper of Varrow Point kept a ledger of every ship that passed, the "
    "weather at dawn and dusk, and the names of the gulls that nested on the gallery rail. "
)
PATHS = ("memo", "mlx-lm", "llama.cpp")


def _timed(prefill_then_steps, prompt_tokens: int, repeats: int) -> tuple[float, float]:
    """Median prefill and generation tokens/s; the first run warms up and is not counted."""
    prefill, generation = [], []
    for i in range(repeats + 1):
        start = time.perf_counter()
        steps = prefill_then_steps()
        next(steps)
        first = time.perf_counter()
        count = 1 + sum(1 for _ in steps)
        end = time.perf_counter()
        if i:
            prefill.append(prompt_tokens / (first - start))
            generation.append((count - 1) / (end - first))
    return median(prefill), median(generation)


def measure_mlx(compute: str, prompt_tokens: int, gen_tokens: int, repeats: int) -> dict:
    import mlx.core as mx
    from mlx_lm.generate import generate_step
    from mlx_lm.sample_utils import make_sampler

    from memo_mlx.models.base import load_base

    base = load_base(None, compute=compute)
    ids = base.tokenizer.encode(TEXT * 40)[:prompt_tokens]

    def run():
        return generate_step(mx.array(ids), base.model, max_tokens=gen_tokens,
                             sampler=make_sampler(0.0))

    prefill, generation = _timed(run, prompt_tokens, repeats)
    return {"compute": base.compute, "load_seconds": round(base.load_seconds, 2),
            "prefill_tps": round(prefill, 1), "generation_tps": round(generation, 1),
            "mlx_peak_gb": round(mx.get_peak_memory() / 1e9, 3)}


def measure_llama(prompt_tokens: int, gen_tokens: int, repeats: int) -> dict:
    from llama_cpp import Llama

    from memo_mlx.models.base import default_model_path

    start = time.perf_counter()
    llm = Llama(model_path=str(default_model_path()), n_ctx=prompt_tokens + gen_tokens + 8,
                n_threads=os.cpu_count(), n_batch=prompt_tokens, verbose=False)
    load = time.perf_counter() - start
    # Its own tokenizer, built from the same metadata as ours (loading ours would add MLX's
    # memory to this process's peak).
    ids = llm.tokenize((TEXT * 40).encode(), add_bos=False)[:prompt_tokens]

    def run():
        llm.reset()
        llm.eval(ids)
        yield
        for _ in range(gen_tokens - 1):
            token = llm.sample(temp=0.0)
            llm.eval([token])
            yield

    prefill, generation = _timed(run, prompt_tokens, repeats)
    return {"compute": "GGUF as stored (Q4_1 blocks, Q8_0 embedding)",
            "load_seconds": round(load, 2), "threads": os.cpu_count(),
            "prefill_tps": round(prefill, 1), "generation_tps": round(generation, 1)}


def child(path: str, args: argparse.Namespace) -> None:
    if path == "llama.cpp":
        row = measure_llama(args.prompt_tokens, args.gen_tokens, args.repeats)
    else:
        compute = "auto" if path == "memo" else "quantized"
        row = measure_mlx(compute, args.prompt_tokens, args.gen_tokens, args.repeats)
    row["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print("ROW " + json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompt-tokens", type=int, default=256)
    parser.add_argument("--gen-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", choices=PATHS, help=argparse.SUPPRESS)
    default_out = Path(__file__).parent / "out" / "generation.json"
    parser.add_argument("--out", type=Path, default=default_out)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args)

    import mlx.core as mx

    from memo_mlx.blas import active_blas

    rows = {}
    for path in PATHS:
        if path == "llama.cpp":
            try:
                import llama_cpp  # noqa: F401
            except ImportError:
                print("llama.cpp: not installed, its row is left out (make bench-setup)",
                      file=sys.stderr)
                continue
        out = subprocess.run(
            [sys.executable, __file__, "--child", path, "--prompt-tokens",
             str(args.prompt_tokens), "--gen-tokens", str(args.gen_tokens),
             "--repeats", str(args.repeats)],
            capture_output=True, text=True, check=False)
        lines = [line for line in out.stdout.splitlines() if line.startswith("ROW ")]
        if out.returncode != 0 or not lines:
            raise SystemExit(f"{path} failed ({out.returncode}): {out.stderr[-2000:]}")
        rows[path] = json.loads(lines[-1][4:])
    ours = rows["memo"]
    ratios = {peer: {"prefill": round(ours["prefill_tps"] / rows[peer]["prefill_tps"], 2),
                     "generation": round(ours["generation_tps"] / rows[peer]["generation_tps"], 2)}
              for peer in rows if peer != "memo"}
    result = {
        "model": "bundled SmolLM2-135M-Instruct Q4_1",
        "backend": "cpu" if mx.default_device() == mx.cpu else "gpu",
        "blas": active_blas(),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
        "mlx": mx.__version__,
        "prompt_tokens": args.prompt_tokens,
        "generated_tokens": args.gen_tokens,
        "rows": rows,
        "ratio_ours_to_peer": ratios,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"{result['model']} on {result['machine']}, {result['backend']}, {result['blas']}")
    print("| path | compute | prefill tok/s | generation tok/s | load s | peak RSS MB |")
    print("|---|---|---|---|---|---|")
    for label, r in rows.items():
        print(f"| {label} | {r['compute']} | {r['prefill_tps']} | {r['generation_tps']} "
              f"| {r['load_seconds']} | {r['peak_rss_mb']} |")
    for peer, ratio in ratios.items():
        print(f"ours / {peer}: prefill {ratio['prefill']}x, generation {ratio['generation']}x")


if __name__ == "__main__":
    main()
