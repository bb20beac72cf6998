"""Documents and chunks written straight into a catalog, for the catalog's own tests."""

from __future__ import annotations

from memo_mlx.catalog import Catalog, NewChunk


def chunk(text: str) -> NewChunk:
    return NewChunk(heading="", text=text, token_count=len(text.split()), hash=f"h-{text}")


def save(catalog: Catalog, memory_id: int, folder_id: int, path: str, texts: list[str]) -> int:
    catalog.sources.save_document(
        memory_id, folder_id, path, size=1, mtime_ns=1, hash=f"doc-{texts}", format="text",
        encoding="utf-8", title=None, chunker="c1", chunks=[chunk(t) for t in texts],
    )
    doc = catalog.sources.document_by_path(memory_id, path)
    assert doc is not None
    return doc.id
