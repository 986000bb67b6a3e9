"""Hybrid retrieval use case: dense and lexical chunk rankings, fused per paper, with filters."""

from __future__ import annotations

import time
from dataclasses import dataclass

from paperbot.config import Settings
from paperbot.ports import Embedder
from paperbot.retrieval.fusion import papers_in_rank_order, reciprocal_rank_fusion
from paperbot.store.catalog import Catalog
from paperbot.store.lexical import LexicalIndex
from paperbot.store.vectors import VectorStore
from paperbot.types import ChunkHit, PaperHit, RetrievalMode, SearchFilters

MAX_QUERY_CHARS = 2000  # longer input is cut: neither retriever gains from it and BM25 cost grows with terms


@dataclass(frozen=True)
class FusionParams:
    """Values from Settings (their descriptions say what each does): `from_settings` is the one way to build it."""

    candidates: int
    rrf_k: int
    dense_weight: float
    lexical_weight: float
    title_weight: float

    @classmethod
    def from_settings(cls, settings: Settings) -> FusionParams:
        return cls(candidates=settings.candidates, rrf_k=settings.rrf_k, dense_weight=settings.dense_weight,
                   lexical_weight=settings.lexical_weight, title_weight=settings.title_weight)


@dataclass(frozen=True)
class SearchTimings:
    """Each stage's wall time; a stage the retrieval mode skips is 0."""

    embed_ms: float = 0.0
    dense_ms: float = 0.0
    lexical_ms: float = 0.0
    fuse_ms: float = 0.0


@dataclass(frozen=True)
class SearchResult:
    """One search's hits and its own stage timings (returned, not kept: one Retriever serves concurrent users)."""

    hits: list[PaperHit]
    timings: SearchTimings


class Retriever:
    """Searches one store; collaborators are passed in so tests and benchmarks can swap them."""

    def __init__(self, embedder: Embedder, vectors: VectorStore, catalog: Catalog, lexical: LexicalIndex,
                 params: FusionParams) -> None:
        self._embedder = embedder
        self._vectors = vectors
        self._catalog = catalog
        self._lexical = lexical
        self.params = params

    def search(
        self, query: str, k: int = 10, filters: SearchFilters | None = None, mode: RetrievalMode = "hybrid"
    ) -> list[PaperHit]:
        return self.search_timed(query, k, filters, mode).hits

    def search_timed(
        self, query: str, k: int = 10, filters: SearchFilters | None = None, mode: RetrievalMode = "hybrid"
    ) -> SearchResult:
        """The hits with the time each stage took (evals read them)."""
        query = " ".join(query.split())[:MAX_QUERY_CHARS]
        if not query:
            return SearchResult([], SearchTimings())
        embed_ms = dense_ms = lexical_ms = 0.0
        allowed = None if filters is None or filters.is_empty else self._catalog.paper_ids(filters)
        n = self.params.candidates
        dense: list[tuple[str, float]] = []
        lexical: list[tuple[str, float]] = []
        if mode in ("hybrid", "lexical"):
            t0 = time.perf_counter()
            lexical = self._lexical.search(query, n, allowed)
            lexical_ms = (time.perf_counter() - t0) * 1e3
        if mode in ("hybrid", "dense"):
            t0 = time.perf_counter()
            vector = self._embedder.embed([query])[0]
            t1 = time.perf_counter()
            dense = self._vectors.query(vector, n, allowed)
            t2 = time.perf_counter()
            embed_ms, dense_ms = (t1 - t0) * 1e3, (t2 - t1) * 1e3
        t0 = time.perf_counter()
        rankings, weights = [], []
        if dense:
            rankings.append(papers_in_rank_order([cid for cid, _ in dense]))
            weights.append(self.params.dense_weight if mode == "hybrid" else 1.0)
        if lexical:
            rankings.append(papers_in_rank_order([cid for cid, _ in lexical]))
            weights.append(self.params.lexical_weight if mode == "hybrid" else 1.0)
        fused = reciprocal_rank_fusion(rankings, weights, self.params.rrf_k)[:k]
        hits = self._hits(fused, dense, lexical)
        fuse_ms = (time.perf_counter() - t0) * 1e3
        return SearchResult(hits, SearchTimings(embed_ms, dense_ms, lexical_ms, fuse_ms))

    def _hits(self, fused, dense, lexical) -> list[PaperHit]:
        wanted = {pid for pid, _ in fused}
        dense_rank = {cid: (r, s) for r, (cid, s) in enumerate(dense, 1) if cid.rsplit("#", 1)[0] in wanted}
        lexical_rank = {cid: (r, s) for r, (cid, s) in enumerate(lexical, 1) if cid.rsplit("#", 1)[0] in wanted}
        chunk_ids = set(dense_rank) | set(lexical_rank)
        chunks = self._catalog.chunks(chunk_ids)
        papers = {pid: self._catalog.paper(pid) for pid in wanted}
        hits = []
        for pid, score in fused:
            paper = papers.get(pid)
            if paper is None:
                continue  # in Chroma but not yet in the catalog: an ingest is under way or was killed
            mine = []
            for cid in chunk_ids:
                chunk = chunks.get(cid)
                if chunk is None or chunk.paper_id != pid:
                    continue
                d, lx = dense_rank.get(cid), lexical_rank.get(cid)
                mine.append(ChunkHit(
                    chunk_id=cid, index=chunk.index, text=chunk.text, char_start=chunk.char_start,
                    char_end=chunk.char_end, dense_rank=d[0] if d else None, lexical_rank=lx[0] if lx else None,
                    dense_score=d[1] if d else None, lexical_score=lx[1] if lx else None,
                ))
            # Best chunk first: by its own fused contribution.
            mine.sort(key=lambda h: -(
                (1 / (self.params.rrf_k + h.dense_rank) if h.dense_rank else 0.0)
                + (1 / (self.params.rrf_k + h.lexical_rank) if h.lexical_rank else 0.0)
            ))
            hits.append(PaperHit(
                rank=len(hits) + 1, paper_id=pid, title=paper.title, score=score, year=paper.year, authors=paper.authors,
                url=paper.url, chunks=tuple(mine),
            ))
        return hits
