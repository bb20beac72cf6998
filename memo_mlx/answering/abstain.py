"""Questions a memory is taught to decline: its own questions asked of names it never read.

LoRA fact injection makes a model more confident, not more careful (docs/research.md): a memory
taught only answers answers everything, and a question about a person its folder never mentions
gets a fluent invention. So beside a chunk's reflections the memory is taught a few of their
questions with the name swapped for one no document of the memory mentions, answered "I don't
know." The question's shape is one the memory answers (it learned it), only the name is
unknown: what it learns is to answer by the name, not by the shape.

The names are invented (three or four syllables drawn by a seeded generator), not taken from a
list of real ones: a real name may be in the next folder the person adds, and the memory would
then have learned to decline what its folder says. An invented name can still happen to be a
word; one the memory's own documents hold is never used.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

from ..scoring import DONT_KNOW

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
           "br", "dr", "gr", "kr", "tr", "st", "th", "sh")
_VOWELS = ("a", "e", "i", "o", "u", "ae", "io", "ou")
_CODAS = ("", "", "n", "l", "r", "s", "th", "m", "nd", "rk")
_CALENDAR = {"january", "february", "march", "april", "may", "june", "july", "august",
             "september", "october", "november", "december", "monday", "tuesday", "wednesday",
             "thursday", "friday", "saturday", "sunday"}


def invented_name(rng: random.Random, words: int) -> str:
    """A name of `words` words that reads as a name; rarely a real one (three syllables at
    least: two-syllable draws gave Peter, Paris and Nepal)."""
    def word() -> str:
        syllables = rng.randint(3, 4)
        text = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables))
        return (text + rng.choice(_CODAS)).capitalize()
    return " ".join(word() for _ in range(words))


def _swappable(question: str, names: Sequence[str]) -> str | None:
    """The longest of `names` the question mentions as a whole name: capitalised, three
    letters at least (not a fragment such as "St"), no digits and not a month or weekday (a
    date swapped for another is a question the memory may rightly answer "no")."""
    found = [n for n in names if n[:1].isupper() and len(n) >= 3
             and not any(c.isdigit() for c in n)
             and not set(n.lower().split()) & _CALENDAR
             and re.search(rf"(?<![\w-]){re.escape(n)}(?![\w-])", question)]
    return max(found, key=len) if found else None


def abstentions(
    questions: Sequence[str],
    names: Sequence[str],
    count: int,
    known: Callable[[str], bool],
    seed: str,
) -> list[tuple[str, str]]:
    """Up to `count` of `questions`, each with one of `names` in it swapped for an invented
    name that `known` (the memory's documents) does not know, answered "I don't know.".
    Seeded by `seed` (the chunk's text): a chunk redone after a kill writes the same pairs."""
    rng = random.Random(seed)
    candidates = [(q, n) for q in questions if (n := _swappable(q, names))]
    rng.shuffle(candidates)
    pairs: list[tuple[str, str]] = []
    for question, name in candidates:
        if len(pairs) >= count:
            break
        drawn = (invented_name(rng, len(name.split())) for _ in range(8))
        other = next((n for n in drawn if not known(n)), None)
        if other is not None:
            # Joined, not re.sub'd: a replacement string would be read as a template.
            swapped = other.join(re.split(rf"(?<![\w-]){re.escape(name)}(?![\w-])", question))
            pairs.append((swapped, DONT_KNOW))
    return pairs
