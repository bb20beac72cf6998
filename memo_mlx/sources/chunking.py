"""Cutting extracted text into chunks measured in the active model's tokens.

A chunk is what one round of reflection synthesis reads, so it must stand on its own: it
begins with the heading path of the section it comes from ("Guide > Install"), keeps
paragraphs whole where they fit, and repeats the last sentences of the previous chunk of the same
section (the overlap) so a fact cut at a boundary is still seen whole once. Small sections are
packed together, each under its own heading line, instead of becoming tiny chunks.

Splitting goes only as fine as it must: paragraphs, then lines, then sentences, then token
boundaries (for a minified file with no breaks at all).

The tokenizer comes from the base model's source without its weights; the `tokenizers` form of
it is cached in MEMO_HOME so a scan does not parse a 100 MB GGUF file for its metadata (~2 s).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from ..catalog import NewChunk
from ..models.base import ModelError, ModelSource, load_tokenizer, resolve_source
from ..settings import from_section, memo_home, write_atomically
from .extract import Extracted
from .sentences import sentences

# Bump when the cutting changes: documents are then cut again (chunks whose text is the same
# keep what they taught). 2: sentences end where `sentences` says (not after "Dr." or "J.").
CHUNKER_VERSION = 2
HEADING_JOINER = " > "


@dataclass(frozen=True)
class ChunkSettings:
    max_tokens: int = 256
    overlap_tokens: int = 32

    @classmethod
    def from_defaults(cls) -> ChunkSettings:
        return from_section(cls, "chunking")


class TokenCounter:
    """Counts and cuts text in a model's tokens (a `tokenizers.Tokenizer`)."""

    def __init__(self, tokenizer: Tokenizer):
        self._tokenizer = tokenizer

    def counts(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    def to_str(self) -> str:
        return str(self._tokenizer.to_str())

    def count(self, text: str) -> int:
        return self.counts([text])[0]

    def pieces(self, text: str, max_tokens: int) -> list[str]:
        """`text` cut at token boundaries into pieces of at most `max_tokens` tokens."""
        offsets = self._tokenizer.encode(text, add_special_tokens=False).offsets
        cuts = [offsets[i][0] for i in range(max_tokens, len(offsets), max_tokens)]
        bounds = [0, *cuts, len(text)]
        return [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False) if text[a:b].strip()]


def load_token_counter(source: ModelSource | None = None) -> TokenCounter:
    """The token counter of `source` (default: the active base model), cached on disk."""
    source = source or resolve_source()
    cache = memo_home() / "cache" / "tokenizers" / f"{_source_key(source)}.json"
    if cache.is_file():
        try:
            return TokenCounter(Tokenizer.from_file(str(cache)))
        except Exception:  # a damaged cache file is rebuilt, never trusted
            cache.unlink(missing_ok=True)
    counter = counter_of(load_tokenizer(source), source.location)
    cache.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(cache, counter.to_str())  # a concurrent reader sees old or whole new
    return counter


