"""Turn search hits into Evidence: per paper, the whole sentences of its matching chunks, ranked by relevance."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import replace

from paperbot.answer.citations import quote_keys
from paperbot.text.sentences import sentence_spans
from paperbot.text.terms import Vocabulary, terms, weighted_coverage
from paperbot.types import Evidence, PaperHit


def hit_sentences(hit: PaperHit) -> list[tuple[int, str]]:
    """(absolute offset, sentence) of every matching chunk, overlaps removed, in abstract order."""
    seen: dict[int, str] = {}
    for chunk in hit.chunks:
        for start, end in sentence_spans(chunk.text):
            seen.setdefault(chunk.char_start + start, chunk.text[start:end])
    return sorted(seen.items())


def sentence_relevance(query_terms: list[str], sentence: str, vocabulary: Vocabulary) -> float:
    return weighted_coverage(query_terms, set(terms(sentence)), vocabulary)


def build_evidence(hits: list[PaperHit], query: str, vocabulary: Vocabulary, max_sentences: int = 8) -> list[Evidence]:
    """One Evidence per paper, keys P1.. in rank order; each keeps its most query-relevant sentences."""
    query_terms = terms(query)
    evidence = []
    for number, hit in enumerate(hits, start=1):
        sentences = hit_sentences(hit)
        if len(sentences) > max_sentences:
            scored = sorted(sentences, key=lambda s: -sentence_relevance(query_terms, s[1], vocabulary))
            keep = {offset for offset, _ in scored[:max_sentences]}
            sentences = [s for s in sentences if s[0] in keep]
        evidence.append(Evidence(
            key=f"P{number}", paper_id=hit.paper_id, title=hit.title, url=hit.url, year=hit.year,
            sentences=tuple(quote_keys(text) for _, text in sentences), rank=hit.rank, retrieval_score=hit.score,
        ))
    return evidence


def drop_least_relevant_sentence(item: Evidence, query: str, vocabulary: Vocabulary) -> Evidence | None:
    """Shrink step for the prompt budget: remove one whole sentence, the least relevant; None when one is left."""
    if len(item.sentences) <= 1:
        return None
    query_terms = terms(query)
    scores = [sentence_relevance(query_terms, s, vocabulary) for s in item.sentences]
    # Ties drop the later sentence: abstracts front-load their claims.
    worst = min(range(len(scores)), key=lambda i: (scores[i], -i))
    return replace(item, sentences=item.sentences[:worst] + item.sentences[worst + 1 :])


def render_sources(evidence: Sequence[Evidence]) -> str:
    """Quoted data, escaped so an abstract cannot close its own <source> tag or open a new one."""
    blocks = []
    for item in evidence:
        title = html.escape(item.title, quote=True)
        year = f' year="{item.year}"' if item.year else ""
        blocks.append(f'<source key="{item.key}" title="{title}"{year}>\n{html.escape(item.text, quote=False)}\n</source>')
    return "\n".join(blocks)
