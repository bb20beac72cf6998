"""Where a text's sentences end: the one splitter for cutting chunks (`chunking`) and for the
units reflections are derived from (`derive`), so a chunk's overlap never begins mid-sentence
where a reflection's source sentence would not.

A sentence ends at ., !, ? or … (closing quotes and brackets stay with it) before whitespace
and the start of the next: a capital, a digit, an opening quote or bracket, code. So an
abbreviation (Dr., e.g., U.S.), an initial (J. R. Osric) or a decimal does not end one.
(`scoring` keeps a plainer splitter of its own on purpose: the judge must not agree with the
writer by construction.)
"""

from __future__ import annotations

import re

ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof st jr sr mt ft gen col capt lt sgt rev hon gov pres sen rep ave blvd rd "
    "no nos vol vols pp p ch fig figs approx est inc ltd co corp dept univ vs al e.g i.e cf "
    "jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
TITLES = frozenset("Dr Mr Mrs Ms Prof Sir Dame Lady Lord Rev Capt Col Gen Sgt Lt Mx".split())

_BOUNDARY = re.compile(r"""([.!?…]+)(["'”’)\]]*)\s+(?=`|["'“‘(\[]?[A-Z0-9]|[a-z]+[._][a-z])""")


def sentences(text: str) -> list[str]:
    """The sentences of `text` as written (whitespace inside each kept), in order."""
    out, begin = [], 0
    for m in _BOUNDARY.finditer(text):
        if m.group(1) == "." and _no_break_before(text[begin:m.start()]):
            continue
        out.append(text[begin:m.end(2)].strip())
        begin = m.end()
    out.append(text[begin:].strip())
    return [s for s in out if s]


def _no_break_before(head: str) -> bool:
    """Whether the "." after `head` belongs to an abbreviation or an initial."""
    m = re.search(r"(\S+)$", head)
    if not m:
        return False
    word = m.group(1).lstrip("(\"'“‘")
    if word.lower() in ABBREVIATIONS or word in TITLES:
        return True
    if re.fullmatch(r"[A-Z]", word):  # an initial: J. R. Osric
        return True
    return bool(re.fullmatch(r"(?:[A-Za-z]\.)+[A-Za-z]", word))  # U.S, e.g, a.m
