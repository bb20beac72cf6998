"""Reflections on real kinds of text (tests/realdocs/: a biography, a README with code, meeting
notes, a recipe, an e-mail thread, pages in French and German), written by the default
synthesis on the real default model, through the real pipeline (extract, chunk, synthesize).

A reflection is false when its answer is not stated by its page, or when it names a person,
thing or number its sentence does not: the judge here is written apart from the code under
test, from the page's own sentences and a hand-written list of who each pronoun-led sentence
is about (`realdocs/referents.json`).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from memo_mlx.scoring import covered, normalise, plain_sentences, stated_in

# Every test here reads the reflections `taught` writes on the real model, minutes of it.
pytestmark = pytest.mark.slow(minutes=5)

REALDOCS = Path(__file__).parent / "realdocs"
REFERENTS = json.loads((REALDOCS / "referents.json").read_text(encoding="utf-8"))
NOT_ENGLISH = ("tour-eiffel.md", "brandenburger-tor.md")
ENGLISH_WORDS = {"what", "who", "when", "where", "which", "how", "why", "did", "does", "is",
                 "was", "the", "of", "in"}
# Capitalised at the start of a question or by convention: not names.
NOT_NAMES = {"what", "who", "whom", "whose", "when", "where", "which", "how", "why", "in",
             "on", "at", "during", "after", "before", "i", "the", "a", "an", "by", "for",
             "according", "to", "with", "from", "is", "was", "are", "were", "do", "does", "did"}

Pair = tuple[str, str, str]  # question, answer, kind


def _names(text: str) -> set[str]:
    """Capitalised words and numbers, lower-cased: the facts a pair can get wrong."""
    words = re.findall(r"\d+(?:[.,:]\d+)*|[^\W\d_][\w'’-]*", text)
    return {normalise(re.sub(r"['’]s$", "", w)) for w in words
            if w[0].isdigit() or w[0].isupper()} - NOT_NAMES


def _page_names(text: str) -> set[str]:
    headings = " ".join(line for line in text.splitlines() if line.startswith("#"))
    return _names(headings)


def _full_names(sentence: str, text: str) -> set[str]:
    """The rest of a name the sentence gives in part, as the page writes it whole ("Daniel"
    of an e-mail from "Daniel Moreau")."""
    own = _names(sentence)
    runs = re.findall(r"[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*)+", text)
    return {w for run in runs if _names(run) & own for w in _names(run)}


def false_reason(question: str, answer: str, page: str, text: str) -> str | None:
    """Why a pair is false about its page, or None when the page states it."""
    sentences = plain_sentences(text, min_words=1)

    def referents(sentence: str) -> str:
        return " ".join(w for prefix, who in REFERENTS.get(page, {}).items()
                        if sentence.startswith(prefix) for w in who)

    # A sentence states an answer in its words, or in whom its pronoun stands for ("She won
    # the prize in 1911" states "Marie Curie" as the winner).
    stating = [s for s in sentences if stated_in(answer, f"{s} {referents(s)}")]
    if not stating:
        return "no sentence of the page states the answer"
    words = set(normalise(f"{question} {answer}").split())
    best = max(stating,
               key=lambda s: len(words & set(normalise(f"{s} {referents(s)}").split())))
    allowed = _names(best) | _page_names(text) | _names(referents(best)) | _full_names(best, text)
    extra = {n for n in _names(question) | _names(answer)
             if n not in allowed and not any(n in a.split() for a in allowed)}
    if extra:
        return f"names {sorted(extra)}, which its sentence ({best!r}) does not"
    return None


@pytest.fixture(scope="module")
def taught(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, list[Pair]]]:
    """Each page's reflections, written by the default synthesis on the real model."""
    import os

    from memo_mlx.catalog import Catalog
    from memo_mlx.models.runtime import ModelRuntime
    from memo_mlx.reflections.synthesis import synthesize
    from memo_mlx.reflections.writer import Writer
    from memo_mlx.sources.chunking import Chunker
    from memo_mlx.sources.ingest import add_paths, scan_memory

    home = tmp_path_factory.mktemp("realdocs-home")
    folder = tmp_path_factory.mktemp("realdocs") / "docs"
    shutil.copytree(REALDOCS, folder, ignore=shutil.ignore_patterns("*.json"))
    previous = os.environ.get("MEMO_HOME")
    os.environ["MEMO_HOME"] = str(home)
    try:
        with ModelRuntime(None) as runtime, Catalog() as catalog:
            memory = add_paths(catalog, [folder], "real")
            scan_memory(catalog, memory, Chunker())
            writer = Writer.for_runtime(runtime)
            assert writer is not None, "the bundled model has a reflection writer"
            synthesize(catalog, memory, writer=writer)
            reflections = catalog.reflections.of(memory.id)
            sources = catalog.reflections.sources([r.id for r in reflections])
            out: dict[str, list[Pair]] = {}
            for r in reflections:
                for path in sources[r.id]:
                    out.setdefault(Path(path).name, []).append((r.question, r.answer, r.kind))
            yield out
    finally:
        if previous is None:
            os.environ.pop("MEMO_HOME", None)
        else:
            os.environ["MEMO_HOME"] = previous


