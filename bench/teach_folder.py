"""A full teach of a ~100 KB folder, split into its phases, then the teach after one file changes.

Run: `make bench-teach-folder` (or `.venv/bin/python -m memo_mlx.blas .venv/bin/python
bench/teach_folder.py [--kb 100] [--epochs N]`).

The folder is fictional (`memo_mlx.bench.fiction`, several seeded worlds in subfolders until it
holds `--kb` kilobytes of Markdown). It is taught from scratch with the product's settings, timed by
phase as `teach_memory` reports them: reading (scan, extraction, chunking), writing reflections
(synthesis), training, and the health check that follows (held-out probes answered). Then one
sentence of one file is changed (a year moves by one) and the memory is taught again: the
incremental teach, timed the same way, as a share of the full one. Peak memory is MLX's
(`mx.get_peak_memory`) and the process's resident peak, both over the full teach.

`--epochs N` trains every teach N epochs instead of the epochs the product picks from the data
(`[teaching] exposures`: about 600 examples seen, 6 to 30 epochs), which a CPU cannot afford at
100 KB; the table then also shows each teach projected to the product's epochs (its measured
training time scaled by the epochs the product would pick for that teach's examples).

Writes bench/out/teach_folder.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PHASES = ("scan", "synthesis", "training", "health check")


def write_folder(folder: Path, kilobytes: int) -> int:
    """Seeded fictional worlds, one subfolder each, until the folder holds `kilobytes` KB."""
    from memo_mlx.bench.fiction import make_corpus

    size, seed = 0, 0
    while size < kilobytes * 1000:
        seed += 1
        corpus = make_corpus(64, seed=seed, distractors=12)
        where = folder / f"world-{seed}"
        where.mkdir(parents=True)
        for name, text in {**corpus.documents, **corpus.distractors}.items():
            (where / name).write_text(text, encoding="utf-8")
            size += len(text.encode())
    return size


def edit_one_file(folder: Path) -> str:
    """Move the first year in the first file that has one by one: a fact changes."""
    for path in sorted(folder.rglob("*.md")):
        text = path.read_text(encoding="utf-8")
        year = re.search(r"\b(1[89]\d\d|20\d\d)\b", text)
        if year:
            changed = f"{int(year.group()) + 1}"
            path.write_text(text[:year.start()] + changed + text[year.end():], encoding="utf-8")
            return f"{path.relative_to(folder)}: {year.group()} -> {changed}"
    raise SystemExit("no file with a year to change")


def product_epochs(examples: int) -> int:
    """The epochs `teach` picks for a run of `examples` examples (see `TeachSettings`)."""
    from memo_mlx.learning.teach import TeachSettings, epochs_for

    return epochs_for(TeachSettings(), examples)


def timed_teach(catalog, memory, runtime) -> dict:
    """One teach, with the seconds of each phase (a phase ends where the next begins)."""
    from memo_mlx.learning.teach import teach_memory
    from memo_mlx.sources.chunking import Chunker

    starts: dict[str, float] = {}

    def on_progress(progress) -> None:
        starts.setdefault(progress.phase, time.perf_counter())

    start = time.perf_counter()
    report = teach_memory(catalog, memory, runtime, chunker=Chunker(), on_progress=on_progress)
    end = time.perf_counter()
    if report.training and report.training.steps:
        # The health check is what follows the last training step: training reports each step.
        starts["health check"] = starts["training"] + report.training.seconds
    marks = [(phase, starts[phase]) for phase in PHASES if phase in starts]
    phases = {phase: 0.0 for phase in PHASES}
    for (phase, at), (_, following) in zip(marks, [*marks[1:], ("end", end)], strict=True):
        phases[phase] = round(following - at, 2)
    phases["scan"] = round(phases["scan"] + (marks[0][1] - start if marks else end - start), 2)
    t = report.training
    runs = catalog.runs.of(memory.id)
    return {
        "examples": runs[-1]["examples"] if t and runs else 0,
        "seconds": round(end - start, 2),
        "phases": phases,
        "strategy": report.strategy,
        "documents": report.scan.to_json(),
        "reflections_total": report.reflections_total,
        "reflections_new": report.reflections_new,
        "training_steps": t.steps if t else 0,
        "training_tokens": t.tokens if t else 0,
        "tokens_per_second": round(t.tokens / t.seconds, 1) if t and t.seconds else None,
        "recall": None if report.recall is None else [report.recall.right, report.recall.asked],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kb", type=int, default=100, help="size of the folder (default 100)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="train N epochs a teach instead of the product's choice")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "teach_folder.json")
    args = parser.parse_args()

    import mlx.core as mx

    from memo_mlx.blas import active_blas
    from memo_mlx.catalog import Catalog
    from memo_mlx.models.runtime import ModelRuntime
    from memo_mlx.sources.ingest import add_paths

    work = Path(tempfile.mkdtemp(prefix="memo-bench-folder-"))
    os.environ["MEMO_HOME"] = str(work / "home")
    (work / "home").mkdir()
    if args.epochs:
        (work / "home" / "settings.toml").write_text(
            f"[teaching]\nexposures = 0\n\n[training]\nepochs = {args.epochs}\n")
    folder = work / "folder"
    size = write_folder(folder, args.kb)
    try:
        with ModelRuntime() as runtime, Catalog() as catalog:
            base = runtime.loaded.result()
            memory = add_paths(catalog, [folder], "bench")
            mx.reset_peak_memory()
            full = timed_teach(catalog, memory, runtime)
            full["mlx_peak_gb"] = round(mx.get_peak_memory() / 1e9, 3)
            full["peak_rss_mb"] = round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
            print(f"  full teach: {full['seconds']} s {full['phases']}", flush=True)
            edit = edit_one_file(folder)
            incremental = timed_teach(catalog, catalog.memories()[0], runtime)
            print(f"  after editing {edit}: {incremental['seconds']} s "
                  f"{incremental['phases']}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.epochs:
        for r in (full, incremental):
            r["product_epochs"] = product_epochs(r["examples"])
            r["projected_seconds"] = round(
                r["seconds"] + r["phases"]["training"] * (r["product_epochs"] / args.epochs - 1), 1)
    share = {phase: round(incremental["phases"][phase] / full["phases"][phase], 4)
             if full["phases"][phase] else None for phase in PHASES}
    result = {
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
        "blas": active_blas(),
        "model": base.source.name,
        "compute": base.compute,
        "folder_bytes": size,
        "epochs": args.epochs or "product's choice",
        "edit": edit,
        "full": full,
        "incremental": incremental,
        "incremental_share": round(incremental["seconds"] / full["seconds"], 4),
        "incremental_share_by_phase": share,
    }
    if args.epochs:
        result["projected_incremental_share"] = round(
            incremental["projected_seconds"] / full["projected_seconds"], 4)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"{size / 1000:.0f} KB folder, {result['model']} ({result['compute']}), "
          f"{result['blas']}, epochs: {result['epochs']}; edit: {edit}\n")
    print("| teach | strategy | total s | " + " | ".join(f"{p} s" for p in PHASES)
          + " | steps | reflections (new) |")
    print("|---|---|---|" + "---|" * len(PHASES) + "---|---|")
    for name, r in (("full", full), ("after one file changed", incremental)):
        print(f"| {name} | {r['strategy']} | {r['seconds']} | "
              + " | ".join(str(r["phases"][p]) for p in PHASES)
              + f" | {r['training_steps']} | {r['reflections_total']} ({r['reflections_new']}) |")
    print(f"\nincremental / full: {result['incremental_share']:.2%}; training peak: MLX "
          f"{full['mlx_peak_gb']} GB, process {full['peak_rss_mb']} MB")
    if args.epochs:
        print(f"at the product's epochs ({full['product_epochs']} for the full teach's "
              f"{full['examples']} examples, {incremental['product_epochs']} for the incremental's "
              f"{incremental['examples']}): {full['projected_seconds']} s and "
              f"{incremental['projected_seconds']} s, {result['projected_incremental_share']:.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
