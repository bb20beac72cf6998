"""The knowledge benchmark's corpus: fictional documents, distractors and held-out questions.

Run: `.venv/bin/python bench/knowledge.py OUT [--documents N] [--seed S] [--distractors K]`.

Writes OUT/docs/*.md (the folder a memory is taught), OUT/distractors/*.md (a disjoint world,
for the robustness condition) and OUT/questions.jsonl (see `memo_mlx.bench.fiction`), and prints the
questions per kind and the size of the text. Deterministic for a seed.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--documents", type=int, default=36)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--distractors", type=int, default=12)
    args = parser.parse_args()

    from memo_mlx.bench.fiction import KINDS, make_corpus, write_corpus

    try:
        corpus = make_corpus(args.documents, args.seed, args.distractors)
    except ValueError as e:
        parser.error(str(e))
    write_corpus(corpus, args.out)
    kinds = Counter(q.kind for q in corpus.questions)
    size = sum(len(t.encode()) for t in corpus.documents.values())
    extra = sum(len(t.encode()) for t in corpus.distractors.values())
    print(f"{len(corpus.documents)} documents ({size} bytes), {len(corpus.distractors)} "
          f"distractors ({extra} bytes) in {args.out}")
    print(f"{len(corpus.questions)} questions: "
          + ", ".join(f"{kinds[k]} {k}" for k in KINDS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
