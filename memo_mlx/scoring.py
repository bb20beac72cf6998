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


def _contains(haystack: str, needle: str) -> bool:
    """Whole-word containment of normalised texts; an empty needle is never found."""
    return bool(needle) and f" {needle} " in f" {haystack} "


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