def counter_of(tokenizer: Any, where: str) -> TokenCounter:
    """The token counter of a loaded (mlx-lm) tokenizer: a process that has the model loaded
    counts with it rather than building a second one (seconds, holding Python's lock)."""
    backend = getattr(tokenizer._tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ModelError(f"{where}: its tokenizer has no fast form to count tokens with")
    return TokenCounter(backend)


def _source_key(source: ModelSource) -> str:
    """Identifies the tokenizer: the file's or folder's identity, or the hub id."""
    parts = [source.kind, source.location]
    path = Path(source.location)
    if path.exists():
        stat = path.stat()
        parts += [str(stat.st_size), str(stat.st_mtime_ns)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]


@dataclass
class _Unit:
    text: str
    tokens: int
    joiner: str  # what goes before it when it follows another unit of the same section


class Chunker:
    """Cuts `Extracted` documents into chunks; `identity` names the tokenizer and settings,
    so a document cut by another chunker is cut again."""

    def __init__(
        self,
        source: ModelSource | None = None,
        settings: ChunkSettings | None = None,
        counter: Callable[[], TokenCounter] | None = None,
    ):
        self.source = source or resolve_source()
        self.settings = settings or ChunkSettings.from_defaults()
        if self.settings.max_tokens < 32 or not 0 <= self.settings.overlap_tokens:
            raise ValueError("chunks need max_tokens >= 32 and overlap_tokens >= 0")
        self._make_counter = counter or (lambda: load_token_counter(self.source))
        s = self.settings
        self.identity = (
            f"v{CHUNKER_VERSION}:{_source_key(self.source)}:{s.max_tokens}:{s.overlap_tokens}"
        )

    @cached_property
    def counter(self) -> TokenCounter:
        # Loaded on first use: a scan in which nothing changed never needs it.
        return self._make_counter()

    def chunk(self, doc: Extracted) -> list[NewChunk]:
        limit = self.settings.max_tokens
        by_lines = doc.format in ("code", "csv", "json")
        built: list[list[tuple[str, str]]] = []  # per chunk: (heading, text) of each block
        blocks: list[tuple[str, str]] = []  # the chunk being filled: a block per section in it
        used = 0  # its tokens so far

        def flush() -> None:
            nonlocal blocks, used
            if blocks:
                built.append(blocks)
            blocks, used = [], 0

        for section in doc.sections:
            heading = HEADING_JOINER.join(section.heading)
            head_line, head_tokens = self._heading(heading, limit)
            units = self._units(section.text, limit - head_tokens, by_lines)
            if not units:
                continue
            if used and used + head_tokens + units[0].tokens > limit:
                flush()
            current: list[_Unit] = []
            carried = 0  # how many units of `current` repeat the previous chunk's tail
            for unit in units:
                if len(current) > carried and used + head_tokens + unit.tokens > limit:
                    blocks.append((heading, _block(head_line, current)))
                    current = self._overlap(current)
                    carried = len(current)
                    flush()
                    used = sum(u.tokens for u in current)
                if len(current) == carried and used + head_tokens + unit.tokens > limit:
                    current, carried, used = [], 0, 0  # the tail does not fit beside this unit
                current.append(unit)
                used += unit.tokens
            blocks.append((heading, _block(head_line, current)))
            used += head_tokens
        flush()

        texts = ["\n\n".join(text for _, text in chunk) for chunk in built]
        counts = self.counter.counts(texts)
        return [
            NewChunk(heading=chunk[0][0], text=t, token_count=n, hash=_hash(t))
            for chunk, t, n in zip(built, texts, counts, strict=True)
        ]

    def _heading(self, heading: str, limit: int) -> tuple[str, int]:
        if not heading:
            return "", 0
        tokens = self.counter.count(heading) + 1
        if tokens > limit // 4:  # a runaway "heading" must not crowd out the text under it
            heading = self.counter.pieces(heading, limit // 4 - 1)[0].rstrip() + "…"
            tokens = limit // 4
        return heading, tokens

    def _units(self, text: str, budget: int, by_lines: bool) -> list[_Unit]:
        """The section's text as units that each fit `budget`, as coarse as possible."""
        paragraphs = [p for p in text.split("\n\n") if p.strip()]
        units: list[_Unit] = []
        for p, n in zip(paragraphs, self.counter.counts(paragraphs), strict=True):
            joiner = "\n\n"
            if n <= budget:
                units.append(_Unit(p, n, joiner))
                continue
            for piece, m, inner in self._split(p, budget, by_lines):
                units.append(_Unit(piece, m, joiner))
                joiner = inner
        return units

    def _split(self, text: str, budget: int, by_lines: bool) -> list[tuple[str, int, str]]:
        """(piece, tokens, joiner to the next piece) for a paragraph over budget."""
        lines = [ln for ln in text.split("\n") if ln.strip()]
        if len(lines) > 1:
            parts, joiner = lines, "\n"
        elif not by_lines and len(said := sentences(text)) > 1:
            parts, joiner = said, " "
        else:
            pieces = self.counter.pieces(text, budget)
            return [(p, n, "") for p, n in zip(pieces, self.counter.counts(pieces), strict=True)]
        out: list[tuple[str, int, str]] = []
        for part, n in zip(parts, self.counter.counts(parts), strict=True):
            if n <= budget:
                out.append((part, n, joiner))
            else:
                out.extend(self._split(part, budget, by_lines))
        return out

    def _overlap(self, units: list[_Unit]) -> list[_Unit]:
        """The tail of a chunk, at most `overlap` tokens of whole sentences, to begin the next."""
        overlap = self.settings.overlap_tokens
        if overlap == 0 or not units:
            return []
        last = sentences(units[-1].text)
        tail: list[str] = []
        total = 0
        for sentence, n in zip(
            reversed(last), reversed(self.counter.counts(last)), strict=True
        ):
            if total + n > overlap:
                break
            tail.insert(0, sentence)
            total += n
        return [_Unit(" ".join(tail), total, "\n\n")] if tail else []


def _block(head_line: str, units: list[_Unit]) -> str:
    text = "".join((u.joiner if i else "") + u.text for i, u in enumerate(units))
    return f"{head_line}\n{text}" if head_line else text


def _hash(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
