"""Content terms of a text (Snowball-stemmed, stopwords out) and IDF weights, for sentence relevance and support."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

import Stemmer

from paperbot.text.stopwords import STOPWORDS

_WORD = re.compile(r"\w+")
_stemmer = Stemmer.Stemmer("english")


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _stemmer.stemWord(word)


def terms(text: str) -> list[str]:
    """Stemmed content words, numbers kept (they carry results: '4-5x', '20%')."""
    words = _WORD.findall(unicodedata.normalize("NFKC", text).casefold())
    return [_stem(w) for w in words if w not in STOPWORDS and (len(w) > 1 or w.isdigit())]


class Vocabulary:
    """Document frequencies over a set of texts; unseen terms get the highest weight."""

    def __init__(self, documents: Iterable[str] = ()) -> None:
        self.df: Counter[str] = Counter()
        self.n = 0
        for document in documents:
            self.add(document)

    def add(self, document: str) -> None:
        self.df.update(set(terms(document)))
        self.n += 1

    def idf(self, term: str) -> float:
        return math.log(1 + (self.n + 1) / (self.df.get(term, 0) + 0.5))

    def known(self, term: str) -> bool:
        return term in self.df


def weighted_coverage(wanted: Iterable[str], available: set[str], vocabulary: Vocabulary) -> float:
    """Share of the IDF mass of `wanted` terms found in `available` (0..1)."""
    unique = set(wanted)
    total = sum(vocabulary.idf(t) for t in unique)
    if total == 0:
        return 0.0
    return sum(vocabulary.idf(t) for t in unique if t in available) / total
