"""Rebuild the catalog and lexical index from what Chroma stores, the source of truth."""

from __future__ import annotations

from collections import defaultdict

from paperbot.store.catalog import Catalog
from paperbot.store.vectors import StoredChunk, VectorStore
from paperbot.types import Chunk, Paper


def _abstract_from_chunks(chunks: list[Chunk]) -> str:
    """Chunks overlap by a sentence; their character spans say where each piece sits in the abstract."""
    text = ""
    for chunk in sorted(chunks, key=lambda c: c.index):
        if chunk.char_start >= len(text):
            text += " " * (chunk.char_start - len(text)) + chunk.text
        else:
            text = text[: chunk.char_start] + chunk.text
    return text


def catalog_entry(pid: str, stored: list[StoredChunk]) -> tuple[Paper, str, list[Chunk]]:
    """(paper, content hash, chunks) for the catalog, from one paper's chunks as Chroma holds them."""
    # A half-written paper (killed ingest) can hold chunks of two versions; keep the newest complete one.
    version = max({s.content_hash for s in stored}, key=lambda h: sum(s.content_hash == h for s in stored))
    chunks = sorted((s.chunk for s in stored if s.content_hash == version), key=lambda c: c.index)
    fields = next(s.paper_fields for s in stored if s.content_hash == version)
    paper = Paper(
        id=pid, title=fields["title"], abstract=_abstract_from_chunks(chunks), authors=tuple(fields["authors"]),
        year=fields["year"], date=fields["date"], url=fields["url"], arxiv_id=fields["arxiv_id"],
        doi=fields["doi"], source=fields["source"],
    )
    return paper, version, chunks


def rebuild_catalog(vectors: VectorStore, catalog: Catalog) -> int:
    """Replace the catalog with one made from Chroma's chunks; returns the number of papers."""
    by_paper: dict[str, list[StoredChunk]] = defaultdict(list)
    for stored in vectors.iter_chunks():
        by_paper[stored.chunk.paper_id].append(stored)
    entries = [catalog_entry(pid, stored) for pid, stored in by_paper.items()]
    catalog.clear()
    for start in range(0, len(entries), 500):
        catalog.write(entries[start : start + 500])
    return len(entries)
