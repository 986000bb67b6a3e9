"""Ingest use case: dedupe papers, skip unchanged ones, chunk, embed and write vectors then catalog, batch by batch."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from itertools import islice

from paperbot.ingest.chunking import Chunker
from paperbot.ports import Embedder
from paperbot.store.catalog import Catalog
from paperbot.store.vectors import VectorStore
from paperbot.text.ids import normalize_title, title_slug_id
from paperbot.types import IngestReport, Paper

Progress = Callable[[int, int], None]  # (papers done, papers to write)


@dataclass(frozen=True)
class BatchHooks:
    """For a store shared through a Chroma server: `before` runs before each batch's first write (the writer lease
    still held?), `after` once its vectors and catalog rows are written (log it for other data dirs)."""

    before: Callable[[], None]
    after: Callable[[list[str]], None]


def content_hash(paper: Paper) -> str:
    """Everything stored about a paper; any change re-chunks and re-embeds it."""
    fields = [paper.title, paper.abstract, list(paper.authors), paper.year, paper.date, paper.url,
              paper.arxiv_id, paper.doi]
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode()).hexdigest()[:32]


def _has_own_id(paper: Paper) -> bool:
    """An arXiv id, a DOI or a record id: two such papers with different ids are different papers."""
    return paper.id != title_slug_id(paper.title)


def merge_duplicates(papers: Sequence[Paper], known_ids_by_title: dict[str, str]) -> tuple[list[Paper], list[str]]:
    """One paper per id; copies of a title merge into the first, filling gaps.

    A title already stored under another id keeps that id, so a later copy with fewer identifiers does not
    fork it. Titles alone do not merge two records that both carry their own, different ids: datasets reuse
    junk titles ("Summary") for distinct documents.
    """
    by_id: dict[str, Paper] = {}
    id_for_title: dict[str, str] = dict(known_ids_by_title)
    merged: list[str] = []
    for paper in papers:
        key = normalize_title(paper.title)
        target = paper.id
        if paper.id not in by_id and key in id_for_title:
            other = id_for_title[key]
            other_is_slug = other == title_slug_id(paper.title)
            if not (_has_own_id(paper) and not other_is_slug):
                target = other
        if target != paper.id:
            paper = replace(paper, id=target)
        if target in by_id:
            first = by_id[target]
            by_id[target] = replace(
                first,
                authors=first.authors or paper.authors, year=first.year or paper.year, date=first.date or paper.date,
                url=first.url or paper.url, arxiv_id=first.arxiv_id or paper.arxiv_id, doi=first.doi or paper.doi,
                body=first.body or paper.body,
            )
            merged.append(target)
        else:
            by_id[target] = paper
        id_for_title.setdefault(key, target)
    return list(by_id.values()), merged


def _keep_known_fields(paper: Paper, stored: Paper | None) -> Paper:
    """A new copy without authors, year or ids does not erase what an earlier copy told us."""
    if stored is None:
        return paper
    return replace(
        paper, authors=paper.authors or stored.authors, year=paper.year or stored.year, date=paper.date or stored.date,
        url=paper.url or stored.url, arxiv_id=paper.arxiv_id or stored.arxiv_id, doi=paper.doi or stored.doi,
    )


def ingest_papers(
    papers: Iterable[Paper],
    *,
    catalog: Catalog,
    vectors: VectorStore,
    embedder: Embedder,
    chunker: Chunker,
    batch_size: int = 256,
    progress: Progress | None = None,
    hooks: BatchHooks | None = None,
) -> IngestReport:
    """Write new and changed papers; safe to kill at any point and run again.

    Each batch goes to Chroma first (idempotent upserts by chunk id, then removal of that paper's chunks that
    the new version no longer has) and to the catalog last, in one transaction. A run killed in between leaves
    the catalog without those papers, so the next run rewrites them: nothing is lost, nothing duplicated.

    A list is deduplicated as a whole. Any other iterable (a generator) is streamed in windows of
    STREAM_WINDOW_BATCHES batches, so memory stays bounded however many papers it yields; a copy of a paper
    in a later window is then matched through the catalog (same id or stored title) instead of merged in memory.
    """
    started = time.perf_counter()
    report = IngestReport()
    if isinstance(papers, Sequence):
        _ingest_window(papers, report, catalog, vectors, embedder, chunker, batch_size, progress, 0, hooks)
    else:
        iterator, done = iter(papers), 0
        while window := list(islice(iterator, batch_size * STREAM_WINDOW_BATCHES)):
            done = _ingest_window(window, report, catalog, vectors, embedder, chunker, batch_size, progress, done,
                                  hooks)
    report.seconds = time.perf_counter() - started
    return report


STREAM_WINDOW_BATCHES = 8


def _ingest_window(papers: Sequence[Paper], report: IngestReport, catalog: Catalog, vectors: VectorStore,
                   embedder: Embedder, chunker: Chunker, batch_size: int, progress: Progress | None,
                   done: int, hooks: BatchHooks | None = None) -> int:
    """Ingest one list of papers into `report`; returns papers written so far (`done` before this list)."""
    known_titles = catalog.ids_by_norm_title([normalize_title(p.title) for p in papers])
    unique, merged = merge_duplicates(papers, known_titles)
    report.merged.extend(merged)
    unique = [_keep_known_fields(p, catalog.paper(p.id)) for p in unique]
    hashes = {p.id: content_hash(p) for p in unique}
    stored = catalog.content_hashes(list(hashes))
    todo = []
    for paper in unique:
        if stored.get(paper.id) == hashes[paper.id]:
            report.unchanged.append(paper.id)
        else:
            (report.updated if paper.id in stored else report.added).append(paper.id)
            todo.append(paper)
    if progress:
        progress(done, done + len(todo))
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        chunk_lists = chunker.chunk_many(batch)
        chunks = [c for cl in chunk_lists for c in cl]
        vectors_ = embedder.embed([c.embed_text for c in chunks])
        if hooks:
            hooks.before()
        vectors.upsert(chunks, vectors_, {p.id: (p, hashes[p.id]) for p in batch})
        stale = vectors.chunk_ids_of([p.id for p in batch]) - {c.id for c in chunks}
        if stale:
            vectors.delete(sorted(stale))
        catalog.write([(p, hashes[p.id], cl) for p, cl in zip(batch, chunk_lists)])
        if hooks:
            hooks.after([p.id for p in batch])
        report.chunks_written += len(chunks)
        if progress:
            progress(done + start + len(batch), done + len(todo))
    return done + len(todo)
