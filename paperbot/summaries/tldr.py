"""Extractive TL;DR: the one abstract sentence that best stands for the paper, scored by similarity to the title,
centrality among the abstract's sentences, position and contribution cues ("we propose ...")."""

from __future__ import annotations

import hashlib
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import astuple, dataclass

import numpy as np

from paperbot.text.terms import Vocabulary, terms

# Sentences that state the paper's own contribution: human TL;DRs mostly paraphrase these.
CONTRIBUTION_CUE = re.compile(
    r"\b(we|this (paper|work|study)|our (paper|work))\s+(\w+ly\s+)?"
    r"(propose|introduce|present|develop|design|devise|show|demonstrate|find|describe|study|investigate)s?\b"
    r"|\bin this (paper|work)\b", re.IGNORECASE)

FEATURES = ("title", "centrality", "position", "last", "cue", "length", "short")


@dataclass(frozen=True)
class TldrWeights:
    """Linear weights of the sentence features, in FEATURES order."""

    title: float  # TF-IDF cosine with the title
    centrality: float  # mean TF-IDF cosine with the other sentences
    position: float  # 1 / (1 + index): abstracts front-load what they are about
    last: float  # the closing sentence (often the take-away, sometimes boilerplate)
    cue: float  # a contribution cue (CONTRIBUTION_CUE)
    length: float  # words / 40, capped at 1: a one-sentence TL;DR needs some substance
    short: float  # under 8 words: headings and fragments ("Code is available.")

    @property
    def vector(self) -> np.ndarray:
        return np.array(astuple(self), dtype=float)


# Tuned on SciTLDR train (ROUGE-1 of the chosen sentence, max over references) by evals/tune_tldr.py;
# see evals/results/summaries.md for the dev figures.
TLDR_WEIGHTS = TldrWeights(title=1.0, centrality=1.5, position=0.25, last=-0.25, cue=0.4, length=0.2, short=-1.0)
TLDR_VERSION = "tldr1-" + hashlib.sha256(repr(astuple(TLDR_WEIGHTS)).encode()).hexdigest()[:8]


def _tfidf(words: Sequence[str], vocabulary: Vocabulary) -> dict[str, float]:
    counts = Counter(words)
    vector = {t: (1 + math.log(c)) * vocabulary.idf(t) for t, c in counts.items()}
    norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
    return {t: v / norm for t, v in vector.items()}


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(a) > len(b):
        a, b = b, a
    return sum(v * b.get(t, 0.0) for t, v in a.items())


def features(title: str, sentences: Sequence[str], vocabulary: Vocabulary) -> np.ndarray:
    """One row of FEATURES per sentence (shape (len(sentences), len(FEATURES)))."""
    vectors = [_tfidf(terms(s), vocabulary) for s in sentences]
    title_vector = _tfidf(terms(title), vocabulary)
    n = len(sentences)
    rows = []
    for i, sentence in enumerate(sentences):
        others = [_cosine(vectors[i], vectors[j]) for j in range(n) if j != i]
        words = len(sentence.split())
        rows.append([
            _cosine(vectors[i], title_vector), float(np.mean(others)) if others else 0.0, 1.0 / (1 + i),
            1.0 if i == n - 1 and n > 1 else 0.0, 1.0 if CONTRIBUTION_CUE.search(sentence) else 0.0,
            min(words, 40) / 40, 1.0 if words < 8 else 0.0,
        ])
    return np.array(rows, dtype=float).reshape(n, len(FEATURES))


def sentence_scores(title: str, sentences: Sequence[str], vocabulary: Vocabulary,
                    weights: TldrWeights = TLDR_WEIGHTS) -> np.ndarray:
    return features(title, sentences, vocabulary) @ weights.vector


def best_sentence(title: str, sentences: Sequence[str], vocabulary: Vocabulary,
                  weights: TldrWeights = TLDR_WEIGHTS) -> int:
    """Index of the TL;DR sentence (the first of equals); -1 when there are no sentences."""
    if not sentences:
        return -1
    return int(np.argmax(sentence_scores(title, sentences, vocabulary, weights)))
