"""The knowledge benchmark: the measure of the whole product (`memo bench`).

A fictional corpus (`fiction`: documents no pretrained model can know, facts that cross
documents, questions that are not the training reflections) is taught from scratch to a new
memory in a separate MEMO_HOME, then the same questions are answered, on the same base model,
under each condition:

- "none": the base model alone;
- "direct" and "protocol": the memory, asked directly or led by the executive;
- "rag": BM25 chunks from the same catalog in the executive's context (the usual baseline);
- "distractors": distractor documents are added to the memory's folders, it is taught again
  (incrementally, as a user's memory grows), and asked directly; "rag+distractors" likewise.

Answers are judged by normalised contained match (`scoring.is_correct`; "I don't know" is
right for the unanswerable ones). Reports accuracy overall and per question kind, time to
teach, and time per answer (answers are batched as `Recall.ask_many` batches them).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import MemoError
from .fiction import Question, make_corpus, read_questions, write_corpus
from .scoring import is_correct

CONDITIONS = ("none", "direct", "protocol", "rag", "distractors", "rag+distractors")


class BenchError(MemoError):
    pass


@dataclass(frozen=True)
class BenchSettings:
    documents: int = 36
    seed: int = 7
    distractors: int = 12
    questions: int = 0  # 0: all of them; else the first N (a quick run)
    conditions: tuple[str, ...] = CONDITIONS


def run_benchmark(
    work: Path,
    settings: BenchSettings,
    *,
    corpus: Path | None = None,
    model: str | None = None,
    on_progress: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Run the benchmark in `work` (a fresh folder: corpus, MEMO_HOME) and return its report.

    `corpus` is a folder as `fiction.write_corpus` writes it (docs/, distractors/,
    questions.jsonl); default: generated from `settings`.
    """
    unknown = [c for c in settings.conditions if c not in CONDITIONS]
    if unknown:
        raise BenchError(f"unknown condition {unknown[0]!r}; choose from {', '.join(CONDITIONS)}")
    work.mkdir(parents=True, exist_ok=True)
    if corpus is None:
        corpus = work / "corpus"
        write_corpus(make_corpus(settings.documents, settings.seed, settings.distractors), corpus)
    docs, extra = corpus / "docs", corpus / "distractors"
    if not docs.is_dir():
        raise BenchError(f"{corpus}: a benchmark corpus has a docs/ folder")
    questions = read_questions(corpus / "questions.jsonl")
    if settings.questions:
        questions = questions[: settings.questions]
    # The benchmark's memory lives in its own data folder: a user's memories are not touched.
    # Their settings are taken along: it measures the product as they have set it up.
    from .settings import memo_home

    own = memo_home() / "settings.toml"
    (work / "home").mkdir(exist_ok=True)
    if own.is_file():
        shutil.copy(own, work / "home" / "settings.toml")
    previous = os.environ.get("MEMO_HOME")
    os.environ["MEMO_HOME"] = str(work / "home")
    try:
        return _run(work, settings, docs, extra, questions, model, on_progress)
    finally:
        if previous is None:
            os.environ.pop("MEMO_HOME", None)
        else:
            os.environ["MEMO_HOME"] = previous


