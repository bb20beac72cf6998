"""The knowledge benchmark: the measure of the whole product (`memo bench`).

Two corpora. "squad", the judge: real Wikipedia paragraphs with crowd workers' questions
(`squad`), text and questions nobody here wrote. "fiction": documents no pretrained model can
know, facts that cross documents, question kinds real text lacks (`fiction`). Either is taught
from scratch to a new memory in a separate MEMO_HOME, then its questions (never the training
reflections) are answered, on the same base model, under each condition:

- "none": the base model alone;
- "direct" and "protocol": the memory, asked directly or led by the executive; "combined": the
  memory's answer where a passage confirms it, else the best passage read by the executive;
  "auto": the memory in the product's default mode (the same run as one of those, not asked
  again);
- "rag": BM25 chunks from the same catalog in the executive's context (the usual baseline);
- "gold": the question's own passage in the executive's context, as "rag" puts chunks there:
  the ceiling of any retrieval (real-text corpora);
- "distractors": distractor documents are added to the memory's folders, it is taught again
  (incrementally, as a user's memory grows), and asked directly; "combined+distractors" and
  "rag+distractors" likewise. With `again`, the distractors are taught on top of the memory
  taught before, which keeps them: that work folder then measures only distracted conditions.

Answers are judged by normalised contained match (`scoring.is_correct`; "I don't know" is
right for the unanswerable ones) and SQuAD's token F1. Reports accuracy, F1 and answer length
on the answerable questions, the share of unanswerable ones declined (abstention) and of
answerable ones declined (false abstention), right answers per question kind, time per
answer (batched as `Recall.ask_many` batches them), and of the teach: reflections per KB, the
share of source sentences some reflection asks about, training tokens per source token,
seconds per KB.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import MemoError
from ..scoring import covered, f1, is_correct, plain_sentences, says_unknown
from .fiction import Question, make_corpus, read_questions, write_corpus

# The conditions asked after distractor documents joined the memory, and their answer modes.
DISTRACTED = {"distractors": "direct", "combined+distractors": "combined",
              "rag+distractors": "rag"}
CONDITIONS = ("none", "direct", "protocol", "combined", "auto", "rag", "gold", *DISTRACTED)
CORPORA = ("fiction", "squad")
DEFAULT_CONDITIONS = {
    "fiction": ("none", "direct", "protocol", "combined", "rag", *DISTRACTED),
    "squad": ("none", "direct", "combined", "auto", "rag", "gold"),
}


class BenchError(MemoError):
    pass


@dataclass(frozen=True)
class BenchSettings:
    documents: int = 36
    seed: int = 7
    distractors: int = 12
    questions: int = 0  # 0: all of them; else the first N (a quick run)
    conditions: tuple[str, ...] = DEFAULT_CONDITIONS["fiction"]
    corpus: str = "fiction"  # which corpus to write when none is given
    # Answer with the memory an earlier run taught in the same work folder, without teaching
    # it again (the distractor conditions still teach the distractors on top): answer modes
    # compared on one memory, apart from the noise of teaching it again.
    again: bool = False


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
    questions.jsonl); default: written for `settings.corpus`.
    """
    unknown = [c for c in settings.conditions if c not in CONDITIONS]
    if unknown:
        raise BenchError(f"unknown condition {unknown[0]!r}; choose from {', '.join(CONDITIONS)}")
    work.mkdir(parents=True, exist_ok=True)
    if settings.again:
        if not (work / "home" / "catalog.db").is_file():
            raise BenchError(f"{work}: no earlier run taught a memory here to answer again")
    if settings.corpus not in CORPORA:
        raise BenchError(f"unknown corpus {settings.corpus!r}; choose from {', '.join(CORPORA)}")
    if corpus is None:
        corpus = work / "corpus"
        if settings.corpus == "squad":
            from .squad import write_squad_corpus

            write_squad_corpus(corpus)
        else:
            write_corpus(make_corpus(settings.documents, settings.seed, settings.distractors),
                         corpus)
    docs, extra = corpus / "docs", corpus / "distractors"
    if not docs.is_dir():
        raise BenchError(f"{corpus}: a benchmark corpus has a docs/ folder")
    questions = read_questions(corpus / "questions.jsonl")
    if settings.questions:
        questions = questions[: settings.questions]
    # The benchmark's memory lives in its own data folder: a user's memories are not touched.
    # Their settings are taken along: it measures the product as they have set it up.
    from ..settings import memo_home

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
    from ..answering.recall import Recall
    from ..catalog import Catalog
    from ..learning.teach import teach_memory
    from ..models.runtime import ModelRuntime
    from ..sources.chunking import Chunker
    from ..sources.ingest import add_paths

    report: dict[str, Any] = {
        "settings": "user" if (work / "home" / "settings.toml").is_file() else "defaults",
        "corpus": {
            "name": settings.corpus,
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
        if settings.again:
            taught_before = catalog.memory("bench")
            if taught_before is None:
                raise BenchError(f"{work}: no earlier run taught a memory here to answer again")
            memory = taught_before
            report["teach"] = None
            undistracted = wanted - set(DISTRACTED) - {"none", "gold"}
            if undistracted and any(Path(f.path) == extra.resolve()
                                    for f in catalog.sources.folders(memory.id)):
                raise BenchError(f"{work}: its memory learned the distractors in an earlier run; "
                                 f"{sorted(undistracted)[0]!r} needs a memory without them "
                                 "(a new --work)")
        else:
            memory = add_paths(catalog, [docs], "bench")
            on_progress(f"teaching {report['corpus']['documents']} documents")
            began = time.perf_counter()
            taught = teach_memory(catalog, memory, runtime, chunker=Chunker())
            seconds = time.perf_counter() - began
            report["teach"] = {**_teach_summary(taught), "seconds": round(seconds, 1),
                               **_teach_figures(catalog, memory, runtime, docs, seconds)}
        recall = Recall(catalog, runtime)
        report["executive_check"] = recall.executive_can_lead()[1]
        memory = catalog.memory_by_id(memory.id)
        default = recall.resolve_mode([memory])
        for name, memories, mode in (("none", [], None), ("direct", [memory], "direct"),
                                     ("protocol", [memory], "protocol"),
                                     ("combined", [memory], "combined"),
                                     ("auto", [memory], default),
                                     ("rag", [memory], "rag"), ("gold", [], "gold")):
            if name not in wanted:
                continue
            if name == "auto" and default in report["conditions"]:  # the same run: not again
                report["conditions"][name] = {**report["conditions"][default], "mode": default}
                continue
            on_progress(f"answering: {name}")
            judged = (_judge_gold(recall, questions) if mode == "gold"
                      else _judge(recall, questions, memories, mode))
            report["conditions"][name] = {**judged, "mode": mode or "none"}
        if wanted & set(DISTRACTED):
            if not extra.is_dir():
                raise BenchError(f"{extra.parent}: the distractor conditions need a "
                                 "distractors/ folder")
            on_progress("teaching the distractor documents")
            began = time.perf_counter()
            add_paths(catalog, [extra], "bench")
            again = teach_memory(catalog, memory, runtime, chunker=Chunker())
            report["distractor_teach"] = {**_teach_summary(again),
                                          "seconds": round(time.perf_counter() - began, 1)}
            for name, mode in DISTRACTED.items():
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


def _teach_figures(catalog: Any, memory: Any, runtime: Any, docs: Path,
                   seconds: float) -> dict[str, Any]:
    """What the teach made of the text: reflections per KB, the share of source sentences some
    reflection asks about (counted by `scoring.covered`), training tokens per source token."""
    tokenizer = runtime.loaded.result().tokenizer
    reflections = catalog.reflections.of(memory.id)
    sources = catalog.reflections.sources([r.id for r in reflections])
    pages = sorted(p for p in docs.iterdir() if p.is_file())
    text_bytes = sum(p.stat().st_size for p in pages)
    sentences = covered_count = source_tokens = 0
    for page in pages:
        text = page.read_text(encoding="utf-8")
        source_tokens += len(tokenizer.encode(text))
        own = [(r.question, r.answer) for r in reflections
               if any(Path(s).name == page.name for s in sources.get(r.id, []))]
        split = plain_sentences(text)
        sentences += len(split)
        covered_count += len(covered(split, own))
    trained = sum(run.get("tokens") or 0 for run in catalog.runs.of(memory.id)
                  if run.get("status") == "done")
    kb = max(text_bytes / 1024, 1e-9)
    return {
        "reflections_per_kb": round(len(reflections) / kb, 1),
        "sentence_coverage": round(covered_count / max(sentences, 1), 3),
        "sentences": sentences,
        "training_tokens_per_source_token": round(trained / max(source_tokens, 1), 1),
        "source_tokens": source_tokens,
        "seconds_per_kb": round(seconds / kb, 1),
    }


def _judge(recall: Any, questions: Sequence[Question], memories: list[Any],
           mode: str | None) -> dict[str, Any]:
    began = time.perf_counter()
    answers = recall.ask_many([q.question for q in questions], memories, mode=mode)
    seconds = time.perf_counter() - began
    rows = []
    for q, a in zip(questions, answers, strict=True):
        confidence = [s.confidence for s in a.trace if s.confidence is not None]
        # What combined did with the memory's answer: the passage that confirmed it, or not.
        check = next((s.answer for s in a.trace if s.stage == "check"), None)
        rows.append({**_row(q, a.answer), "confidence": max(confidence) if confidence else None,
                     "sources": a.sources, "check": check,
                     "passages_declined": sum(s.stage == "read" for s in a.trace)})
    out = _summary(rows, seconds)
    if mode == "direct" and memories:
        out["min_confidence_sweep"] = confidence_sweep(rows)
    return out


def _judge_gold(recall: Any, questions: Sequence[Question]) -> dict[str, Any]:
    """Each question's own passage read as retrieved passages are (the reader, where the base
    model has one)."""
    from ..answering.reader import reading_prompt
    from ..answering.recall import user

    missing = [q.id for q in questions if not q.context]
    if missing:
        raise BenchError(f"the gold condition needs each question's passage; {missing[0]} "
                         "has none (a real-text corpus has them)")
    began = time.perf_counter()
    replies = recall.runtime.generate_batch(
        [recall.reading([], user(reading_prompt(q.context, q.question))) for q in questions],
        adapter=recall.reader(), max_tokens=recall.settings.answer_tokens).result()
    seconds = time.perf_counter() - began
    return _summary([_row(q, r.text.strip()) for q, r in zip(questions, replies, strict=True)],
                    seconds)


def _row(q: Question, answer: str) -> dict[str, Any]:
    return {"id": q.id, "kind": q.kind, "answer": answer,
            "correct": is_correct(answer, q.answers), "f1": round(f1(answer, q.answers), 3),
            "words": len(answer.split())}


def _summary(rows: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Accuracy, F1 and length over the answerable questions; how often the unanswerable ones
    were declined (abstention) and the answerable ones were (false abstention)."""
    by_kind: dict[str, dict[str, Any]] = {}
    for row in rows:
        k = by_kind.setdefault(row["kind"], {"right": 0, "asked": 0, "f1_sum": 0.0})
        k["right"] += row["correct"]
        k["asked"] += 1
        k["f1_sum"] += row["f1"]
    for k in by_kind.values():
        k["accuracy"] = round(k["right"] / k["asked"], 3)
        k["f1"] = round(k.pop("f1_sum") / k["asked"], 3)
    answerable = [r for r in rows if r["kind"] != "unanswerable"]
    unanswerable = [r for r in rows if r["kind"] == "unanswerable"]
    right, n = sum(r["correct"] for r in answerable), max(len(answerable), 1)
    declined = sum(says_unknown(r["answer"]) for r in answerable)
    return {
        "accuracy": round(right / n, 3), "right": right, "asked": len(answerable),
        "f1": round(sum(r["f1"] for r in answerable) / n, 3),
        "mean_words": round(sum(r["words"] for r in answerable) / n, 1),
        "abstention": (round(sum(r["correct"] for r in unanswerable) / len(unanswerable), 3)
                       if unanswerable else None),
        "unanswerable": len(unanswerable),
        "false_abstention": round(declined / n, 3),
        "by_kind": by_kind, "seconds_per_answer": round(seconds / max(len(rows), 1), 2),
        "answers": rows,
    }


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
    """The report as Markdown: one row per condition, then the teach's figures."""
    kinds = sorted(report["corpus"]["by_kind"])
    per_kind = len(kinds) > 1
    head = " | ".join(kinds) + " | " if per_kind else ""
    lines = ["| condition | accuracy | F1 | words | abstains | false abstentions | " + head
             + "s/answer |",
             "|---|---|---|---|---|---|" + ("---|" * len(kinds) if per_kind else "") + "---|"]
    for name, c in report["conditions"].items():
        cells = "".join(f"{c['by_kind'][k]['right']}/{c['by_kind'][k]['asked']} | "
                        if k in c["by_kind"] else "- | " for k in kinds) if per_kind else ""
        mode = f" ({c['mode']})" if name == "auto" else ""
        abstains = ("-" if c.get("abstention") is None
                    else f"{c['abstention']:.0%} of {c['unanswerable']}")
        lines.append(f"| {name}{mode} | {c['right']}/{c['asked']} ({c['accuracy']:.0%}) | "
                     f"{c.get('f1', 0):.2f} | {c.get('mean_words', 0):.1f} | {abstains} | "
                     f"{c.get('false_abstention', 0):.0%} | {cells}"
                     f"{c['seconds_per_answer']:.2f} |")
    t = report["teach"] or {}
    if "reflections_per_kb" in t:
        lines += ["", "| teach | reflections | per KB | sentences covered | training tokens per "
                  "source token | s/KB | seconds |", "|---|---|---|---|---|---|---|",
                  f"| {report['corpus']['bytes'] / 1024:.1f} KB | {t['reflections']} | "
                  f"{t['reflections_per_kb']} | {t['sentence_coverage']:.0%} of "
                  f"{t['sentences']} | {t['training_tokens_per_source_token']} | "
                  f"{t['seconds_per_kb']} | {t['seconds']:.0f} |"]
    return "\n".join(lines)


def clean(work: Path) -> None:
    shutil.rmtree(work, ignore_errors=True)