def _pages() -> list[str]:
    return sorted(p.name for p in REALDOCS.iterdir() if p.suffix != ".json")


def test_every_reflection_is_stated_by_its_page(taught: dict[str, list[Pair]]):
    false = []
    for page, pairs in taught.items():
        text = (REALDOCS / page).read_text(encoding="utf-8")
        for question, answer, kind in pairs:
            if kind == "text":  # the page's own text, a few sentences at a time
                prose = "\n".join(ln for ln in text.splitlines() if not ln.startswith("#"))
                assert normalise(answer) in normalise(prose), (page, answer)
                continue
            why = false_reason(question, answer, page, text)
            if why:
                false.append(f"{page}: {question} -> {answer}: {why}")
    assert not false, "\n".join(false)


def test_she_is_never_one_of_the_men(taught: dict[str, list[Pair]]):
    for question, answer, kind in taught["marie-curie.md"]:
        if kind == "text":  # the page's own words
            continue
        pair = f"{question} {answer}"
        if "Becquerel" in pair or "Pierre" in pair:  # she is never one of the men
            assert not re.search(r"1911|Chemistry|first woman|died|polonium", pair), pair


def test_readme_lines_with_inline_code_are_taught(taught: dict[str, list[Pair]]):
    # They were lost twice: to a fenced block, then to the chunk's heading path ("tidyclip >
    # Usage"), which made the page look like source code.
    readme = " ".join(a for _, a, _ in taught["README.md"])
    for line in ("Install it from PyPI with `pip install tidyclip`.",
                 "The `max_line_length` setting defaults to 88 characters."):
        assert line in readme


def test_fact_stating_sentences_are_covered(taught: dict[str, list[Pair]]):
    total = hit = 0
    missed = []
    for page in _pages():
        if page in NOT_ENGLISH:
            continue
        sentences = plain_sentences((REALDOCS / page).read_text(encoding="utf-8"))
        pairs = [(q, a) for q, a, k in taught.get(page, []) if k != "text"]
        got = covered(sentences, pairs)
        total, hit = total + len(sentences), hit + len(got)
        missed += [f"{page}: {s}" for i, s in enumerate(sentences) if i not in got]
    # The aim is 0.9 (issue #15); the writer reached 28 of 45 on 2026-12-06 (it writes no
    # question the checks keep for most instructions: a recipe's steps, a README's commands;
    # those reach the memory as text passages): this floor keeps what is reached.
    print(f"{hit}/{total} fact-stating sentences covered; missed:\n" + "\n".join(missed))
    assert hit >= 0.55 * total, f"{hit}/{total} covered; missed:\n" + "\n".join(missed)


def test_no_english_templates_over_other_languages(taught: dict[str, list[Pair]]):
    for page in NOT_ENGLISH:
        pairs = taught[page]
        assert pairs, f"{page} is taught (its own text at least)"
        for question, answer, kind in pairs:
            words = normalise(question).split()
            english = sum(w in ENGLISH_WORDS for w in words)
            assert kind == "text" or english < 2, f"{page}: {question} -> {answer}"