def _run(work: Path, settings: BenchSettings, docs: Path, extra: Path,
         questions: list[Question], model: str | None,
         on_progress: Callable[[str], None]) -> dict[str, Any]:
    from .catalog import Catalog
    from .chunking import Chunker
    from .ingest import add_paths
    from .recall import Recall
    from .runtime import ModelRuntime
    from .teach import teach_memory

    report: dict[str, Any] = {
        "settings": "user" if (work / "home" / "settings.toml").is_file() else "defaults",
        "corpus": {
            "documents": sum(1 for p in docs.iterdir() if p.is_file()),
            "bytes": sum(p.stat().st_size for p in docs.iterdir() if p.is_file()),
            "distractors": sum(1 for p in extra.iterdir()) if extra.is_dir() else 0,
            "questions": len(questions),
            "by_kind": _count_kinds(questions),
        },
        "conditions": {},
    }
    wanted = set(settings.conditions)
    with ModelRuntime(model) as runtime, Catalog() as catalog:
        report["model"] = runtime.loaded.result().source.name
        memory = add_paths(catalog, [docs], "bench")
        on_progress(f"teaching {report['corpus']['documents']} documents")
        began = time.perf_counter()
        taught = teach_memory(catalog, memory, runtime, chunker=Chunker())
        report["teach"] = {**_teach_summary(taught), "seconds": round(time.perf_counter() - began,
                                                                      1)}
        recall = Recall(catalog, runtime)
        report["executive_check"] = recall.executive_can_lead()[1]
        memory = catalog.memory_by_id(memory.id)
        for name, memories, mode in (("none", [], None), ("direct", [memory], "direct"),
                                     ("protocol", [memory], "protocol"),
                                     ("rag", [memory], "rag")):
            if name in wanted:
                on_progress(f"answering: {name}")
                report["conditions"][name] = _judge(recall, questions, memories, mode)
        if wanted & {"distractors", "rag+distractors"}:
            if not extra.is_dir():
                raise BenchError(f"{extra.parent}: the distractor conditions need a "
                                 "distractors/ folder")
            on_progress("teaching the distractor documents")
            began = time.perf_counter()
            add_paths(catalog, [extra], "bench")
            again = teach_memory(catalog, memory, runtime, chunker=Chunker())
            report["distractor_teach"] = {**_teach_summary(again),
                                          "seconds": round(time.perf_counter() - began, 1)}
            for name, mode in (("distractors", "direct"), ("rag+distractors", "rag")):
                if name in wanted:
                    on_progress(f"answering: {name}")
                    report["conditions"][name] = _judge(recall, questions, [memory], mode)
    return report


def _count_kinds(questions: Sequence[Question]) -> dict[str, int]:
    out: dict[str, int] = {}
    for q in questions:
        out[q.kind] = out.get(q.kind, 0) + 1
    return out


def _teach_summary(r: Any) -> dict[str, Any]:
    j = r.to_json()
    return {"reflections": j["reflections"]["total"], "strategy": j["strategy"],
            "training": j["training"], "recall": j["recall"]}


def _judge(recall: Any, questions: Sequence[Question], memories: list[Any],
           mode: str | None) -> dict[str, Any]:
    began = time.perf_counter()
    answers = recall.ask_many([q.question for q in questions], memories, mode=mode)
    seconds = time.perf_counter() - began
    rows = []
    for q, a in zip(questions, answers, strict=True):
        confidence = [s.confidence for s in a.trace if s.confidence is not None]
        rows.append({"id": q.id, "kind": q.kind, "answer": a.answer,
                     "correct": is_correct(a.answer, q.answers),
                     "confidence": max(confidence) if confidence else None,
                     "sources": a.sources})
    by_kind: dict[str, dict[str, Any]] = {}
    for row in rows:
        k = by_kind.setdefault(row["kind"], {"right": 0, "asked": 0})
        k["right"] += row["correct"]
        k["asked"] += 1
    for k in by_kind.values():
        k["accuracy"] = round(k["right"] / k["asked"], 3)
    right = sum(r["correct"] for r in rows)
    out = {
        "accuracy": round(right / max(len(rows), 1), 3), "right": right, "asked": len(rows),
        "by_kind": by_kind, "seconds_per_answer": round(seconds / max(len(rows), 1), 2),
        "answers": rows,
    }
    if mode == "direct" and memories:
        out["min_confidence_sweep"] = confidence_sweep(rows)
    return out


def confidence_sweep(rows: Sequence[dict[str, Any]],
                     thresholds: Sequence[float] = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9),
                     ) -> dict[str, int]:
    """Right answers had [recall] min_confidence been each threshold: an answer less sure
    than it becomes "I don't know" (right only for the unanswerable). Read off one run."""
    out = {}
    for t in thresholds:
        right = 0
        for r in rows:
            unsure = r["confidence"] is not None and r["confidence"] < t
            right += (r["kind"] == "unanswerable") if unsure else r["correct"]
        out[f"{t:.1f}"] = right
    return out


def table(report: dict[str, Any]) -> str:
    """The report as a Markdown table: one row per condition."""
    kinds = sorted(report["corpus"]["by_kind"])
    lines = ["| condition | accuracy | " + " | ".join(kinds) + " | s/answer |",
             "|---|---|" + "---|" * len(kinds) + "---|"]
    for name, c in report["conditions"].items():
        cells = [f"{c['by_kind'][k]['right']}/{c['by_kind'][k]['asked']}"
                 if k in c["by_kind"] else "-" for k in kinds]
        lines.append(f"| {name} | {c['right']}/{c['asked']} ({c['accuracy']:.0%}) | "
                     + " | ".join(cells) + f" | {c['seconds_per_answer']:.2f} |")
    return "\n".join(lines)


def clean(work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)
