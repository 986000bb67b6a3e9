"""Extractive answers without an LLM: the most relevant, non-redundant sentences of the top papers, quoted and cited."""

from __future__ import annotations

import re
from collections.abc import Sequence

from paperbot.terms import Vocabulary, terms, weighted_coverage
from paperbot.types import Evidence

EXTRACTIVE_LABEL = "Extractive answer (no LLM): sentences quoted verbatim from the papers"
# Questions that ask for a quantity are best answered by sentences that state one.
_QUANTITATIVE = re.compile(
    r"\b(how (much|many|fast|large|big|long|well)|by what|what (percentage|fraction|factor|speed-?up|accuracy|score)|"
    r"speed-?ups?|faster|percent|reduc\w*|improv\w*|accuracy|throughput|latency|cost)\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d")


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def select_sentences(
    query: str, evidence: Sequence[Evidence], vocabulary: Vocabulary, *, max_sentences: int = 4,
    min_relative: float = 0.5, redundancy: float = 0.5,
) -> list[tuple[Evidence, str]]:
    """Maximal marginal relevance over every evidence sentence.

    Relevance is IDF-weighted query coverage, discounted by the paper's retrieval rank; a sentence that repeats
    what is already picked, or comes from an already-quoted paper, pays a penalty, so multi-paper questions get
    several papers. Sentences far below the best one are not used at all.
    """
    query_terms = terms(query)
    quantitative = bool(_QUANTITATIVE.search(query))
    candidates = []
    for item in evidence:
        rank_prior = 1.0 / (1.0 + 0.15 * (item.rank - 1))
        for sentence in item.sentences:
            sentence_terms = set(terms(sentence))
            relevance = weighted_coverage(query_terms, sentence_terms, vocabulary) * rank_prior
            if quantitative and _NUMBER.search(sentence):
                relevance *= 1.5
            candidates.append((relevance, item, sentence, sentence_terms))
    if not candidates:
        return []
    best = max(c[0] for c in candidates)
    floor = best * min_relative
    picked: list[tuple[float, Evidence, str, set[str]]] = []
    while len(picked) < max_sentences:
        scored = []
        for relevance, item, sentence, sentence_terms in candidates:
            if relevance < floor or any(sentence == p[2] for p in picked):
                continue
            overlap = max((_jaccard(sentence_terms, p[3]) for p in picked), default=0.0)
            same_paper = any(p[1].key == item.key for p in picked)
            scored.append((relevance - redundancy * overlap * best - (0.25 * best if same_paper else 0.0),
                           relevance, item, sentence, sentence_terms))
        if not scored:
            break
        top = max(scored, key=lambda s: s[0])
        if top[0] <= 0:
            break
        picked.append(top[1:])
    # Present in paper rank order, then in the order the sentences stand in each abstract.
    picked.sort(key=lambda p: (p[1].rank, p[1].sentences.index(p[2])))
    return [(item, sentence) for _, item, sentence, _ in picked]


def compose(selected: Sequence[tuple[Evidence, str]]) -> str:
    """One quoted sentence per line, each ending with its paper's key."""
    return "\n".join(f"{sentence.rstrip()} [{item.key}]" for item, sentence in selected)
