"""Extractive answers without an LLM: the most relevant, non-redundant sentences of the top papers, quoted and cited."""

from __future__ import annotations

from collections.abc import Sequence

from paperbot.answer.followup import FollowUp
from paperbot.text.asks import asks, topic_terms
from paperbot.text.terms import Vocabulary, terms, weighted_coverage
from paperbot.types import Evidence

EXTRACTIVE_LABEL = "Extractive answer (no LLM): sentences quoted verbatim from the papers"
_TOPIC_WEIGHT = 0.5  # a follow-up's own words count twice the conversation's


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a and b else 0.0


def select_sentences(
    query: str, evidence: Sequence[Evidence], vocabulary: Vocabulary, *, max_sentences: int = 4,
    min_relative: float = 0.5, redundancy: float = 0.5, follow_up: FollowUp | None = None,
) -> list[tuple[Evidence, str]]:
    """The sentences that answer `query`, each relevant paper once before any paper twice.

    Relevance is IDF-weighted coverage of the question's topic terms (the words of how it is put, "main ways to
    make", do not count), discounted by the paper's retrieval rank and raised for sentences that give what the
    question asks (a figure for "how much", a speed-up for "how much faster", a company for "which company").
    Sentences far below the best one, or sharing no topic word with the question, are not used. A follow-up is
    answered for what it newly asks: its own words weigh more than the conversation's, the papers the last
    answer quoted come first, and sentences already given are not given again.
    """
    question = follow_up.question if follow_up and follow_up.is_follow_up else query
    wanted = asks(question)
    own_terms = topic_terms(question)
    context_terms = topic_terms(follow_up.topic) if follow_up and follow_up.is_follow_up else []
    said = {" ".join(s.split()).casefold() for s in follow_up.said} if follow_up else set()
    in_play = follow_up.in_play(evidence) if follow_up and follow_up.is_follow_up else set()
    candidates = []
    for item in evidence:
        rank_prior = 1.0 / (1.0 + 0.15 * (item.rank - 1))
        if in_play:
            rank_prior *= 1.5 if item.key in in_play else 0.6
        title_terms = set(terms(item.title)) if wanted.several else set()
        for sentence in item.sentences:
            if " ".join(sentence.split()).casefold() in said:
                continue
            sentence_terms = set(terms(sentence))
            # Read in its paper: "The small model runs autoregressively" in "Speculative Decoding with Big Little
            # Decoder" is about speculative decoding; half the weight, so the sentence's own words still lead. Only
            # when several papers are asked for: otherwise every sentence of the best paper would gain alike.
            own = (weighted_coverage(own_terms, sentence_terms, vocabulary)
                   + weighted_coverage(own_terms, sentence_terms | title_terms, vocabulary)) / 2
            if wanted.any and wanted.satisfied_by(sentence):
                # It gives what is asked ("2x higher throughput" for "how much faster?"), in other words than the
                # question's; a follow-up says little besides what it asks, so that is most of its topic. Any
                # other question: only in a paper its title shows is on the topic ("Alipay" in Lookahead's).
                if context_terms:
                    own = max(own, 1.0)
                elif weighted_coverage(own_terms, sentence_terms | set(terms(item.title)), vocabulary) >= 0.5:
                    own = max(own, 0.5)
            context = weighted_coverage(context_terms, sentence_terms, vocabulary) if context_terms else 0.0
            if not own and not context:
                continue  # shares no topic word with the question: off-topic, however well it scores otherwise
            coverage = (own + _TOPIC_WEIGHT * context) / (1 + _TOPIC_WEIGHT) if context_terms else own
            topical = (coverage + 0.05) * rank_prior
            candidates.append((topical * wanted.bonus(sentence), topical, item, sentence, sentence_terms))
    if not candidates:
        return []
    # For several papers the floor is on topic alone: a sentence giving what is asked comes first, but does not
    # push out the papers that answer the question without one. For one paper, what is asked raises the bar.
    floor = max(c[1] if wanted.several else c[0] for c in candidates) * min_relative
    candidates = [(relevance, item, sentence, sentence_terms)
                  for relevance, topical, item, sentence, sentence_terms in candidates
                  if (topical if wanted.several else relevance) >= floor]
    best = max(c[0] for c in candidates)
    picked: list[tuple[float, Evidence, str, set[str]]] = []
    while len(picked) < max_sentences:
        scored = []
        quoted = {p[1].key for p in picked}
        # A question about several papers quotes every paper above the floor once before any twice; any other
        # question lets a second paper in only past a penalty, so a one-paper question stays with its paper.
        first_round = wanted.several and any(c[1].key not in quoted for c in candidates)
        for relevance, item, sentence, sentence_terms in candidates:
            if any(sentence == p[2] for p in picked):
                continue
            if first_round and item.key in quoted:
                continue
            overlap = max((_jaccard(sentence_terms, p[3]) for p in picked), default=0.0)
            same_paper = not wanted.several and item.key in quoted
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
