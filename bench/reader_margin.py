"""How far the passage reader leans to "I don't know.": on SQuAD train questions its training
left out (never the bench's dev questions), the first-token margin of "I" (the start of the
decline) over the best other token, for each question's own paragraph (it should answer) and its
article's nearest paragraph without the answer (it should decline). Prints, for a range of
biases against that token, the share of each it would decline; greedy reading is bias 0.

    .venv/bin/python -m memo_mlx.blas .venv/bin/python bench/reader_margin.py \\
        ../shared/data/squad-train-set.json --sample 300
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from memo_mlx.answering.reader import reader_dir, reading_system, training_examples  # noqa: E402
from memo_mlx.models.runtime import ModelRuntime  # noqa: E402
from memo_mlx.scoring import DONT_KNOW  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("squad", type=Path, help="SQuAD train, as the reader was trained on")
    parser.add_argument("--sample", type=int, default=300, help="questions (each read twice)")
    parser.add_argument("--out", type=Path, help="also write the margins here (JSON)")
    args = parser.parse_args()

    held_out = training_examples(json.loads(args.squad.read_text()), skip=1)
    rng = random.Random(0)
    examples = rng.sample(held_out, min(2 * args.sample, len(held_out)))
    with ModelRuntime() as runtime:
        tokenizer = runtime.loaded.result().tokenizer
        decline = tokenizer.encode(DONT_KNOW, add_special_tokens=False)[0]
        margins: dict[str, list[float]] = {"answer": [], "decline": []}
        for ex in examples:
            chat = [reading_system(), {"role": "user", "content": ex.question}]
            logits = runtime.logits(chat, adapter=reader_dir()).result()
            other = max(v for i, v in enumerate(logits) if i != decline)
            kind = "decline" if ex.answer == DONT_KNOW else "answer"
            margins[kind].append(float(logits[decline] - other))
    if args.out:
        args.out.write_text(json.dumps(margins))
    n_answer, n_decline = len(margins["answer"]), len(margins["decline"])
    print(f"{n_answer} own paragraphs, {n_decline} paragraphs without the answer")
    print("| bias against 'I' | own paragraph declined | without the answer declined |")
    print("|---|---|---|")
    for bias in (-1, 0, 0.5, 1, 1.5, 2, 3, 4, 5, 6, 8):
        wrong = sum(m > bias for m in margins["answer"])
        right = sum(m > bias for m in margins["decline"])
        print(f"| {bias} | {wrong}/{n_answer} ({wrong / n_answer:.0%}) | "
              f"{right}/{n_decline} ({right / n_decline:.0%}) |")


if __name__ == "__main__":
    main()
