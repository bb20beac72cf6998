"""The real-text corpus of `memo bench --corpus squad`: text nobody here wrote, questions
nobody here wrote.

SQuAD v1.1 paragraphs of English Wikipedia (`bench/data/squad-dev-set.json`, CC BY-SA 4.0)
become a folder of Markdown pages, one per article, its paragraphs in order under its title, as
a person's folder of saved articles would be; the crowd workers' questions are asked with every
answer they accepted, and each carries its paragraph for the "gold" condition (the passage in
the executive's context: the ceiling of any retrieval).

With them, 48 questions written here about the same articles whose answers the paragraphs do not
hold (`bench/data/squad-dev-unanswerable.json`, kind "unanswerable"): the right reply says the
folder does not tell. Their "gold" passage is the whole article page, all the folder says on
their topic.

And 4 distractor pages (`bench/data/squad-distractors.json`): the first paragraphs of articles
from SQuAD's train split near the bench's topics (French Protestants beside the Normans, a
Californian city beside Kenya's, Luther beside Tesla, comb jellies beside chloroplasts), which
the distractor conditions teach on top of the memory: what a growing folder costs an answer.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from .fiction import Corpus, Question, write_corpus

DATA_FILE = "squad-dev-set.json"
UNANSWERABLE_FILE = "squad-dev-unanswerable.json"
DISTRACTORS_FILE = "squad-distractors.json"


def data_path() -> Path:
    """The evaluation set in a checkout (`bench/data/`)."""
    return Path(__file__).resolve().parents[2] / "bench" / "data" / DATA_FILE


def _file_name(title: str) -> str:
    return re.sub(r"[^\w]+", "-", title).strip("-").lower() + ".md"


def _page(article: dict[str, Any]) -> tuple[str, str]:
    """An article as a saved page: (file name, Markdown text)."""
    title = article["title"].replace("_", " ")
    paragraphs = [p["context"].strip() for p in article["paragraphs"]]
    return _file_name(title), f"# {title}\n\n" + "\n\n".join(paragraphs) + "\n"


def make_squad_corpus(data: dict[str, Any],
                      unanswerable: dict[str, Any] | None = None,
                      distractors: dict[str, Any] | None = None) -> Corpus:
    """Pages and questions from a SQuAD-shaped document (see `writer.training_examples`), then
    the unanswerable questions of `unanswerable` (`{"articles": [{"title", "questions"}]}`),
    each about an article of `data`, and the pages of `distractors` (SQuAD-shaped, no
    questions needed)."""
    pages: dict[str, str] = {}
    questions: list[Question] = []
    for article in data["articles"]:
        name, pages[name] = _page(article)
        for paragraph in article["paragraphs"]:
            for q in paragraph["questions"]:
                questions.append(Question(
                    f"s{len(questions) + 1:03d}", "crowd", q["question"].strip(),
                    tuple(dict.fromkeys(a.strip() for a in q["answers"])), (name,),
                    paragraph["context"].strip(),
                ))
    for article in (unanswerable or {}).get("articles", []):
        name = _file_name(article["title"].replace("_", " "))
        if name not in pages:
            raise ValueError(f"unanswerable questions about {article['title']!r}, an article "
                             "the corpus does not have")
        for text in article["questions"]:
            unasked = sum(q.kind == "unanswerable" for q in questions) + 1
            questions.append(Question(f"u{unasked:03d}", "unanswerable", text.strip(), (), (),
                                      pages[name]))
    extra = dict(_page(a) for a in (distractors or {}).get("articles", []))
    if clash := set(extra) & set(pages):
        raise ValueError(f"{sorted(clash)[0]}: a distractor page of the same name as a "
                         "bench article")
    return Corpus(pages, extra, questions)


def write_squad_corpus(out: Path, source: Path | None = None) -> None:
    """The corpus as `fiction.write_corpus` lays one out (docs/, distractors/,
    questions.jsonl); the unanswerable questions and distractors beside `source`, if there."""
    source = source or data_path()
    if not source.is_file():
        raise FileNotFoundError(f"{source}: the real-text corpus is not here (it comes with "
                                "a checkout of MeMo, in bench/data/)")
    def beside(name: str) -> dict[str, Any] | None:
        path = source.with_name(name)
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    write_corpus(make_squad_corpus(json.loads(source.read_text(encoding="utf-8")),
                                   beside(UNANSWERABLE_FILE), beside(DISTRACTORS_FILE)), out)
