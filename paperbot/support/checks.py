"""Hard checks every support scorer applies on top of its score: a claim's numbers must be stated by its sources."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from paperbot.support.scorer import SupportScorer
from paperbot.text.numbers import numbers_in

# Digits right after a letter belong to a name (M2 macrophages, H2O, CD4, B12), not to a quantity; a name the
# sources do not use is the entity features' business, not a wrong number.
_IN_NAME = re.compile(r"(?<=[^\W\d_])\d+(?:\.\d+)?")


def quantities(text: str) -> list[str]:
    """The numbers a text states as quantities (numbers_in, canonical), digits inside names left out."""
    return numbers_in(_IN_NAME.sub(" ", unicodedata.normalize("NFKC", text)))


def numbers_stated(claim: str, sources: Sequence[str]) -> bool:
    """Every quantity in the claim appears in its cited text: a similar sentence with another number is a wrong
    claim, whatever a scorer thinks of its words."""
    wanted = quantities(claim)
    return not wanted or set(wanted) <= set(numbers_in(" ".join(sources)))


class NumberChecked:
    """Any scorer, with the number check on top: a claim stating a number its sources do not state scores 0."""

    def __init__(self, scorer: SupportScorer) -> None:
        self._scorer = scorer

    @property
    def name(self) -> str:
        return self._scorer.name

    @property
    def threshold(self) -> float:
        return self._scorer.threshold

    def score(self, claims: Sequence[str], sources: Sequence[Sequence[str]]) -> list[float]:
        scores = self._scorer.score(claims, sources)
        return [value if numbers_stated(c, s) else 0.0 for value, c, s in zip(scores, claims, sources, strict=True)]
