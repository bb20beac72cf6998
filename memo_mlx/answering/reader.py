"""The passage reader: the bundled base model with an adapter that answers a question from one
passage, or says that the passage does not say.

Prompted, the bundled 135M executive answers half the real-text bench's questions from their
own paragraph (50%) and declines almost none of the questions the paragraphs cannot answer (2%
of 48): it takes something from the passage whatever is asked. Trained once on public
human-written questions (SQuAD v1.1's train split, CC BY-SA 4.0, the writer's data), a LoRA
adapter teaches it the reading both ways:

- a question with its own paragraph: the sentence of the paragraph that answers it;
- the same question with the paragraph of its article that shares most of its words but holds
  none of its answers: "I don't know." (the passage a search finds for a question the folder
  cannot answer).

The prompt is the one `recall` reads passages with (`recall-rag`); no system turn, as for the
writer. `python -m memo_mlx.answering.reader train SQUAD_TRAIN.json` trains it
(resources/reader/ holds the result and the record of its data and training).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ..learning.training import Example
from ..reflections.writer import BASE_MODEL, SYSTEM, sentence_spans, train_command
from ..scoring import DONT_KNOW, content_words, normalise
from ..settings import prompt, resources_dir


def reader_dir() -> Path:
    return resources_dir() / "reader"


def reader_for(runtime: Any) -> Path | None:
    """The reader adapter for the runtime's base model; None when it has none (another model,
    which reads with the prompt alone)."""
    source = runtime.loaded.result().source
    adapter = reader_dir()
    if Path(source.location).name != BASE_MODEL:
        return None
    return adapter if (adapter / "adapters.safetensors").is_file() else None


def reading_system() -> dict[str, str]:
    """The system turn the reader was trained with (empty: the chat template's default one
    would add 16 tokens to every prompt)."""
    return {"role": "system", "content": SYSTEM}


def reading_prompt(context: str, question: str) -> str:
    """The passage and the question, as `recall` shows them to whoever reads."""
    return prompt("recall-rag", context=context, question=question)


def _answering_sentences(context: str, start: int, answer: str) -> str:
    """The sentence(s) of `context` the answer at `start` lies in."""
    inside = [s for a, b, s in sentence_spans(context) if a < start + len(answer) and start < b]
    return " ".join(inside)


def training_examples(squad: dict[str, Any], every: int = 2, skip: int = 0) -> list[Example]:
    """For every `every`-th question of a SQuAD-shaped document (see
    `writer.training_examples`), its paragraph with the sentence that answers it, and its
    article's other paragraph that shares most of its words and holds none of its answers with
    "I don't know.". Every second question by default: all of the train split are 1.9M tokens,
    three hours of training on the 2-core CPU. `skip=1` gives the questions training left
    out (`bench/reader_margin.py` measures the trained reader on them)."""
    examples: list[Example] = []
    seen = 0
    for article in squad["articles"]:
        paragraphs = [p["context"] for p in article["paragraphs"]]
        words = [content_words(p) for p in paragraphs]
        normalised = [f" {normalise(p)} " for p in paragraphs]
        for own, paragraph in enumerate(article["paragraphs"]):
            for q in paragraph["questions"]:
                seen += 1
                start = q.get("answer_start")
                if start is None or (seen + skip) % every:
                    continue
                answer = _answering_sentences(paragraph["context"], start, q["answers"][0])
                if not answer:
                    continue
                examples.append(Example(reading_prompt(paragraph["context"], q["question"]),
                                        answer, SYSTEM))
                asked = content_words(q["question"])
                golds = [f" {normalise(a)} " for a in q["answers"] if normalise(a)]
                others = sorted(
                    (i for i in range(len(paragraphs)) if i != own
                     and not any(g in normalised[i] for g in golds)),
                    key=lambda i: (-len(asked & words[i]), i))
                if others:
                    examples.append(Example(reading_prompt(paragraphs[others[0]],
                                                           q["question"]), DONT_KNOW, SYSTEM))
    return examples


def main(argv: list[str]) -> None:
    train_command(argv, "reader", reader_dir(), training_examples)


if __name__ == "__main__":
    from ..blas import reexec_with_fast_blas

    reexec_with_fast_blas()  # as the writer's: a day of training with the bundled BLAS
    main(sys.argv[1:])
