"""How many human-written questions the writer's check would keep: the check's false rejections.

Run: `.venv/bin/python bench/question_checks.py [SQUAD_TRAIN.json] [--sample N]`.

Every question SQuAD's crowd workers wrote is a good question about its sentence; a check that
rejects many of them also rejects the rewordings that teach a small memory to answer questions
worded differently from its reflections (docs/research.md). Each question is put to
`writer.question_fits` with its answer, the sentence its answer lies in, the title, and the
sentence before (what the writer is shown); the report counts what is kept. (What the check
lets through that is false is judged on real documents by `tests/test_realdocs.py`.)
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from memo_mlx.reflections import writer  # noqa: E402

DEFAULT = ROOT.parent / "shared" / "data" / "squad-train-set.json"


def cases(squad: dict, sample: int, seed: int = 0) -> list[tuple[writer.Passage, str, str]]:
    """(passage, question, answer) for each question whose answer lies within one sentence,
    the sentence found as the writer's training data finds it."""
    out = [(p, question, answer)
           for article in squad["articles"]
           for paragraph in article["paragraphs"]
           for p, found in writer.asked_sentences(article["title"].replace("_", " "), paragraph)
           for _, answer, question in found]
    random.Random(seed).shuffle(out)
    return out[:sample] if sample else out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("squad", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--sample", type=int, default=1500, help="questions (0: all)")
    args = parser.parse_args()
    rows = cases(json.loads(args.squad.read_text(encoding="utf-8")), args.sample)
    kept = Counter(writer.question_fits(q, a, f"{p.title}\n{p.sentence}", p.before)
                   for p, q, a in rows)
    print(f"{args.squad.name}: {len(rows)} crowd questions; question_fits keeps "
          f"{kept[True]} ({kept[True] / len(rows):.0%})")


if __name__ == "__main__":
    main()
