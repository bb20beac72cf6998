"""Teaching strategies compared: incremental (continue + replay), TIES merge, full retrain.

Run: `make bench-teach` (or `.venv/bin/python -m memo_mlx.blas .venv/bin/python
bench/teaching.py [--epochs N]`).

A fictional folder is taught in two batches: batch A, then batch B is added. After batch B each
strategy starts from the same state (the catalog and adapter after A, copied), teaches B, and is
judged on the same questions: a sample of the reflections of A (does it still know the old?)
and of B (did it learn the new?), each answered by the memory and checked for the answer's
names and numbers. Time is the teach of B alone. Writes bench/out/teaching.json and prints a
Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BATCH_A = {
    "bridge.md": "# The Hollow Bridge\n\nThe Hollow Bridge in Port Aldren was designed by the "
                 "engineer Mara Quill. It was finished in 1987. The bridge is 412 metres long.\n",
    "quill.md": "# Mara Quill\n\nMara Quill was born in Tessaly in 1941. She founded the Aldren "
                "Institute of Bridges in 1990. Her favourite material was copper.\n",
    "aldren.txt": "Port Aldren is a harbour town of 9000 people. Its mayor is Tobias Fenn. The "
                  "town festival, the Lantern Night, is held every October.\n",
}
BATCH_B = {
    "fenn.md": "# Tobias Fenn\n\nTobias Fenn became mayor of Port Aldren in 2019. He was a "
               "ferry captain for 22 years before that. His ferry was called the Grey Heron.\n",
    "institute.md": "# The Aldren Institute of Bridges\n\nThe Aldren Institute of Bridges has "
                    "340 students. Its library holds the Quill Papers. The institute's director "
                    "is Ines Varga.\n",
}


def score(runtime, catalog, memory, reflections, adapter: Path) -> tuple[int, int]:
    from memo_mlx.scoring import key_terms, recalls

    asked = [r for r in reflections if key_terms(r.answer) and not r.probe]
    asked = asked[:: max(1, len(asked) // 10)][:10]
    right = 0
    for r in asked:
        reply = runtime.generate([{"role": "user", "content": r.question}], max_tokens=48,
                                 adapter=adapter).result().text
        right += recalls(reply, r.answer)
    return right, len(asked)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="override [training] epochs")
    args = parser.parse_args()

    from memo_mlx.catalog import Catalog
    from memo_mlx.learning.teach import TeachSettings, adapter_dir, teach_memory, train_settings
    from memo_mlx.models.runtime import ModelRuntime
    from memo_mlx.sources.chunking import Chunker
    from memo_mlx.sources.ingest import add_paths

    work = Path(tempfile.mkdtemp(prefix="memo-bench-teach-"))
    base_home = work / "home-a"
    os.environ["MEMO_HOME"] = str(base_home)
    base_home.mkdir()
    if args.epochs:
        (base_home / "settings.toml").write_text(f"[training]\nepochs = {args.epochs}\n")
    folder = work / "folder"
    folder.mkdir()
    for name, text in BATCH_A.items():
        (folder / name).write_text(text)
    rows = []
    with ModelRuntime() as runtime:
        with Catalog() as catalog:
            memory = add_paths(catalog, [folder], "bench")
            start = time.perf_counter()
            first = teach_memory(catalog, memory, runtime, chunker=Chunker(),
                                 settings=TeachSettings(strategy="full"))
            first_s = time.perf_counter() - start
            old = catalog.reflections.of(memory.id)
        for name, text in BATCH_B.items():
            (folder / name).write_text(text)
        for strategy in ("incremental", "ties", "full"):
            home = work / f"home-{strategy}"
            shutil.copytree(base_home, home)
            os.environ["MEMO_HOME"] = str(home)
            with Catalog() as catalog:
                memory = catalog.memories()[0]
                start = time.perf_counter()
                report = teach_memory(catalog, memory, runtime, chunker=Chunker(),
                                      settings=TeachSettings(strategy=strategy))
                seconds = time.perf_counter() - start
                new = [r for r in catalog.reflections.of(memory.id)
                       if r.id not in {o.id for o in old}]
                kept = [r for r in catalog.reflections.of(memory.id) if r.id in {o.id for o in old}]
                a = score(runtime, catalog, memory, kept, adapter_dir(memory))
                b = score(runtime, catalog, memory, new, adapter_dir(memory))
            rows.append({
                "strategy": strategy, "teach_seconds": round(seconds, 1),
                "training_steps": report.training.steps if report.training else 0,
                "old_known": a, "new_known": b,
            })
    result = {
        "first_teach_seconds": round(first_s, 1),
        "first_reflections": first.reflections_total,
        "training": asdict(train_settings()),
        "rows": rows,
    }
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "teaching.json").write_text(json.dumps(result, indent=2, default=str))
    print(f"First teach (batch A, {first.reflections_total} reflections, full): {first_s:.0f} s")
    print()
    print("| strategy | teach of batch B | steps | old facts known | new facts known |")
    print("|---|---|---|---|---|")
    for r in rows:
        (old_right, old_asked), (new_right, new_asked) = r["old_known"], r["new_known"]
        print(f"| {r['strategy']} | {r['teach_seconds']:.0f} s | {r['training_steps']} | "
              f"{old_right}/{old_asked} | {new_right}/{new_asked} |")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
