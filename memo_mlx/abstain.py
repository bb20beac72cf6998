"""Questions a memory is taught to decline: its own questions asked of names it never read.

LoRA fact injection makes a model more confident, not more careful (PLATFORM.md): a memory
taught only answers answers everything, and a question about a person its folder never mentions
gets a fluent invention. So beside a chunk's reflections the memory is taught a few of their
questions with the name swapped for one no document of the memory mentions, answered "I don't
know." The question's shape is one the memory answers (it learned it), only the name is
unknown: what it learns is to answer by the name, not by the shape.

The names are invented (syllables drawn by a seeded generator), not taken from a list of real
ones: a real name may be in the next folder the person adds, and the memory would then have
learned to decline what its folder says.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

UNKNOWN = "I don't know."

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
           "br", "dr", "gr", "kr", "tr", "st", "th", "sh")
_VOWELS = ("a", "e", "i", "o", "u", "ae", "io", "ou")
_CODAS = ("", "", "n", "l", "r", "s", "th", "m", "nd", "rk")


def invented_name(rng: random.Random, words: int) -> str:
    """A name of `words` words that reads as a name and is in no dictionary."""
    def word() -> str:
        syllables = rng.randint(2, 3)
        text = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables))
        return (text + rng.choice(_CODAS)).capitalize()
    return " ".join(word() for _ in range(words))


def _swappable(question: str, names: Sequence[str]) -> str | None:
    """The longest of `names` the question mentions as a whole name (capitalised, no digits:
    a date swapped for another is a question the memory may rightly answer "no")."""
    found = [n for n in names if n[:1].isupper() and not any(c.isdigit() for c in n)
             and re.search(rf"(?<!\w){re.escape(n)}(?!\w)", question)]
    return max(found, key=len) if found else None


def abstentions(
    questions: Sequence[str],
    names: Sequence[str],
    count: int,
    known: Callable[[str], bool],
    seed: str,
) -> list[tuple[str, str]]:
    """Up to `count` of `questions`, each with one of `names` in it swapped for an invented
    name that `known` (the memory's documents) does not know, answered `UNKNOWN`. Seeded by
    `seed` (the chunk's text): a chunk redone after a kill writes the same pairs."""
    rng = random.Random(seed)
    candidates = [(q, n) for q in questions if (n := _swappable(q, names))]
    rng.shuffle(candidates)
    pairs: list[tuple[str, str]] = []
    for question, name in candidates[:count]:
        for _ in range(8):
            other = invented_name(rng, len(name.split()))
            if not known(other):
                break
        else:
            continue
        swapped = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", other, question)
        pairs.append((swapped, UNKNOWN))
    return pairs
