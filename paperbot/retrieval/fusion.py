"""Reciprocal rank fusion of per-paper rankings, with a weight per retriever."""

from __future__ import annotations

from collections.abc import Sequence


def papers_in_rank_order(chunk_ranking: Sequence[str]) -> list[str]:
    """A paper's rank is the rank of its best chunk."""
    return list(dict.fromkeys(chunk_id.rsplit("#", 1)[0] for chunk_id in chunk_ranking))


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]], weights: Sequence[float], k: int = 60
) -> list[tuple[str, float]]:
    """Cormack et al. (2009): score = sum of weight / (k + rank); ties keep first-seen order."""
    scores: dict[str, float] = {}
    for ranking, weight in zip(rankings, weights):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda pair: pair[1], reverse=True)
