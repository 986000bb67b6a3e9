"""Support scoring: does a claim follow from the sentences it cites? One seam, several scorers (lexical, learned, NLI)."""

from paperbot.support.scorer import LexicalSupportScorer, SupportScorer

__all__ = ["LexicalSupportScorer", "SupportScorer"]
