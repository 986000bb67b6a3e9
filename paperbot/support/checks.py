"""Hard checks every support scorer applies on top of its score: a claim's numbers must be stated by its sources."""

from __future__ import annotations

from collections.abc import Sequence

from paperbot.numbers import numbers_in, unsupported_numbers
from paperbot.support.scorer import SupportScorer


def numbers_stated(claim: str, sources: Sequence[str]) -> bool:
    """Every number in the claim appears in its cited text: a similar sentence with another number is a wrong claim."""
    return not numbers_in(claim) or not unsupported_numbers([claim], " ".join(sources))


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
