"""Judging free-text answers against short gold spans, for the knowledge benchmark and probes.

A small model answers in a sentence ("Mara Quill was born in Tessaly."), so a reply is correct
when it contains a gold span, compared after normalising case, accents, punctuation and
articles, and only on whole words ("1941" is not in "19410"). A reply that says it does not
know is never correct for an answerable question, even if it names the answer while hedging,
and is the only correct reply to an unanswerable one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

_ARTICLES = frozenset(("a", "an", "the"))
# Written as a reader would; normalised once below, the same way replies are.
_UNKNOWN = (
    "i don't know", "i do not know", "don't know", "do not know", "dont know", "not sure",
    "unsure", "no idea", "no information", "no info", "unknown", "not known",
    "cannot answer", "can't answer", "can not answer", "unable to answer", "unable to say",
    "cannot say", "can't say", "cannot tell", "can't tell", "not aware", "no record",
    "no records", "not mentioned", "not stated", "not specified", "not provided",
    "does not say", "doesn't say", "no knowledge", "not able to answer", "no answer",
    "cannot find", "can't find", "couldn't find", "could not find", "no data",
    "don't have information", "don't have any information", "do not have information",
    "do not have any information", "not certain",
)


def normalise(text: str) -> str:
    """Lowercase, no accents or punctuation, no articles, single spaces; "1,200" -> "1200"."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # a thousands separator, not a list comma
    # Apostrophes split ("quill's" -> "quill s") so a name stays a whole word.
    words = re.sub(r"[\W_]+", " ", text).split()
    return " ".join(w for w in words if w not in _ARTICLES)


_UNKNOWN_NORMALISED = tuple(dict.fromkeys(normalise(p) for p in _UNKNOWN))


def question_key(question: str) -> str:
    """What makes two questions the same one: their words, lower-cased."""
    return " ".join(re.findall(r"\w+", question.lower()))


def _contains(haystack: str, needle: str) -> bool:
    """Whole-word containment of normalised texts; an empty needle is never found."""
    return bool(needle) and f" {needle} " in f" {haystack} "


# What a memory and the passage reader are taught to say when they do not know.
DONT_KNOW = "I don't know."


def starts_declining(text: str) -> bool:
    """Whether a reply is, or may still become, the taught "I don't know." (a prefix of it,
    or it): a decline and nothing after it. Narrower than `says_unknown`, which also finds a
    decline inside an answer ("the date is unknown, but...")."""
    return normalise(DONT_KNOW).startswith(normalise(text))


def says_unknown(text: str) -> bool:
    """Whether a reply declines: "I don't know", "I'm not sure", "no information", ..."""
    norm = normalise(text)
    return any(_contains(norm, phrase) for phrase in _UNKNOWN_NORMALISED)


def is_correct(prediction: str, answers: Sequence[str]) -> bool:
    """Unanswerable (no answers): correct iff the reply declines. Otherwise correct iff some
    gold span is in the reply on word boundaries and the reply does not decline."""
    if not answers:
        return says_unknown(prediction)
    if says_unknown(prediction):
        return False
    norm = normalise(prediction)
    return any(_contains(norm, normalise(a)) for a in answers)


_WORD = re.compile(r"\d+(?:[,.]\d+)*|[^\W\d_]+")


def key_terms(answer: str) -> set[str]:
    """The facts an answer sentence carries: its numbers, and its capitalised words that do
    not start a sentence (those are capitalised anyway)."""
    terms: set[str] = set()
    for sentence in re.split(r"(?<=[.!?])\s+", answer.strip()):
        for i, word in enumerate(_WORD.findall(sentence)):
            if word[0].isdigit() or (i > 0 and word[0].isupper()):
                terms.add(word)
    return terms


def recalls(prediction: str, answer: str) -> bool:
    """Whether a reply to a reflection's question carries the reflection's facts: every key
    term of the answer, or, for an answer with none, the whole normalised answer."""
    norm = normalise(prediction)
    terms = [normalise(t) for t in key_terms(answer)]
    terms = [t for t in terms if t]
    if terms:
        return all(_contains(norm, t) for t in terms)
    return _contains(norm, normalise(answer))


def f1(prediction: str, answers: Sequence[str]) -> float:
    """SQuAD's token F1, best over the gold spans (normalised words, counted with repeats).
    Unanswerable: 1.0 iff the reply declines."""
    if not answers:
        return float(says_unknown(prediction))
    if says_unknown(prediction):
        return 0.0
    got = normalise(prediction).split()
    best = 0.0
    for answer in answers:
        gold = normalise(answer).split()
        common = sum(min(got.count(w), gold.count(w)) for w in set(gold))
        if common:
            p, r = common / len(got), common / len(gold)
            best = max(best, 2 * p * r / (p + r))
    return best


# Coverage is counted here, apart from the code that writes reflections (`derive`, `writer`),
# with a plain splitter and a plain rule, so that it cannot agree with them by construction.
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")
_LITTLE = frozenset("a an the of in on at to for by with and or is are was were be been it its "
                    "as from that this which who what when where how did does do".split())


def plain_sentences(text: str, min_words: int = 5) -> list[str]:
    """The sentences of a text that can state a fact: lines and sentences of at least
    `min_words` words, headings and code fences left out."""
    out: list[str] = []
    for line in text.splitlines():
        line = line.strip().lstrip("-*•>").strip()
        if not line or line.startswith(("#", "```")):
            continue
        out.extend(s for s in _SENTENCE_END.split(line) if len(s.split()) >= min_words)
    return out


def content_words(text: str) -> set[str]:
    """A text's normalised words but the little ones (articles, prepositions, question
    words)."""
    return {w for w in normalise(text).split() if w not in _LITTLE}


def stated_in(answer: str, sentence: str) -> bool:
    """Whether a sentence states an answer: the whole answer in it, or most of its words."""
    norm = normalise(sentence)
    if _contains(norm, normalise(answer)):
        return True
    words = content_words(answer)
    return bool(words) and len(words & set(norm.split())) >= 0.6 * len(words)


def covered(sentences: Sequence[str], pairs: Sequence[tuple[str, str]]) -> set[int]:
    """Which sentences (by index) some question-answer pair asks about: each pair counts for
    the sentence that states its answer and shares most words with the pair."""
    hit: set[int] = set()
    for question, answer in pairs:
        words = content_words(f"{question} {answer}")
        stating = [i for i, s in enumerate(sentences) if stated_in(answer, s)]
        if stating:
            hit.add(max(stating, key=lambda i: len(words & content_words(sentences[i]))))
    return hit
