"""Decide, before answering, whether the retrieved papers can answer: a learned score, thresholds in Settings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from paperbot.answer.answerability import Features, features, load_model
from paperbot.answer.answerability_names import named_terms
from paperbot.text.terms import Vocabulary
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


def decide(probability: float, *, names_missing: bool, yes_no: bool, threshold: float,
           missing_name_threshold: float, yes_no_threshold: float) -> bool:
    """The whole decision: answer when the scorer's p(answerable) reaches every threshold that applies.

    `threshold` always applies; `missing_name_threshold` when a specific name the question uses is in no retrieved
    paper (in any spelling); `yes_no_threshold` for a yes/no question ("Does X reduce Y?"), which only a study of
    exactly that answers, where a wh-question may be answered by a paper on the topic. All three are Settings
    (`answerable_threshold`, `missing_name_threshold`, `yes_no_threshold`), fitted by evals/train_answerability.py on
    tune rows only (PubMedQA dev and the demo questions' tune halves, each with and without its source, and
    evals/questions/tune.jsonl) and reported on the other halves; the same decision serves extractive and LLM answers.
    """
    required = threshold
    if names_missing:
        required = max(required, missing_name_threshold)
    if yes_no:
        required = max(required, yes_no_threshold)
    return probability >= required


def assess(question: str, hits: Sequence[PaperHit], evidence: Sequence[Evidence], vocabulary: Vocabulary, *,
           threshold: float, missing_name_threshold: float, yes_no_threshold: float = 0.0,
           model_path: Path | None = None) -> Answerability:
    if not hits:
        return Answerability(False, "no paper matches the question", 0.0)
    model = load_model(model_path)
    feats = features(question, hits, evidence, vocabulary)
    probability = model.probability(feats)
    best = feats.values["best_dense"]
    if decide(probability, names_missing=bool(feats.missing_names), yes_no=feats.values["yes_no"] > 0.5,
              threshold=threshold, missing_name_threshold=missing_name_threshold, yes_no_threshold=yes_no_threshold):
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
