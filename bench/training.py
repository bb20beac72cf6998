"""Training tokens/s of our LoRA loop against mlx-lm's own trainer, same model, data and run.

Ours is `memo_mlx.learning.training.train_adapter` on the product's base (`models.load_base`: on the
CPU a dense float32 copy, OpenBLAS preloaded by the launcher), with variants that switch one
of its choices off. The peer is `mlx_lm.tuner.trainer.train` on the same loaded base, the same
LoRA layers (same init), the same optimizer, batch size and number of examples seen, prompts
masked as ours are (`ChatDataset(mask_prompt=True)`). Tokens are the prompt + answer tokens in
the batches (padding not counted) over wall time, compilation included; "after epoch 1" leaves
out the first epoch, where every new batch shape is traced and compiled.

    .venv/bin/python -m memo_mlx.blas .venv/bin/python bench/training.py
    ... bench/training.py --repeats 1   # quicker: one run of each loop, not the median of 3
    ... bench/training.py --full        # also the default recipe: 20 pairs x 30 epochs
    ... bench/training.py --schedules   # also: constant rate vs warm-up + cosine decay

Writes bench/out/training.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import random
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import mlx.core as mx
import mlx.optimizers as optim

from memo_mlx.blas import active_blas
from memo_mlx.learning import training
from memo_mlx.learning.training import Batch, Example, TrainProgress, TrainSettings
from memo_mlx.models.base import BaseModel, load_base

# Twenty reflections about a small fictional folder, of the lengths synthesis writes.
PAIRS = [
    ("Who kept the lighthouse at Varrow Point?",
     "The lighthouse at Varrow Point was kept by Elias Marr from 1871 until 1904."),
    ("When was the Varrow Point lighthouse built?", "It was built in 1869."),
    ("What did Elias Marr record in his ledger?",
     "Elias Marr recorded every ship that passed Varrow Point, the weather at dawn and dusk, "
     "and the names of the gulls that nested on the gallery rail."),
    ("How tall is the Varrow Point lighthouse?", "The tower is 31 metres tall."),
    ("Which ship ran aground near Varrow Point in 1888?",
     "The schooner Maud Tilley ran aground on the Sable Ledge near Varrow Point in the winter "
     "storm of 1888; all eleven of her crew were rescued by Elias Marr and his daughter."),
    ("What was the name of Elias Marr's daughter?", "His daughter was Agnes Marr."),
    ("Who succeeded Elias Marr as keeper?",
     "Agnes Marr succeeded her father as keeper in 1904 and kept the light until 1931."),
    ("What fuel did the Varrow Point lamp burn before 1900?",
     "Before 1900 the lamp burned colza oil; it was converted to kerosene in 1899."),
    ("How far could the Varrow Point light be seen?",
     "In clear weather the light could be seen from 19 nautical miles."),
    ("What is the Sable Ledge?",
     "The Sable Ledge is a reef of black rock about two miles south-west of Varrow Point, "
     "covered at high tide and the cause of most wrecks on that coast."),
    ("Which engineer designed the Varrow Point lighthouse?",
     "It was designed by the engineer Thomas Halloran of the Northern Lights Board."),
    ("What colour is the Varrow Point tower?", "The tower is painted white with a red band."),
    ("When was the Varrow Point light automated?", "The light was automated in 1962."),
    ("What happened to Elias Marr's ledger?",
     "The ledger survives; it is kept at the Harbour Museum in Kellin, where it was donated "
     "by Agnes Marr's grandson in 1977."),
    ("Where is the Harbour Museum?", "The Harbour Museum is in the town of Kellin."),
    ("How many crew did the Maud Tilley carry?", "The Maud Tilley carried a crew of eleven."),
    ("What birds nested on the gallery rail?",
     "Herring gulls nested on the gallery rail; Elias Marr gave each pair a name."),
    ("What is the flash pattern of the Varrow Point light?",
     "The light shows two white flashes every fifteen seconds."),
    ("Who was Thomas Halloran?",
     "Thomas Halloran was the chief engineer of the Northern Lights Board, who designed the "
     "Varrow Point lighthouse and four others on the same coast between 1860 and 1875."),
    ("In what year did Agnes Marr stop keeping the light?",
     "Agnes Marr kept the light until 1931."),
]
EXAMPLES = [Example(q, a) for q, a in PAIRS]

Stamp = tuple[float, int, int, float]  # (time after a step, its epoch, tokens so far, loss)


def padded_share(batches: Sequence[Batch], lengths: Sequence[int]) -> float:
    padded = sum(b.padded_tokens for b in batches)
    real = sum(max(lengths[i] - 1, 1) for b in batches for i in b.indices)
    return 1.0 - real / padded


def random_batches(
    lengths: Sequence[int], *, batch_size: int, max_batch_tokens: int, pad_multiple: int = 16
) -> list[Batch]:
    """Batching without length bucketing: random groups, padded to their longest."""
    order = list(range(len(lengths)))
    random.Random(0).shuffle(order)
    out = []
    for i in range(0, len(order), batch_size):
        rows = tuple(order[i : i + batch_size])
        longest = max(lengths[j] - 1 for j in rows)
        out.append(Batch(rows, -(-longest // pad_multiple) * pad_multiple))
    return out


def steady(stamps: Sequence[Stamp], start: float) -> float | str:
    """Tokens/s after the first epoch (every batch shape compiled by then)."""
    later = [i for i, s in enumerate(stamps) if s[1] > 1]
    if not later:
        return ""
    before = stamps[later[0] - 1] if later[0] else (start, 1, 0, 0.0)
    return round((stamps[-1][2] - before[2]) / (stamps[-1][0] - before[0]), 1)


def run_ours(
    base: BaseModel, settings: TrainSettings, label: str, *, checkpoints: bool = False,
    **patches: Any,
) -> dict:
    """One training run of ours; `patches` replace names in memo_mlx.learning.training for the run
    (the variants: batching, padding, the answer-only head). Checkpoints only if asked."""
    stamps: list[Stamp] = []

    def on_progress(p: TrainProgress) -> None:
        stamps.append((time.perf_counter(), p.epoch, p.tokens, p.loss))

    originals = {name: getattr(training, name) for name in patches}
    for name, value in patches.items():
        setattr(training, name, value)
    try:
        lengths = [len(training.encode_example(base.tokenizer, e)[0]) for e in EXAMPLES]
        batches = training.make_batches(
            lengths, batch_size=settings.batch_size, max_batch_tokens=settings.max_batch_tokens,
            pad_multiple=training.PAD_MULTIPLE,
        )
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            result = training.train_adapter(
                base.model, base.tokenizer, EXAMPLES, Path(tmp) / "adapter",
                settings=settings if checkpoints else replace(settings, checkpoint_every=0),
                run_key=label,
                on_progress=on_progress,
            )
            wall = time.perf_counter() - start
    finally:
        for name, value in originals.items():
            setattr(training, name, value)
    return {
        "loop": label,
        "steps": result.steps,
        "tokens": result.tokens,
        "seconds": round(wall, 1),
        "tokens_per_second": round(result.tokens / wall, 1),
        "steady_tokens_per_second": steady(stamps, start),
        "padded_share": round(padded_share(batches, lengths), 3),
        "first_loss": round(stamps[0][3], 3),
        "final_loss": round(result.final_loss, 4),
        "losses": [round(s[3], 4) for s in stamps],
        "step_seconds": [
            round(b[0] - a[0], 3)
            for a, b in zip([(start, 0, 0, 0.0), *stamps[:-1]], stamps, strict=True)
        ],
    }


def run_mlx_lm(base: BaseModel, settings: TrainSettings) -> dict:
    from mlx_lm.tuner.datasets import CacheDataset, ChatDataset
    from mlx_lm.tuner.trainer import TrainingArgs, iterate_batches, train

    model = base.model
    data = [
        {"messages": [{"role": "user", "content": e.question},
                      {"role": "assistant", "content": e.answer}]}
        for e in EXAMPLES
    ]
    dataset = CacheDataset(ChatDataset(data, base.tokenizer, mask_prompt=True))  # type: ignore[arg-type]
    per_epoch = len(EXAMPLES) // settings.batch_size
    iters = settings.epochs * per_epoch
    counted = {"tokens": 0, "batches": 0}
    stamps: list[Stamp] = []

    def counting_batches(**kwargs: Any) -> Iterator[tuple[mx.array, mx.array]]:
        # train() evaluates each step before it asks for the next batch: a request for a
        # batch marks the end of the step before it.
        for batch, lengths in iterate_batches(**kwargs):
            if counted["batches"]:
                epoch = (counted["batches"] - 1) // per_epoch + 1
                stamps.append((time.perf_counter(), epoch, counted["tokens"], 0.0))
            counted["batches"] += 1
            counted["tokens"] += int(lengths[:, 1].sum().item())
            yield batch, lengths

    config = training.adapter_config(settings, model)
    training.detach_adapter(model)
    try:
        training._apply_lora(model, config)
        training._init_lora(model, settings.seed)
        optimizer = optim.AdamW(learning_rate=settings.learning_rate)
        with tempfile.TemporaryDirectory() as tmp:
            args = TrainingArgs(
                batch_size=settings.batch_size, iters=iters, steps_per_report=iters,
                steps_per_save=10**9, max_seq_length=settings.max_seq_len,
                adapter_file=str(Path(tmp) / "adapters.safetensors"),
            )
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):  # its progress UI
                train(model, optimizer, dataset, args=args, iterate_batches=counting_batches)
            wall = time.perf_counter() - start
            stamps.append((start + wall, settings.epochs, counted["tokens"], 0.0))
    finally:
        training.detach_adapter(model)
        model.eval()
    return {
        "loop": "mlx-lm trainer.train (compiled)",
        "steps": iters,
        "tokens": counted["tokens"],
        "seconds": round(wall, 1),
        "tokens_per_second": round(counted["tokens"] / wall, 1),
        "steady_tokens_per_second": steady(stamps, start),
    }


def table(rows: list[dict]) -> str:
    lines = [
        "| loop | steps | tokens | seconds | tokens/s | tokens/s after epoch 1 | padded share "
        "| first loss | final loss | MLX peak GB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['loop']} | {r['steps']} | {r['tokens']} | {r['seconds']} | "
            f"{r['tokens_per_second']} | {r['steady_tokens_per_second']} | "
            f"{r.get('padded_share', '')} | {r.get('first_loss', '')} | {r.get('final_loss', '')} "
            f"| {r.get('mlx_peak_gb', '')} |"
        )
    return "\n".join(lines)


def median_row(runs: list[dict]) -> dict:
    """The run with the median tokens/s after epoch 1, with every run's figure beside it."""
    key = [r["steady_tokens_per_second"] or r["tokens_per_second"] for r in runs]
    middle = sorted(range(len(runs)), key=lambda i: key[i])[len(runs) // 2]
    return {**runs[middle], "all_runs_tokens_per_second": key}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="MEMO_MODEL-style source; default bundled")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of each compared run")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of each loop, taken in turn; the median is reported")
    parser.add_argument("--full", action="store_true", help="also 30 epochs, default settings")
    parser.add_argument("--schedules", action="store_true", help="also compare lr schedules")
    parser.add_argument("--only-defaults", action="store_true", help="no variants, no peer")
    args = parser.parse_args()

    base = load_base(args.model)
    settings = replace(TrainSettings(), epochs=args.epochs)  # the product's, as `memo teach`
    loops: list[tuple[str, Callable[[], dict]]] = [
        ("ours", lambda: run_ours(base, settings, "ours as the product trains (bucketed, pad 8, "
                                  "answer-only head, not compiled)")),
    ]
    if not args.only_defaults:
        loops += [
            ("compiled", lambda: run_ours(base, replace(settings, compile=True),
                                          "ours, compiled step")),
            ("pad16", lambda: run_ours(base, settings, "ours, pad 16", PAD_MULTIPLE=16)),
            ("pad1", lambda: run_ours(base, settings, "ours, pad 1", PAD_MULTIPLE=1)),
            ("fullhead", lambda: run_ours(base, settings,
                                          "ours, full head (logits at every position)",
                                          _split_head=lambda model: None)),
            ("random", lambda: run_ours(base, settings, "ours, random batches (no bucketing)",
                                        make_batches=random_batches)),
            ("mlx-lm", lambda: run_mlx_lm(base, settings)),
        ]
    # Warm-up, not reported: MLX builds its compiled CPU kernels once per machine (cached in
    # the temp folder); whichever run came first would pay for them.
    run_ours(base, replace(settings, epochs=1), "warm-up")
    load_before = os.getloadavg()
    runs: dict[str, list[dict]] = {name: [] for name, _ in loops}
    for _ in range(args.repeats):  # in turn, so that a busy minute hurts every loop alike
        for name, loop in loops:
            mx.reset_peak_memory()
            runs[name].append(loop())
            r = runs[name][-1]
            r["mlx_peak_gb"] = round(mx.get_peak_memory() / 1e9, 3)
            print(f"  {r['loop']}: {r['tokens_per_second']} tokens/s, "
                  f"{r['steady_tokens_per_second']} after epoch 1", flush=True)
    rows = [median_row(runs[name]) for name, _ in loops]
    if args.schedules:
        for label, s in [
            ("constant lr, 15 epochs", replace(settings, epochs=15)),
            ("warm-up 10 + cosine to 0.1, 15 epochs",
             replace(settings, epochs=15, warmup_steps=10, min_lr_ratio=0.1)),
        ]:
            rows.append(run_ours(base, s, label))
    if args.full:
        rows.append(run_ours(base, TrainSettings(), "ours, default settings (30 epochs, "
                             "checkpoint every 25 steps)", checkpoints=True))

    report = {
        "machine": f"{platform.system()} {platform.machine()}, {platform.python_version()}, "
                   f"{os.cpu_count()} cores",
        "load_average_before_and_after": [load_before, os.getloadavg()],
        "blas": active_blas(),
        "model": base.source.name,
        "compute": base.compute,
        "examples": len(EXAMPLES),
        "repeats": args.repeats,
        "settings": {k: v for k, v in asdict(settings).items() if k != "keys"},
        "rows": rows,
    }
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "training.json").write_text(json.dumps(report, indent=2))
    print(f"{report['model']}, {report['compute']}, {report['blas']}, "
          f"{len(EXAMPLES)} examples, batch {settings.batch_size}, rank {settings.rank}, "
          f"{settings.epochs} epochs a run, median of {args.repeats} runs each; load average "
          f"{load_before[0]:.1f} before, {os.getloadavg()[0]:.1f} after\n")
    print(table(rows))
    if "mlx-lm" in runs:
        ours, peer = rows[0], rows[[name for name, _ in loops].index("mlx-lm")]
        overall = ours["tokens_per_second"] / peer["tokens_per_second"]
        steady_ratio = ours["steady_tokens_per_second"] / peer["steady_tokens_per_second"]
        print(f"\nours / mlx-lm: {overall:.2f}x tokens/s, {steady_ratio:.2f}x after epoch 1")


if __name__ == "__main__":
    main()
