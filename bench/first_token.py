"""Time from Send to the first token of an answer, per answer mode, with one memory on.

What a person waits for in the chat pane before text starts to appear: `Recall.ask` with a
streaming callback, as the app calls it, on a memory a benchmark run taught (`memo bench
--work DIR` keeps it). The peer in the same run is mlx-lm's own `stream_generate` on the same
loaded base model with the question alone (no memory, no passages): the floor any mode starts
from. Each question is asked once per mode; the median and the worst are reported.

    .venv/bin/python bench/first_token.py --work /tmp/bench/squad --questions 10

Writes bench/out/first-token.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True,
                        help="a `memo bench --work` folder whose memory is taught")
    parser.add_argument("--questions", type=int, default=10)
    parser.add_argument("--mode", action="append",
                        help="answer modes to time (default: direct, rag, combined, auto)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "first-token.json")
    args = parser.parse_args()
    from memo_mlx.blas import reexec_with_fast_blas

    reexec_with_fast_blas()  # the BLAS the app runs with (the launchers do the same)
    os.environ["MEMO_HOME"] = str(args.work / "home")

    from mlx_lm import stream_generate

    from memo_mlx.answering.recall import Recall, user
    from memo_mlx.bench.fiction import read_questions
    from memo_mlx.catalog import Catalog
    from memo_mlx.models.base import BaseModel
    from memo_mlx.models.chat_template import prompt_ids
    from memo_mlx.models.runtime import ModelRuntime

    questions = [q.question for q in read_questions(args.work / "corpus" / "questions.jsonl")]
    questions = questions[: args.questions]
    modes = args.mode or ["direct", "rag", "combined", "auto"]
    rows: dict[str, list[float]] = {}
    with ModelRuntime() as runtime, Catalog() as catalog:
        memory = catalog.memory("bench")
        if memory is None:
            raise SystemExit(f"{args.work}: no benchmark memory here (run memo bench --work)")
        recall = Recall(catalog, runtime)
        loaded = runtime.loaded.result()

        def peer(question: str) -> float:
            def job(base: BaseModel) -> float:
                began = time.perf_counter()
                ids = prompt_ids(base.tokenizer, user(question))
                for _ in stream_generate(base.model, base.tokenizer, ids, max_tokens=1):
                    break
                return time.perf_counter() - began
            return runtime.submit(job).result()

        def first(question: str, mode: str) -> float:
            began = time.perf_counter()
            seen: list[float] = []
            stop = threading.Event()  # the rest of the answer is not what is timed

            def on_text(_: str) -> None:
                if not seen:
                    seen.append(time.perf_counter() - began)
                    stop.set()

            recall.ask(question, [memory], mode=mode, on_text=on_text, cancel=stop)
            return seen[0] if seen else float("nan")

        peer(questions[0])  # warm: the first call compiles and fills caches
        rows["mlx-lm stream_generate, no memory (peer)"] = [peer(q) for q in questions]
        for mode in modes:
            first(questions[0], mode)
            resolved = recall.resolve_mode([memory], mode)
            name = f"{mode} ({resolved})" if mode == "auto" else mode
            rows[name] = [first(q, mode) for q in questions]
    timed = {k: {"median": round(median(v), 2), "max": round(max(v), 2)}
             for k, v in rows.items()}
    report = {
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
        "model": loaded.source.name, "questions": len(questions),
        "first_token_seconds": timed,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print("| answer | first token, median | worst |\n|---|---|---|")
    for name, cell in timed.items():
        print(f"| {name} | {cell['median']:.2f} s | {cell['max']:.2f} s |")


if __name__ == "__main__":
    main()
