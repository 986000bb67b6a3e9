"""Split abstracts into sentence-aligned chunks that fit the embedder, with one sentence of overlap."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from paperbot.ports import Embedder
from paperbot.types import Chunk, Paper

CHUNKER_VERSION = "sentences-v1"  # bump when chunk boundaries change: stores record it and refuse a mismatch
_MAX_TITLE_CHARS = 200


class Chunker:
    """Greedy packing of whole sentences; a sentence too long on its own is split at word boundaries.

    Token counts are asked for in one batch per call to chunk_many: the tokenizer is fast per text but
    slow per call, and ingest chunks thousands of papers at once.
    """

    def __init__(
        self, embedder: Embedder, count_llm_tokens: Callable[[list[str]], list[int]], max_tokens: int | None = None
    ) -> None:
        self._embedder = embedder
        self._count_llm_tokens = count_llm_tokens
        self.max_tokens = min(max_tokens or embedder.max_tokens, embedder.max_tokens)
        # Tokens the embedder adds to every input ([CLS] and [SEP]): counted once per chunk, in the title prefix.
        self._special = embedder.special_tokens

    def chunk(self, paper: Paper) -> list[Chunk]:
        return self.chunk_many([paper])[0]

    def chunk_many(self, papers: Sequence[Paper]) -> list[list[Chunk]]:
        titles = [self._title(p) for p in papers]
        from paperbot.text.sentences import sentence_spans  # nupunkt: `stats` reads CHUNKER_VERSION without it

        sentences = [sentence_spans(p.abstract) for p in papers]
        flat = [p.abstract[s:e] for p, spans in zip(papers, sentences) for s, e in spans]
        counts = self._embedder.count_tokens([f"{t}\n\n" for t in titles] + flat)
        prefix_costs, sentence_costs = counts[: len(papers)], iter(counts[len(papers) :])

        plans = []
        for paper, spans, prefix in zip(papers, sentences, prefix_costs):
            budget = self.max_tokens - prefix
            units, costs = [], []
            for span in spans:
                cost = next(sentence_costs) - self._special
                if cost <= budget:
                    units.append(span)
                    costs.append(cost)
                else:
                    pieces = self._split_long(paper.abstract, span, budget)
                    units.extend(pieces)
                    costs.extend(c - self._special for c in self._embedder.count_tokens([paper.abstract[s:e] for s, e in pieces]))
            plans.append((units, costs, budget))

        chunk_spans = [self._spans(units, costs, budget) for units, costs, budget in plans]
        texts = [f"{t}\n\n{p.abstract[s:e]}" for p, t, spans in zip(papers, titles, chunk_spans) for s, e in spans]
        exact = iter(self._embedder.count_tokens(texts))
        llm = iter(self._count_llm_tokens([p.abstract[s:e] for p, spans in zip(papers, chunk_spans) for s, e in spans]))

        result = []
        for paper, title, spans, (units, costs, budget) in zip(papers, titles, chunk_spans, plans):
            sized = [(s, e, next(exact), next(llm)) for s, e in spans]
            # Summed sentence costs can be off by a token where sentences join; re-pack tighter if so.
            margin = 0
            while any(n > self.max_tokens for _, _, n, _ in sized):
                margin += 2
                spans = self._spans(units, costs, budget - margin)
                chunk_texts = [paper.abstract[s:e] for s, e in spans]
                ns = self._embedder.count_tokens([f"{title}\n\n{t}" for t in chunk_texts])
                sized = list(zip([s for s, _ in spans], [e for _, e in spans], ns, self._count_llm_tokens(chunk_texts)))
            result.append([
                Chunk(
                    id=f"{paper.id}#{i}", paper_id=paper.id, title=title, index=i, text=paper.abstract[s:e],
                    char_start=s, char_end=e, embed_tokens=n, tiktoken_tokens=m,
                )
                for i, (s, e, n, m) in enumerate(sized)
            ])
        return result

    def _title(self, paper: Paper) -> str:
        # A title so long it leaves no room for text is cut for the embedder's prefix only, never the text.
        return paper.title if len(paper.title) <= _MAX_TITLE_CHARS else paper.title[:_MAX_TITLE_CHARS]

    def _split_long(self, text: str, span: tuple[int, int], budget: int) -> list[tuple[int, int]]:
        start, end = span
        words = [(m.start() + start, m.end() + start) for m in re.finditer(r"\S+", text[start:end])]
        pieces: list[tuple[int, int]] = []
        first = 0
        while first < len(words):
            low, high = first + 1, len(words)
            while low < high:  # binary search for the longest run of words that fits
                mid = (low + high + 1) // 2
                cost = self._embedder.count_tokens([text[words[first][0] : words[mid - 1][1]]])[0] - self._special
                if cost <= budget:
                    low = mid
                else:
                    high = mid - 1
            pieces.append((words[first][0], words[low - 1][1]))
            first = low
        return pieces

    @staticmethod
    def _spans(units: list[tuple[int, int]], costs: list[int], budget: int) -> list[tuple[int, int]]:
        """Greedy runs of units under budget; each run after the first starts with the previous run's last unit."""
        groups: list[tuple[int, int]] = []
        first, n = 0, len(costs)
        while first < n:
            last, total = first, costs[first]
            while last + 1 < n and total + costs[last + 1] + 1 <= budget:
                last += 1
                total += costs[last] + 1
            groups.append((first, last))
            if last + 1 >= n:
                break
            # One sentence of overlap, unless it leaves no room for the next sentence (then no overlap).
            first = last if last > first and costs[last] + 1 + costs[last + 1] <= budget else last + 1
        return [(units[f][0], units[l][1]) for f, l in groups]
