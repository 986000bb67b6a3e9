"""A retriever that searches a store as if some papers were not in it (a question whose own source was removed)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from paperbot.retrieval.retriever import Retriever, SearchResult
from paperbot.types import PaperHit, RetrievalMode, SearchFilters


class Excluding:
    """Asks for len(excluded) more papers and drops the excluded ones, so k papers still come back, ranked 1..k.
    The others keep their order: removing a paper shifts everyone below it by one rank in both retrievers."""

    def __init__(self, retriever: Retriever, excluded: Iterable[str]) -> None:
        self._retriever = retriever
        self._excluded = frozenset(excluded)

    @property
    def params(self):
        return self._retriever.params

    def search(self, query: str, k: int = 10, filters: SearchFilters | None = None,
               mode: RetrievalMode = "hybrid") -> list[PaperHit]:
        return self.search_timed(query, k, filters, mode).hits

    def search_timed(self, query: str, k: int = 10, filters: SearchFilters | None = None,
                     mode: RetrievalMode = "hybrid") -> SearchResult:
        result = self._retriever.search_timed(query, k + len(self._excluded), filters, mode)
        kept = [h for h in result.hits if h.paper_id not in self._excluded][:k]
        return SearchResult([dataclasses.replace(h, rank=rank) for rank, h in enumerate(kept, start=1)],
                            result.timings)
