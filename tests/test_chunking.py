"""Chunks measured in the model's own tokens, with overlap and their headings."""

from __future__ import annotations

from pathlib import Path

import pytest

from memo_mlx.models.base import resolve_source
from memo_mlx.sources.chunking import Chunker, ChunkSettings, load_token_counter
from memo_mlx.sources.extract import Extracted, Section


def doc(*sections: tuple[tuple[str, ...], str], fmt: str = "markdown") -> Extracted:
    return Extracted(format=fmt, sections=[Section(h, t) for h, t in sections], title=None,
                     encoding="utf-8")


@pytest.fixture
def chunker(tiny_q8) -> Chunker:
    # The tiny model's tokenizer is nearly one token a character: a sentence is ~25 tokens.
    settings = ChunkSettings(max_tokens=96, overlap_tokens=32)
    return Chunker(resolve_source(str(tiny_q8.path)), settings)


def sentences(n: int, word: str = "fact") -> str:
    return " ".join(f"The {word} number {i} is here." for i in range(n))


def test_every_chunk_fits_and_nothing_is_lost(chunker: Chunker):
    text = "\n\n".join(sentences(4, w) for w in ("alpha", "beta", "gamma", "delta", "omega"))
    chunks = chunker.chunk(doc(((), text)))
    assert len(chunks) > 3
    counter = chunker.counter
    limit = chunker.settings.max_tokens + chunker.settings.overlap_tokens
    for c in chunks:
        assert c.token_count == counter.count(c.text)  # the model's own count, not a guess
        assert c.token_count <= limit
    joined = " ".join(c.text for c in chunks)
    for w in ("alpha", "beta", "gamma", "delta", "omega"):
        for i in range(4):
            assert f"The {w} number {i} is here." in joined


def test_overlap_repeats_the_end_of_the_previous_chunk(chunker: Chunker):
    chunks = chunker.chunk(doc(((), sentences(30))))
    assert len(chunks) >= 3
    for prev, nxt in zip(chunks, chunks[1:], strict=False):
        last = prev.text.rsplit("The fact", 1)[1]
        assert nxt.text.startswith("The fact" + last)  # the last sentence begins the next


def test_a_chunk_never_begins_after_an_abbreviation_or_an_initial(chunker: Chunker):
    """The cut between chunks is the sentence end that `derive` reads too: "Dr." and "J." end
    no sentence, so no chunk begins with "Quill built…" cut from its name."""
    text = " ".join(f"Dr. J. Quill built bridge {i} in 19{i:02}." for i in range(30))
    chunks = chunker.chunk(doc(((), text)))
    assert len(chunks) >= 3
    assert all(c.text.startswith("Dr. J. Quill built bridge") for c in chunks)


def test_headings_give_context_and_small_sections_are_packed(chunker: Chunker):
    chunks = chunker.chunk(doc(
        (("Guide",), "Short intro."),
        (("Guide", "Install"), "Run the installer."),
        (("Guide", "Usage"), sentences(20)),
    ))
    assert chunks[0].heading == "Guide"
    assert chunks[0].text.startswith("Guide\nShort intro.\n\nGuide > Install\nRun the installer.")
    # the long section continues in chunks that each restate where they are
    usage = [c for c in chunks if "number 19" in c.text or "number 10" in c.text]
    assert usage and all(c.text.startswith("Guide > Usage\n") for c in usage)
    assert all(c.heading == "Guide > Usage" for c in chunks[1:])


def test_unbroken_text_is_cut_at_token_boundaries(chunker: Chunker):
    blob = "x" * 3000  # a minified file: no paragraph, line or sentence to cut at
    chunks = chunker.chunk(doc(((), blob), fmt="code"))
    assert "".join(c.text for c in chunks) == blob
    assert all(c.token_count <= chunker.settings.max_tokens for c in chunks)


def test_lines_are_kept_whole_in_code(chunker: Chunker):
    code = "\n".join(f"value_{i} = compute({i})" for i in range(60))
    chunks = chunker.chunk(doc(((), code), fmt="code"))
    assert len(chunks) > 1
    lines = [ln for c in chunks for ln in c.text.split("\n")]
    assert set(lines) == set(code.split("\n"))


def test_same_text_same_hash_and_identity_names_the_settings(tiny_q8):
    source = resolve_source(str(tiny_q8.path))
    a = Chunker(source, ChunkSettings(64, 16))
    b = Chunker(source, ChunkSettings(128, 16))
    d = doc(((), sentences(5)))
    assert [c.hash for c in a.chunk(d)] == [c.hash for c in a.chunk(d)]
    assert a.identity != b.identity
    with pytest.raises(ValueError):
        Chunker(source, ChunkSettings(8, 0))


def test_tokenizer_is_cached_and_a_damaged_cache_is_rebuilt(tiny_q8, tmp_path: Path):
    source = resolve_source(str(tiny_q8.path))
    first = load_token_counter(source)
    cached = list((tmp_path / "memo-home" / "cache" / "tokenizers").glob("*.json"))
    assert len(cached) == 1
    assert load_token_counter(source).count("the hat") == first.count("the hat")
    cached[0].write_text("{ damaged")
    assert load_token_counter(source).count("the hat") == first.count("the hat")


def test_default_model_tokenizer_without_its_weights():
    counter = load_token_counter()  # the bundled GGUF's metadata, no tensor read
    assert counter.count("Hello world. This is a test.") == 8
