"""Decide, before answering, whether the retrieved papers can answer at all: one learned score, one threshold."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from paperbot.answerability import Features, features, load_model
from paperbot.answerability_names import named_terms
from paperbot.terms import Vocabulary
from paperbot.types import Evidence, PaperHit

__all__ = ["Answerability", "assess", "decide", "named_terms"]

# Features whose pull towards a refusal means "nothing is close": the reason a refusal gives then.
_CLOSENESS = ("best_dense", "dense_gap", "top3_dense")


@dataclass(frozen=True)
class Answerability:
    answerable: bool
    reason: str  # why not, for the user ("" when answerable)
    best_similarity: float
    missing_names: tuple[str, ...] = ()
    probability: float | None = None  # the scorer's p(answerable); None when nothing was retrieved
    model_version: str | None = None


def decide(probability: float, names_missing: bool, threshold: float, missing_name_threshold: float) -> bool:
    """The whole decision: answer when the scorer's p(answerable) reaches the threshold; when a specific name the
    question uses is in no retrieved paper (in any spelling), the scorer must be surer (missing_name_threshold).

    Both are Settings (`answerable_threshold`, `missing_name_threshold`), fitted by evals/train_answerability.py
    on the tune halves only (SciFact train claims, PubMedQA dev and the demo questions, each with and without its
    source) and reported on the other halves; the same decision serves extractive and LLM answers.
    """
    return probability >= (missing_name_threshold if names_missing else threshold)


def assess(question: str, hits: Sequence[PaperHit], evidence: Sequence[Evidence], vocabulary: Vocabulary, *,
           threshold: float, missing_name_threshold: float, model_path: Path | None = None) -> Answerability:
    if not hits:
        return Answerability(False, "no paper matches the question", 0.0)
    model = load_model(model_path)
    feats = features(question, hits, evidence, vocabulary)
    probability = model.probability(feats)
    best = feats.values["best_dense"]
    if decide(probability, bool(feats.missing_names), threshold, missing_name_threshold):
        return Answerability(True, "", best, feats.missing_names, probability, model.version)
    return Answerability(False, _reason(feats, model.contributions(feats)), best, feats.missing_names, probability,
                         model.version)


def _reason(feats: Features, contributions: dict[str, float]) -> str:
    """The refusal in words: the names nobody uses, else whichever kind of evidence pulled the score down most."""
    if feats.missing_names:
        return "no retrieved paper mentions " + ", ".join(feats.missing_names)
    closeness = sum(contributions[name] for name in _CLOSENESS)
    words = sum(v for k, v in contributions.items() if k not in _CLOSENESS)
    if closeness <= words:
        return "no paper is close enough to the question"
    return "the retrieved papers do not cover what the question asks"
