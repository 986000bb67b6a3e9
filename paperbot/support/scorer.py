"""The support-scorer seam and the lexical scorer every other one falls back to."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

from paperbot.config import Settings
from paperbot.text.terms import Vocabulary, terms, weighted_coverage

DEFAULT_THRESHOLD: float = Settings.model_fields["lexical_support_threshold"].default


class SupportScorer(Protocol):
    """Scores claims against source sentences; batched so a model can embed or run all pairs at once."""

    @property
    def name(self) -> str:
        """What ran, recorded on every Answer ("lexical", "learned-v1", "nli:<model>")."""

    @property
    def threshold(self) -> float:
        """Scores at or above it count as supported (fitted on a tuning split, never on the report split)."""

    def score(self, claims: Sequence[str], sources: Sequence[Sequence[str]]) -> list[float]:
        """For each claim i, 0..1: how well the sentences sources[i] (one or more cited papers) state it."""


class LexicalSupportScorer:
    """Share of the claim's IDF-weighted content terms found in its sources: fast, needs no model, blind to
    paraphrase and to wrong claims that reuse the source's words."""

    name = "lexical"

    def __init__(self, vocabulary: Vocabulary | Callable[[], Vocabulary], threshold: float | None = None) -> None:
        # None: Settings' lexical_support_threshold default, the one fitted value (evals/train_support.py). A
        # callable vocabulary is asked on every call: the facade's is rebuilt after ingests.
        self._vocabulary = vocabulary
        self._threshold = DEFAULT_THRESHOLD if threshold is None else threshold

    @property
    def threshold(self) -> float:
        return self._threshold

    def score(self, claims: Sequence[str], sources: Sequence[Sequence[str]]) -> list[float]:
        vocabulary = self._vocabulary() if callable(self._vocabulary) else self._vocabulary
        out = []
        for claim, sentences in zip(claims, sources, strict=True):
            wanted = terms(claim)
            if not wanted:
                out.append(1.0)
                continue
            available = set(terms(" ".join(sentences)))
            out.append(weighted_coverage(wanted, available, vocabulary))
        return out
