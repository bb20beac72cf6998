"""The reflection writer: the bundled base model with an adapter that writes questions.

Prompted, the bundled 135M model cannot write reflections (it repeats one question, writes no
answers). Trained once on public human-written questions (SQuAD v1.1's train split: crowd
workers' questions about Wikipedia paragraphs, CC BY-SA 4.0), a small LoRA adapter makes it
write them about any prose, in two tasks that share one adapter:

- answers: given a sentence (with the one before it, and its document's title), the short spans
  a reader could be asked about ("Rollo | King Charles III | Denmark, Iceland and Norway");
- question: given the same and one of those spans, a question the span answers, worded as a
  person would ask it.

The spans are taken only where they occur in the sentence, so every answer the memory learns
is stated by its source; a question is kept only when it names things its source names (see
`synthesis`). The prompts below are the one format both training and teaching use.

`python -m memo_mlx.writer train SQUAD_TRAIN.json` trains it (resources/writer/ holds the
result and the record of its data and training).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .settings import resources_dir
from .training import Example

ANSWER_SEPARATOR = " | "
# An empty system turn: the chat template's default one would add 16 tokens to every prompt.
SYSTEM = ""
# The writer is an adapter of this model: another base model has no writer (rules then).
BASE_MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"


def writer_dir() -> Path:
    return resources_dir() / "writer"


@dataclass(frozen=True)
class Passage:
    """One sentence to write about, with what a reader needs around it."""

    title: str  # the document or section it belongs to
    before: str  # the sentence before it ("" at the start): who "she" is
    sentence: str


def _lead(p: Passage) -> str:
    before = f"Before: {p.before}\n" if p.before else ""
    return f"Title: {p.title}\n{before}Sentence: {p.sentence}\n"


def answers_prompt(p: Passage) -> str:
    return _lead(p) + "Task: list the short answers this sentence gives."


def question_prompt(p: Passage, answer: str) -> str:
    return _lead(p) + f"Answer: {answer}\nTask: write a question about {p.title} with this answer."


def parse_answers(text: str) -> list[str]:
    """The spans of an answers reply, each once, in order."""
    seen: dict[str, None] = {}
    for part in text.split("|"):
        part = part.strip().strip(".").strip()
        if part and part.lower() not in (s.lower() for s in seen):
            seen[part] = None
    return list(seen)


def parse_question(text: str) -> str:
    """A question reply's question: its first line, which must end in "?"."""
    line = text.strip().splitlines()[0].strip() if text.strip() else ""
    return line if line.endswith("?") else ""


# --- training data ----------------------------------------------------------------------


def _sentence_spans(context: str) -> list[tuple[int, int, str]]:
    """Each sentence of a paragraph with its character span in it."""
    from .derive import sentences

    out, at = [], 0
    for s in sentences(context):
        found = context.find(s, at)
        if found < 0:  # whitespace differs: locate by its first words
            found = context.find(s.split()[0], at)
        if found < 0:
            continue
        out.append((found, found + len(s), s))
        at = found + len(s)
    return out


def training_examples(squad: dict[str, Any]) -> list[Example]:
    """Both tasks' examples from a SQuAD-shaped document (`{"articles": [{"title",
    "paragraphs": [{"context", "questions": [{"question", "answers", "answer_start"}]}]}]}`).

    A question joins the sentence its answer starts in; an answer that does not lie within
    that sentence (it spans two) is left out, as the writer is never asked for those."""
    examples: list[Example] = []
    for article in squad["articles"]:
        title = article["title"].replace("_", " ")
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            spans = _sentence_spans(context)
            per_sentence: dict[int, list[tuple[int, str, str]]] = {}
            for q in paragraph["questions"]:
                start, answer = q.get("answer_start"), q["answers"][0]
                if start is None:
                    continue
                for i, (a, b, _) in enumerate(spans):
                    if a <= start < b and start + len(answer) <= b:
                        per_sentence.setdefault(i, []).append((start, answer, q["question"]))
                        break
            for i, found in sorted(per_sentence.items()):
                p = Passage(title, spans[i - 1][2] if i else "", spans[i][2])
                answers = parse_answers(ANSWER_SEPARATOR.join(a for _, a, _ in sorted(found)))
                examples.append(Example(answers_prompt(p), ANSWER_SEPARATOR.join(answers), SYSTEM))
                for _, answer, question in found:
                    examples.append(Example(question_prompt(p, answer), question.strip(), SYSTEM))
    return examples


def _train(squad_path: Path, out: Path, epochs: int) -> None:
    """Train the writer adapter on a SQuAD-shaped file, with the product's own trainer."""
    import hashlib
    import random
    import time

    from .runtime import ModelRuntime
    from .training import TrainSettings, train_adapter

    data = json.loads(squad_path.read_text())
    examples = training_examples(data)
    random.Random(0).shuffle(examples)
    settings = TrainSettings(rank=16, scale=2.0, learning_rate=3e-4, epochs=epochs,
                             warmup_steps=50, min_lr_ratio=0.1, batch_size=8,
                             max_batch_tokens=2048, checkpoint_every=100)
    run_key = hashlib.sha256(squad_path.read_bytes()).hexdigest()[:16] + f"-e{epochs}"
    began = time.time()

    def progress(p: Any) -> None:
        if p.step % 20 == 0 or p.step == p.total_steps:
            print(f"step {p.step}/{p.total_steps} epoch {p.epoch} loss {p.loss:.3f} "
                  f"{p.tokens_per_second:.0f} tok/s eta {p.eta_seconds / 60:.0f} min", flush=True)

    with ModelRuntime(None) as runtime:
        source = runtime.loaded.result().source
        if Path(source.location).name != BASE_MODEL:
            sys.exit(f"the writer is trained on {BASE_MODEL}, not {source.name}")

        def job(base: Any) -> Any:
            return train_adapter(base.model, base.tokenizer, examples, out, settings=settings,
                                 run_key=run_key, on_progress=progress)

        result = runtime.submit(job).result()
    record = {
        "base_model": BASE_MODEL,
        "data": {"file": squad_path.name, "sha256": hashlib.sha256(squad_path.read_bytes())
                 .hexdigest(), "source": data.get("source", ""),
                 "articles": [a["title"] for a in data["articles"]],
                 "examples": len(examples)},
        "training": {"rank": settings.rank, "scale": settings.scale,
                     "learning_rate": settings.learning_rate, "epochs": epochs,
                     "batch_size": settings.batch_size, "steps": result.steps,
                     "tokens": result.tokens, "final_loss": round(result.final_loss, 4),
                     "seconds": round(result.seconds), "wall_seconds": round(time.time() - began)},
    }
    (out / "record.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record["training"]))


def main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m memo_mlx.writer")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train the writer adapter (once, by the developers)")
    train.add_argument("squad", type=Path, help="SQuAD-shaped training data (never the dev set)")
    train.add_argument("--out", type=Path, default=writer_dir())
    train.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args(argv)
    if args.command == "train":
        _train(args.squad, args.out, args.epochs)


if __name__ == "__main__":
    main(sys.argv[1:])
