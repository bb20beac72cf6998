"""Scan benchmark: a full scan of generated folders, then re-scans after one file changed.

Run: `make bench-scan` (or `.venv/bin/python bench/scan.py [--sizes 1000 4000]`).

For each folder size it reports, in the same run and on the same files:
- full scan: extract, chunk (the default model's tokenizer) and record every document;
- re-scan with one file changed, and with nothing changed (median of 5);
- the peers: the floor any re-scan pays (walk and stat every file, nothing else) and a naive
  re-scan that reads and hashes every file (what a scanner without the stat fast path does).
The re-scan should cost the floor plus the one changed file, whatever the folder's size.
Writes bench/out/scan.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = (
    "river harbour lantern copper meadow signal orbit garden ledger canyon violet thunder "
    "anchor pepper marble falcon willow ember cobalt prairie summit quartz beacon saddle"
).split()


def make_folder(root: Path, n: int, seed: int = 7) -> list[Path]:
    """n documents of ~2 KB: Markdown with headings, and plain text notes, in 20 subfolders."""
    rng = random.Random(seed)
    files = []
    for i in range(n):
        sub = root / f"area-{i % 20:02}"
        sub.mkdir(parents=True, exist_ok=True)
        paragraphs = []
        for p in range(6):
            words = " ".join(rng.choice(WORDS) for _ in range(45))
            paragraphs.append(f"Record {i}.{p}: {words.capitalize()}.")
        if i % 2:
            path = sub / f"note-{i:05}.md"
            text = f"# Note {i}\n\n" + "\n\n".join(paragraphs[:3]) + "\n\n## More\n\n" + \
                "\n\n".join(paragraphs[3:])
        else:
            path = sub / f"note-{i:05}.txt"
            text = "\n\n".join(paragraphs)
        path.write_text(text)
        files.append(path)
    return files


def timed(fn, repeat: int = 1) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def walk_and_stat(root: Path) -> None:
    for folder, _dirs, names in os.walk(root):
        for name in names:
            os.stat(os.path.join(folder, name))


def read_and_hash_all(root: Path) -> None:
    for folder, _dirs, names in os.walk(root):
        for name in names:
            with open(os.path.join(folder, name), "rb") as f:
                hashlib.blake2b(f.read(), digest_size=16).hexdigest()


def bench_size(n: int, chunker) -> dict:
    from memo_mlx.catalog import Catalog
    from memo_mlx.sources.ingest import add_paths, scan_memory

    with tempfile.TemporaryDirectory(prefix="memo-bench-") as tmp:
        tmp_path = Path(tmp)
        os.environ["MEMO_HOME"] = str(tmp_path / "home")
        files = make_folder(tmp_path / "docs", n)
        size = sum(f.stat().st_size for f in files)
        with Catalog() as catalog:
            memory = add_paths(catalog, [tmp_path / "docs"], "bench")
            start = time.perf_counter()
            full = scan_memory(catalog, memory, chunker)
            full_s = time.perf_counter() - start
            assert full.added == n and not full.errors, full.to_json()

            changed = iter(range(10**6))

            def one_changed() -> None:
                target = files[len(files) // 2]
                target.write_text(target.read_text() + f"\n\nEdit {next(changed)}.")
                report = scan_memory(catalog, memory, chunker)
                assert report.changed == 1 and report.unchanged == n - 1, report.to_json()

            def nothing_changed() -> None:
                report = scan_memory(catalog, memory, chunker)
                assert report.unchanged == n, report.to_json()

            one_s = timed(one_changed, 5)
            none_s = timed(nothing_changed, 5)
            floor_s = timed(lambda: walk_and_stat(tmp_path / "docs"), 5)
            naive_s = timed(lambda: read_and_hash_all(tmp_path / "docs"), 5)
            chunks = full.chunks
    return {
        "documents": n, "bytes": size, "chunks": chunks,
        "full_scan_s": round(full_s, 3),
        "full_scan_docs_per_s": round(n / full_s, 1),
        "rescan_one_changed_s": round(one_s, 4),
        "rescan_nothing_changed_s": round(none_s, 4),
        "peer_walk_and_stat_s": round(floor_s, 4),
        "peer_read_and_hash_all_s": round(naive_s, 4),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000])
    args = parser.parse_args()

    from memo_mlx.models.base import resolve_source
    from memo_mlx.sources.chunking import Chunker, load_token_counter

    source = resolve_source()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MEMO_HOME"] = tmp
        start = time.perf_counter()
        counter = load_token_counter(source)  # built from the GGUF, then cached
        build_s = time.perf_counter() - start
        start = time.perf_counter()
        counter = load_token_counter(source)
        cached_s = time.perf_counter() - start
    chunker = Chunker(source, counter=lambda: counter)
    rows = [bench_size(n, chunker) for n in args.sizes]
    result = {
        "model": source.name,
        "tokenizer_build_s": round(build_s, 3),
        "tokenizer_cached_load_s": round(cached_s, 3),
        "chunker": chunker.identity,
        "sizes": rows,
        "machine": f"{os.uname().sysname} {os.uname().machine}, {os.cpu_count()} cores",
    }
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "scan.json").write_text(json.dumps(result, indent=2))

    print(f"Tokenizer: built from the GGUF in {build_s:.2f} s, from the cache in {cached_s:.2f} s")
    print()
    print("| documents | size | chunks | full scan | docs/s | re-scan, 1 changed | "
          "re-scan, none changed | peer: walk+stat | peer: read+hash all |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['documents']} | {r['bytes'] / 1e6:.1f} MB | {r['chunks']} | "
              f"{r['full_scan_s']:.2f} s | {r['full_scan_docs_per_s']:.0f} | "
              f"{r['rescan_one_changed_s'] * 1000:.0f} ms | "
              f"{r['rescan_nothing_changed_s'] * 1000:.0f} ms | "
              f"{r['peer_walk_and_stat_s'] * 1000:.0f} ms | "
              f"{r['peer_read_and_hash_all_s'] * 1000:.0f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
