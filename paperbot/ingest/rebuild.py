"""Rebuild the catalog and lexical index from what Chroma stores, the source of truth."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from paperbot.store.catalog import Catalog
from paperbot.store.changes import ChangeLog
from paperbot.store.vectors import StoredChunk, VectorStore
from paperbot.types import Chunk, Paper

LOG_MARKER = "shared_log"  # catalog meta: "<log epoch>:<generation>", the shared change log applied so far


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


def rebuild_catalog(vectors: VectorStore, catalog: Catalog, log: ChangeLog | None = None) -> int:
    """Replace the catalog with one made from Chroma's chunks; returns the number of papers. With the shared
    change log, the catalog then records the log generation it reflects (read first: batches logged while
    Chroma is read are applied again by the next catch-up, harmlessly)."""
    head = log.head() if log is not None else None
    by_paper: dict[str, list[StoredChunk]] = defaultdict(list)
    for stored in vectors.iter_chunks():
        by_paper[stored.chunk.paper_id].append(stored)
    entries = [catalog_entry(pid, stored) for pid, stored in by_paper.items()]
    catalog.clear()
    for start in range(0, len(entries), 500):
        catalog.write(entries[start : start + 500])
    if log is not None:
        catalog.set_meta(LOG_MARKER, f"{log.epoch}:{head}")
    return len(entries)


@dataclass(frozen=True)
class CatchUp:
    """What one catch-up did: the log generation now applied, papers re-read from Chroma, and whether the whole
    catalog had to be rebuilt (this catalog never followed this log)."""

    generation: int
    papers: int = 0
    rebuilt: bool = False

    @property
    def changed(self) -> bool:
        return self.rebuilt or self.papers > 0


def applied_generation(catalog: Catalog, log: ChangeLog) -> int | None:
    """The log generation this catalog reflects; None when it never followed this log."""
    epoch, _, generation = (catalog.get_meta(LOG_MARKER) or "").rpartition(":")
    return int(generation) if epoch == log.epoch and generation.isdigit() else None


def catch_up(vectors: VectorStore, catalog: Catalog, log: ChangeLog) -> CatchUp:
    """Bring this data dir's catalog up to the shared change log: re-read from Chroma only the papers logged since
    its marker (added, changed or deleted alike). The caller holds the store lock and refreshes the BM25 index
    after, which catches up from the catalog's own change log."""
    seen = applied_generation(catalog, log)
    if seen is None:
        papers = rebuild_catalog(vectors, catalog, log)
        return CatchUp(generation=applied_generation(catalog, log) or 0, papers=papers, rebuilt=True)
    changes = log.since(seen)
    if not changes:
        return CatchUp(generation=seen)
    paper_ids = sorted({pid for change in changes for pid in change.paper_ids})
    by_paper: dict[str, list[StoredChunk]] = defaultdict(list)
    for stored in vectors.stored_chunks_of(paper_ids):
        by_paper[stored.chunk.paper_id].append(stored)
    entries = [catalog_entry(pid, by_paper[pid]) for pid in paper_ids if pid in by_paper]
    for start in range(0, len(entries), 500):
        catalog.write(entries[start : start + 500])
    gone = [pid for pid in paper_ids if pid not in by_paper and catalog.paper(pid) is not None]
    if gone:
        catalog.delete_papers(gone)
    generation = changes[-1].generation
    catalog.set_meta(LOG_MARKER, f"{log.epoch}:{generation}")
    return CatchUp(generation=generation, papers=len(paper_ids))
