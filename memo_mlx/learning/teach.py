"""Teaching a memory: scan its folders, write reflections for new text, train its adapter.

What is trained depends on what changed since the adapter was made:
- nothing new and nothing forgotten: no training at all;
- a file removed (orphaned reflections), no adapter yet, or a damaged one (its file is not
  what was saved): a full retrain on every active reflection, from scratch; LoRA cannot
  un-learn selectively, so forgetting means retraining without what was forgotten;
- only new text: the configured strategy, "incremental" (continue the adapter on the new
  reflections plus a replay sample of the old ones), "ties" (train an adapter on the new ones
  alone and TIES-merge it into the old), or "full";
- a file edited (edited reflections, what its vanished text taught): under "incremental", an
  incremental run on what the new text taught, which restates and overwrites most of the old;
  the edited reflections become outdated (the adapter may keep a trace of them) until a full
  retrain drops them. A full retrain instead when the edit only deleted text (nothing new to
  overwrite it), when the taught edited and outdated ones would exceed `stale_share` of the
  memory, or under the other strategies.

Training runs on the engine thread (the one that owns the base model, see `runtime`). Every run
is recorded in the catalog; the adapter file is replaced atomically. A killed `memo teach`
resumes: synthesis skips the chunks it finished, and training resumes from its checkpoint
because the same data gives the same run key.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ..catalog import Catalog, Memory, RecallScore, Reflection
from ..errors import MemoError
from ..reflections.synthesis import Generator, SynthesisProgress, SynthesisReport, synthesize
from ..reflections.writer import Writer
from ..settings import from_section, load_defaults, memo_home
from ..sources.chunking import Chunker
from ..sources.ingest import ScanProgress, ScanReport, scan_memory
from . import health
from .training import (
    Example,
    TrainProgress,
    TrainResult,
    TrainSettings,
    adapter_damage,
    train_adapter,
    weights_digest,
)


class TeachError(MemoError):
    pass


@dataclass(frozen=True)
class TeachSettings:
    strategy: str = "incremental"
    replay: float = 1.0  # old reflections replayed per new one (incremental)
    min_replay: int = 16
    rho: float = 0.3  # TIES: the share of each update's largest values kept
    # An edited file is taught incrementally: its new reflections restate and overwrite most of
    # what the edited text taught. The rest lingers in the adapter; this share (of the taught
    # reflections) bounds how much stale knowledge may linger before a full retrain forgets it.
    stale_share: float = 0.1
    # Epochs from the data (0: use [training] epochs as it is): about this many examples seen
    # in all, within min_epochs..max_epochs. Rule-made reflections state each fact several
    # ways, so a large folder needs fewer passes over its pairs than a small one.
    exposures: int = 600
    min_epochs: int = 6
    max_epochs: int = 30

    @classmethod
    def from_defaults(cls) -> TeachSettings:
        return from_section(cls, "teaching")


def train_settings() -> TrainSettings:
    return TrainSettings.from_dict(load_defaults().get("training", {}))


@dataclass(frozen=True)
class CheckProgress:
    """After training: the memory is asked its held-out test questions (seconds on a small
    folder, minutes on a large one), so a finished training bar is not all there is."""

    questions: int


@dataclass(frozen=True)
class TeachProgress:
    phase: str  # "scan", "synthesis", "training" or "check"
    detail: ScanProgress | SynthesisProgress | TrainProgress | CheckProgress
    eta_seconds: float | None = None  # the phase's time left, where there is a measure of it
    memory: str = ""  # the memory being taught


@dataclass
class TeachReport:
    scan: ScanReport
    synthesis: SynthesisReport | None = None
    strategy: str = "none"  # what training did: full, incremental, ties, or none
    reflections_new: int = 0  # reflections this teach taught for the first time
    reflections_total: int = 0
    probes: int = 0  # reflections held out of training to measure recall (in the total)
    training: TrainResult | None = None
    adapter: str | None = None
    recall: RecallScore | None = None  # held-out probes answered after training
    cancelled: bool = False

    def to_json(self) -> dict[str, Any]:
        t = self.training
        return {
            **self.scan.to_json(),
            "reflections": {"new": self.reflections_new, "total": self.reflections_total,
                            "probes": self.probes},
            "synthesis": self.synthesis.to_json() if self.synthesis else None,
            "strategy": self.strategy,
            "training": {
                "steps": t.steps if t else 0,
                "tokens": t.tokens if t else 0,
                "seconds": round(t.seconds, 2) if t else 0.0,
                "final_loss": t.final_loss if t else None,
                "resumed_from": t.resumed_from if t else 0,
            },
            "adapter": self.adapter,
            "recall": None if self.recall is None else {
                "score": round(self.recall.score, 3), "right": self.recall.right,
                "asked": self.recall.asked,
            },
            "cancelled": self.cancelled,
        }


@dataclass(frozen=True)
class _Plan:
    strategy: str
    examples: list[Reflection]
    new: list[Reflection]
    init: Path | None


def adapter_dir(memory: Memory) -> Path:
    return memo_home() / "adapters" / f"memory-{memory.id}"


def teach_memory(
    catalog: Catalog,
    memory: Memory,
    runtime: Any,
    *,
    chunker: Chunker,
    generator: Generator | None = None,
    settings: TeachSettings | None = None,
    training: TrainSettings | None = None,
    checkup: health.HealthSettings | None = None,
    on_progress: Callable[[TeachProgress], None] | None = None,
    on_wait: Callable[[], None] | None = None,
    cancel: threading.Event | None = None,
) -> TeachReport:
    """Scan, synthesize and train `memory` (see the module docstring), then measure what it
    recalls of each document. `runtime` is the `ModelRuntime` whose base model the adapter is
    trained against. `on_wait()` is called once if another teach of the memory (another
    process, the app) holds it: this one waits for it to finish."""
    settings = settings or TeachSettings.from_defaults()
    checkup = checkup or health.HealthSettings.from_defaults()
    training = training or train_settings()
    if settings.strategy not in STRATEGIES:
        raise TeachError(f"strategy must be one of {', '.join(STRATEGIES)}, "
                         f"not {settings.strategy!r}")
    cancel = cancel or threading.Event()

    def tell(phase: str) -> Callable[[Any], None]:
        pace = _ChunkPace()

        def told(detail: Any) -> None:
            if on_progress is None:
                return
            if isinstance(detail, SynthesisProgress):
                eta = pace.eta(detail.done, detail.total)
            else:
                eta = getattr(detail, "eta_seconds", None)
            on_progress(TeachProgress(phase, detail, eta, memory.name))

        return told

    with catalog.lock(f"teach-{memory.id}", on_wait=on_wait):
        catalog.runs.interrupted(memory.id)
        report = TeachReport(scan=scan_memory(catalog, memory, chunker,
                                              on_progress=tell("scan"), cancel=cancel))
        if report.scan.cancelled:
            report.cancelled = True
            return report
        report.synthesis = synthesize(catalog, memory, generator=generator,
                                      writer=Writer.for_runtime(runtime),
                                      on_progress=tell("synthesis"), cancel=cancel)
        if report.synthesis.cancelled:
            report.cancelled = True
            return report
        health.hold_out(catalog, memory, checkup)
        base_name = str(runtime.loaded.result().source.location)
        plan = _plan(catalog, memory, settings, training, base_name)
        report.reflections_total = len(catalog.reflections.of(memory.id))
        report.probes = len(catalog.reflections.probes(memory.id))
        current = catalog.runs.adapter(memory.id)
        report.adapter = current["path"] if current else None
        report.recall = catalog.reflections.recall(memory.id)
        if plan is None:
            if current is not None and report.recall is None:  # taught before probes existed
                report.recall = health.measure(catalog, memory, runtime, settings=checkup,
                                               cancel=cancel)
            return report
        report.strategy = plan.strategy
        run_id = _train(catalog, memory, runtime, plan, settings, training, report,
                        tell("training"), cancel)
        if run_id is not None:
            # A run that trained on from the adapter changed what it taught: those documents
            # are measured again, the others spot-checked (a full retrain changed everything).
            changed = (catalog.reflections.documents_taught([r.id for r in plan.new])
                       if plan.strategy != "full" and report.recall is not None else None)
            tell("check")(CheckProgress(len(catalog.reflections.probes(memory.id))))
            report.recall = health.measure(catalog, memory, runtime, run_id=run_id,
                                           settings=checkup, cancel=cancel, documents=changed)
    return report


def _plan(catalog: Catalog, memory: Memory, settings: TeachSettings,
          training: TrainSettings, base_name: str) -> _Plan | None:
    active = [r for r in catalog.reflections.of(memory.id) if not r.probe]  # probes: never taught
    orphaned = catalog.reflections.of(memory.id, "orphaned")
    edited = catalog.reflections.of(memory.id, "edited")
    current = catalog.runs.adapter(memory.id)
    path = Path(current["path"]) if current else None
    new = [r for r in active if r.run_id is None]
    old = [r for r in active if r.run_id is not None]
    if not active:
        if orphaned or edited or current:  # everything it knew is gone: nothing left to train on
            catalog.runs.forget_all(memory.id)
        return None
    # An adapter of another base model (the user chose a new one) is no start for this one.
    other_base = current is not None and current["base_model"] not in (None, base_name)
    # A damaged adapter (its file changed since it was saved) is no start either: trained on
    # from, its garbage would be kept.
    damaged = bool(current and adapter_damage(Path(current["path"]), current.get("digest")))
    # No reflection taught (a re-teach from scratch asked for): the adapter holds nothing
    # that is still wanted, so it is no start either.
    if path is None or damaged or orphaned or other_base or not old:
        return _Plan("full", active, new, None)
    if edited and not _may_train_past(catalog, memory, settings, edited, new, old):
        return _Plan("full", active, new, None)
    if not new:
        return None
    return _STRATEGIES[settings.strategy].plan(settings, active, new, old, path)


# How each strategy adds new reflections to a trained memory (`TeachSettings.strategy`): the
# plan it makes from the active reflections (new ones and old ones) and the adapter, and
# whether it trains a separate adapter to merge into the memory's.

def _full(_settings: TeachSettings, active: list[Reflection], new: list[Reflection],
          _old: list[Reflection], _path: Path) -> _Plan:
    return _Plan("full", active, new, None)


def _ties(_settings: TeachSettings, _active: list[Reflection], new: list[Reflection],
          _old: list[Reflection], _path: Path) -> _Plan:
    return _Plan("ties", new, new, None)


def _incremental(settings: TeachSettings, _active: list[Reflection], new: list[Reflection],
                 old: list[Reflection], path: Path) -> _Plan:
    size = min(len(old), max(settings.min_replay, round(settings.replay * len(new))))
    # Seeded by the data: a resumed run draws the same sample, so its run key matches.
    rng = random.Random(_digest([r.id for r in new]))
    replay = sorted(rng.sample(old, size), key=lambda r: r.id)
    return _Plan("incremental", new + replay, new, path)


@dataclass(frozen=True)
class _Strategy:
    plan: Callable[[TeachSettings, list[Reflection], list[Reflection], list[Reflection], Path],
                   _Plan]
    merges: bool = False  # trains the new alone, then TIES-merges it into the memory's adapter


_STRATEGIES = {"incremental": _Strategy(_incremental), "ties": _Strategy(_ties, merges=True),
               "full": _Strategy(_full)}
STRATEGIES = tuple(_STRATEGIES)


def _may_train_past(catalog: Catalog, memory: Memory, settings: TeachSettings,
                    edited: list[Reflection], new: list[Reflection], old: list[Reflection]) -> bool:
    """Whether an incremental run may replace the edited reflections instead of a full retrain
    forgetting them: under "incremental" only, with new reflections to overwrite them, and while
    what the adapter would still hold of edited text stays within `stale_share` of what it was
    taught."""
    if settings.strategy != "incremental" or not new:
        return False
    # The edited ones and those earlier runs trained past; untaught ones (probes) left no trace.
    lingering = edited + catalog.reflections.of(memory.id, "outdated")
    return sum(r.run_id is not None for r in lingering) <= settings.stale_share * len(old)


def epochs_for(settings: TeachSettings, examples: int) -> int:
    """Epochs from the data (`exposures`): a few passes over many pairs, more over few."""
    return min(settings.max_epochs,
               max(settings.min_epochs, math.ceil(settings.exposures / max(1, examples))))


def _train(
    catalog: Catalog,
    memory: Memory,
    runtime: Any,
    plan: _Plan,
    settings: TeachSettings,
    training: TrainSettings,
    report: TeachReport,
    on_progress: Callable[[TrainProgress], None],
    cancel: threading.Event,
) -> int | None:
    """Train by `plan`; the id of the finished run, None if it was cancelled."""
    out = adapter_dir(memory)
    merges = _STRATEGIES[plan.strategy].merges
    target = out.with_name(out.name + ".batch") if merges else out
    if settings.exposures:
        training = replace(training, epochs=epochs_for(settings, len(plan.examples)))
    base_name = str(runtime.loaded.result().source.location)
    examples = [Example(r.question, r.answer) for r in plan.examples]
    run_key = _digest([
        plan.strategy, base_name, asdict(training),
        [(e.question, e.answer) for e in examples],
        _file_digest(plan.init / "adapters.safetensors") if plan.init else None,
    ])
    run_id = catalog.runs.start(
        memory.id, strategy=plan.strategy, data_hash=run_key, base_model=base_name,
        settings=json.dumps({**asdict(training), **asdict(settings)}),
        examples=len(examples), new_examples=len(plan.new),
    )

    pace = seconds_per_token(catalog, base_name)

    def job(base: Any) -> TrainResult:
        return train_adapter(base.model, base.tokenizer, examples, target, settings=training,
                             run_key=run_key, init_adapter=plan.init, on_progress=on_progress,
                             on_start=on_progress, seconds_per_token=pace, cancel=cancel)

    future = runtime.submit(job)
    try:
        try:
            result = future.result()
        except KeyboardInterrupt:  # stop at the next step, with a checkpoint, then say so
            cancel.set()
            result = future.result()
            catalog.runs.finish(run_id, "cancelled", steps=result.steps, tokens=result.tokens)
            raise
        if merges and not result.cancelled:
            from .merge import ties_merge

            # The merged rank stays the memory's: the default (the sum) would grow at every merge.
            ties_merge([out, target], out, rho=settings.rho, rank=training.rank)
            shutil.rmtree(target, ignore_errors=True)
    except KeyboardInterrupt:
        raise
    except BaseException as e:
        catalog.runs.finish(run_id, "failed", error=str(e) or type(e).__name__)
        raise
    report.training = result
    if result.cancelled:
        report.cancelled = True
        catalog.runs.finish(run_id, "cancelled", steps=result.steps, tokens=result.tokens)
        return None
    catalog.runs.finish(
        run_id, "done", adapter=str(out.relative_to(memo_home())), base_model=base_name,
        digest=weights_digest(out),
        taught=[r.id for r in plan.examples], steps=result.steps, tokens=result.tokens,
        final_loss=result.final_loss, seconds=result.seconds,
    )
    report.adapter = str(out)
    report.reflections_new = len(plan.new)
    report.reflections_total = len(catalog.reflections.of(memory.id))
    return run_id


def seconds_per_token(catalog: Catalog, base_model: str, runs: int = 5) -> float | None:
    """The pace of the last few finished training runs on this computer (of any memory, on
    `base_model` where recorded): what a run's time is told by before its own steps are timed.
    None before the first run."""
    done = [r for m in catalog.memories() for r in catalog.runs.of(m.id)
            if r["status"] == "done" and (r["seconds"] or 0) > 0 and (r["tokens"] or 0) > 0
            and r["base_model"] in (None, base_model)]
    recent = sorted(done, key=lambda r: r["finished_at"] or "")[-runs:]
    if not recent:
        return None
    return sum(r["seconds"] for r in recent) / sum(r["tokens"] for r in recent)


class _ChunkPace:
    """Time left writing reflections, by the chunks finished so far (a chunk's first step
    starts when the one before ends)."""

    def __init__(self) -> None:
        self._reached: dict[int, float] = {}

    def eta(self, done: int, total: int) -> float | None:
        now = time.perf_counter()
        self._reached.setdefault(done, now)
        if done < 1 or 0 not in self._reached:
            return None
        per_chunk = (self._reached[done] - self._reached[0]) / done
        return max(per_chunk * (total - done) - (now - self._reached[done]), 0.0)


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else "missing"
