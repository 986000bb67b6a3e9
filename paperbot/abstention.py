"""Decide, before answering, whether the retrieved papers can answer at all (thresholds calibrated on dev questions)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from paperbot.terms import terms
from paperbot.types import Evidence, PaperHit

# Calibrated on evals/questions/demo.jsonl (answerable vs unanswerable); see evals/results/answers-demo.md.
MIN_DENSE_SIMILARITY = 0.25
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-./+]*[A-Za-z0-9+]|[A-Za-z0-9]")


@dataclass(frozen=True)
class Answerability:
    answerable: bool
    reason: str
    best_similarity: float
    missing_names: tuple[str, ...] = ()


def named_terms(question: str) -> list[str]:
    """Names, acronyms and model ids in a question ("BLEU", "WikiText-2", "LLaMA-65B", "Medusa").

    Specific names are what a near-miss question hinges on: if no retrieved paper mentions them together,
    the papers talk about the topic but cannot answer this question.
    """
    found = []
    for index, match in enumerate(_TOKEN.finditer(question)):
        word = match.group(0).rstrip(".")
        inner_upper = any(ch.isupper() for ch in word[1:])
        letters_and_digits = any(ch.isdigit() for ch in word) and any(ch.isalpha() for ch in word)
        capitalised_inside = index > 0 and word[0].isupper() and not _sentence_start(question, match.start())
        if (inner_upper or letters_and_digits or capitalised_inside) and terms(word):
            found.append(word)
    return list(dict.fromkeys(found))


def _sentence_start(text: str, position: int) -> bool:
    before = text[:position].rstrip()
    return not before or before[-1] in ".?!:\"'("


def assess(question: str, hits: Sequence[PaperHit], evidence: Sequence[Evidence], *, strict: bool) -> Answerability:
    """strict (extractive mode) also requires the question's names to co-occur in one retrieved paper."""
    if not hits:
        return Answerability(False, "no paper matches the question", 0.0)
    best = max((c.dense_score for h in hits for c in h.chunks if c.dense_score is not None), default=0.0)
    if best < MIN_DENSE_SIMILARITY:
        return Answerability(False, "no paper is close enough to the question", best)
    if strict:
        names = named_terms(question)
        if names:
            texts = [set(terms(e.title + " " + e.text)) for e in evidence]
            covered = [all(set(terms(n)) <= t for n in names) for t in texts]
            if not any(covered):
                missing = tuple(n for n in names if not any(set(terms(n)) <= t for t in texts))
                if not missing:  # each name appears somewhere, but no single paper has them all
                    missing = tuple(names)
                return Answerability(False, "no retrieved paper mentions " + ", ".join(missing), best, missing)
    return Answerability(True, "", best)
