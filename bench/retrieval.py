"""Which passage search finds the chunk that holds the answer: BM25, a static embedding, or both.

Run (the embedding model is not a MeMo dependency, so it lives in a venv of its own; the
product venv is not touched):

    python3 -m venv /tmp/emb-venv
    /tmp/emb-venv/bin/pip install wordllama sqlite-utils platformdirs tomlkit
    MEMO_HOME=/tmp/bench/fit2/home nice -n 19 /tmp/emb-venv/bin/python bench/retrieval.py \
        [--questions /tmp/bench/fit2/corpus/questions.jsonl] [--memory bench]

MEMO_HOME must hold a catalog already scanned over the bench corpus (a `memo bench` run leaves
one). For every answerable question (kind != "unanswerable") each method ranks all the
memory's chunks, and a chunk "holds the answer" when one of the question's gold answers
appears in it (case-insensitive, whitespace collapsed). The report gives, per method, how
many questions have such a chunk first (top-1) and among the first three (top-3, what
`recall` puts in a BM25 RAG prompt):

- bm25: `Catalog.search_chunks`, MeMo's own SQLite FTS5 search (chunks it does not match at
  all come after those it does, so a question still has a full ranking);
- embedding: WordLlama's default model (`l2_supercat`, 256 dimensions, MIT), whose weights and
  tokenizer ship inside the wheel: cosine similarity of the question and each chunk's text;
- hybrid: reciprocal rank fusion of the two, sum of 1 / (60 + rank).

It also prints the model's load time, its embedding time per question and per chunk, and the
size of the files it loads. Nothing is downloaded: the model is loaded with downloads
disabled (wordllama 0.4 looks for its bundled tokenizer in the wrong folder, hence the
`cache_dir` pointing at the package itself).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from memo_mlx.catalog import Catalog  # noqa: E402

DEFAULT_QUESTIONS = Path("/tmp/bench/fit2/corpus/questions.jsonl")
RRF_K = 60  # the usual constant of reciprocal rank fusion


def squash(text: str) -> str:
    return " ".join(text.lower().split())


def holds_answer(text: str, answers: Sequence[str]) -> bool:
    body = squash(text)
    return any(squash(a) in body for a in answers if a.strip())


def load_questions(path: Path) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("kind") != "unanswerable" and r.get("answers")]


def load_chunks(catalog: Catalog, memory_id: int) -> dict[int, str]:
    """Every chunk of the memory's readable documents, the ones `search_chunks` searches."""
    rows = catalog.db.execute(
        "SELECT c.id, c.text FROM chunks c JOIN documents d ON d.id = c.document_id "
        "WHERE d.memory_id = ? AND d.state = 'ok' ORDER BY c.id",
        [memory_id],
    ).fetchall()
    return dict(rows)


def bm25_ranker(catalog: Catalog, memory_id: int, ids: list[int]) -> Callable[[str], list[int]]:
    def rank(question: str) -> list[int]:
        found = [c.id for c in catalog.sources.search_chunks([memory_id], question, limit=len(ids))]
        seen = set(found)
        return found + [i for i in ids if i not in seen]

    return rank


def load_wordllama():
    import wordllama
    from wordllama import WordLlama

    package = Path(wordllama.__file__).parent
    model = WordLlama.load(cache_dir=package, disable_download=True)
    files = [*package.glob("weights/*.safetensors"), *package.glob("tokenizers/*.json")]
    return model, sum(f.stat().st_size for f in files), wordllama.__version__


def embedding_ranker(model, chunks: dict[int, str], timings: dict[str, float]):
    ids = list(chunks)
    start = time.perf_counter()
    matrix = model.embed([chunks[i] for i in ids], norm=True)
    timings["chunks_s"] = time.perf_counter() - start
    timings["questions_s"] = 0.0

    def rank(question: str) -> list[int]:
        start = time.perf_counter()
        vector = model.embed([question], norm=True)[0]
        timings["questions_s"] += time.perf_counter() - start
        scores = matrix @ vector
        return [ids[j] for j in np.argsort(-scores, kind="stable")]

    return rank


def fuse(*rankings: list[int]) -> list[int]:
    score: dict[int, float] = {}
    for ranking in rankings:
        for r, cid in enumerate(ranking, 1):
            score[cid] = score.get(cid, 0.0) + 1.0 / (RRF_K + r)
    return sorted(score, key=lambda cid: -score[cid])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS)
    parser.add_argument("--memory", default="bench")
    args = parser.parse_args()

    questions = load_questions(args.questions)
    with Catalog() as catalog:
        memory = catalog.memory(args.memory)
        if memory is None:
            sys.exit(f"no memory named {args.memory!r} in {catalog.path}")
        chunks = load_chunks(catalog, memory.id)
        ids = list(chunks)

        start = time.perf_counter()
        model, model_bytes, version = load_wordllama()
        load_s = time.perf_counter() - start
        timings: dict[str, float] = {}
        by_words = bm25_ranker(catalog, memory.id, ids)
        by_meaning = embedding_ranker(model, chunks, timings)

        hits = {name: [0, 0] for name in ("bm25", "embedding", "hybrid")}
        bm25_s = 0.0
        for q in questions:
            start = time.perf_counter()
            words = by_words(q["question"])
            bm25_s += time.perf_counter() - start
            meaning = by_meaning(q["question"])
            for name, ranking in (
                ("bm25", words),
                ("embedding", meaning),
                ("hybrid", fuse(words, meaning)),
            ):
                good = [holds_answer(chunks[cid], q["answers"]) for cid in ranking[:3]]
                hits[name][0] += good[0]
                hits[name][1] += any(good)

    n = len(questions)
    has_gold = sum(any(holds_answer(t, q["answers"]) for t in chunks.values()) for q in questions)
    print(
        f"{n} answerable questions; {len(chunks)} chunks in memory {args.memory!r}; "
        f"{has_gold} questions have a chunk that holds the answer"
    )
    print(f"{'method':<10} {'top-1':>14} {'top-3':>14}")
    for name, (top1, top3) in hits.items():
        print(f"{name:<10} {top1:>4}/{n} ({top1 / n:4.0%}) {top3:>4}/{n} ({top3 / n:4.0%})")
    print(
        f"wordllama {version}, l2_supercat 256-d: {model_bytes / 1e6:.1f} MB of weights and "
        f"tokenizer, loaded in {load_s:.2f} s; chunks embedded in {timings['chunks_s']:.3f} s "
        f"({timings['chunks_s'] / len(chunks) * 1e3:.2f} ms each); "
        f"{timings['questions_s'] / n * 1e3:.2f} ms per question "
        f"(BM25: {bm25_s / n * 1e3:.2f} ms per question)"
    )


if __name__ == "__main__":
    main()
