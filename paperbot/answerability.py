"""Answerability score: question × evidence features and a small logistic model loaded from a versioned JSON file."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from paperbot.answerability_names import found_names, named_terms, spellings
from paperbot.errors import ConfigError
from paperbot.terms import Vocabulary, terms, weighted_coverage
from paperbot.types import Evidence, PaperHit

MODEL_FORMAT = "paperbot-answerability/1"
# The model file names its features; a file trained on other features is refused rather than misread.
FEATURES = (
    "best_dense",       # highest MiniLM cosine of the question with any retrieved chunk
    "dense_gap",        # best paper's cosine minus the second paper's: one clear source vs. a flat field
    "top3_dense",       # mean cosine of the three best papers
    "dense_margin",     # best paper's cosine minus the mean of the next four: how far it stands out of its topic
    "best_coverage",    # IDF-weighted share of the question's terms in the single best-covering paper
    "all_coverage",     # the same over all the evidence together (multi-paper and comparison questions)
    "rare_coverage",    # IDF-weighted share of the question's three rarest terms in the best-covering paper
    "lexical_share",    # share of retrieved papers that BM25 matched too
    "names",            # specific names in the question (capped at 3, scaled 0..1)
    "names_found_all",  # share of those names some retrieved paper uses, in any spelling (1 without names)
    "names_found_one",  # largest share of them that one paper uses (1 without names)
)


@dataclass(frozen=True)
class Features:
    values: dict[str, float]
    names: tuple[str, ...]  # the question's specific names
    missing_names: tuple[str, ...]  # names no retrieved paper uses

    def vector(self) -> np.ndarray:
        return np.array([self.values[name] for name in FEATURES], dtype=float)


def features(question: str, hits: Sequence[PaperHit], evidence: Sequence[Evidence],
             vocabulary: Vocabulary) -> Features:
    """Everything the scorer looks at, from what retrieval and evidence building already produced."""
    per_paper = sorted((max((c.dense_score for c in h.chunks if c.dense_score is not None), default=0.0)
                        for h in hits), reverse=True)
    runners_up = per_paper[1:5]
    per_paper += [0.0] * (3 - len(per_paper))
    wanted = terms(question)
    texts = [f"{e.title} {e.text}" for e in evidence]
    term_sets = [set(terms(t)) for t in texts]
    union = set().union(*term_sets) if term_sets else set()
    # The terms a near-miss hinges on: a paper on the topic has the common ones, only the source has the rare ones.
    rare = sorted(set(wanted), key=lambda t: (-vocabulary.idf(t), t))[:3]
    names = named_terms(question)
    forms = [spellings(t) for t in texts]
    found_all = set(found_names(names, set().union(*forms))) if forms else set()
    found_one = max((len(found_names(names, f)) for f in forms), default=0)
    values = {
        "best_dense": per_paper[0],
        "dense_gap": per_paper[0] - per_paper[1],
        "top3_dense": sum(per_paper[:3]) / 3,
        "dense_margin": per_paper[0] - (sum(runners_up) / len(runners_up) if runners_up else 0.0),
        "best_coverage": max((weighted_coverage(wanted, s, vocabulary) for s in term_sets), default=0.0),
        "all_coverage": weighted_coverage(wanted, union, vocabulary),
        "rare_coverage": max((weighted_coverage(rare, s, vocabulary) for s in term_sets), default=0.0),
        "lexical_share": (sum(any(c.lexical_rank is not None for c in h.chunks) for h in hits) / len(hits)
                          if hits else 0.0),
        "names": min(len(names), 3) / 3,
        "names_found_all": len(found_all) / len(names) if names else 1.0,
        "names_found_one": found_one / len(names) if names else 1.0,
    }
    missing = tuple(n for n in names if n not in found_all)
    return Features(values, tuple(names), missing)


@dataclass(frozen=True)
class AnswerabilityModel:
    """Standardise, then logistic regression: p(answerable) = sigmoid(w · (x - mean) / scale + b)."""

    version: str
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float

    def probability(self, feats: Features) -> float:
        z = float(((feats.vector() - self.mean) / self.scale) @ self.weights + self.bias)
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def contributions(self, feats: Features) -> dict[str, float]:
        """Each feature's share of the logit: which one pushed the answer towards a refusal."""
        parts = (feats.vector() - self.mean) / self.scale * self.weights
        return dict(zip(FEATURES, map(float, parts)))


def parse_model(data: object, where: str) -> AnswerabilityModel:
    """Validate a model file's content; every problem names the file and the field."""
    def fail(field: str, problem: str) -> ConfigError:
        return ConfigError(f"{where}: field {field!r} {problem}; retrain with "
                           "`python -m evals.train_answerability` or point PAPERBOT_ANSWERABILITY_MODEL elsewhere")

    if not isinstance(data, dict):
        raise fail("(top level)", "must be a JSON object")
    if data.get("format") != MODEL_FORMAT:
        raise fail("format", f"must be {MODEL_FORMAT!r}, got {data.get('format')!r}")
    if list(data.get("features") or []) != list(FEATURES):
        raise fail("features", f"must list exactly {', '.join(FEATURES)} in that order")
    arrays = {}
    for field in ("mean", "scale", "weights"):
        value = data.get(field)
        if (not isinstance(value, list) or len(value) != len(FEATURES)
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                           for v in value)):
            raise fail(field, f"must be a list of {len(FEATURES)} finite numbers")
        arrays[field] = np.array(value, dtype=float)
    if (arrays["scale"] <= 0).any():
        raise fail("scale", "must be positive")
    bias = data.get("bias")
    if not isinstance(bias, (int, float)) or isinstance(bias, bool) or not math.isfinite(bias):
        raise fail("bias", "must be a finite number")
    version = data.get("version")
    if not isinstance(version, str) or not version:
        raise fail("version", "must be a non-empty string")
    return AnswerabilityModel(version, arrays["mean"], arrays["scale"], arrays["weights"], float(bias))


@lru_cache(maxsize=8)
def load_model(path: Path | None = None) -> AnswerabilityModel:
    """The packaged model (paperbot/data/answerability_model.json), or a file given in settings."""
    if path is None:
        text = resources.files("paperbot").joinpath("data/answerability_model.json").read_text(encoding="utf-8")
        where = "paperbot/data/answerability_model.json"
    else:
        where = str(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read answerability model {path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}:{exc.lineno}: not valid JSON ({exc.msg})") from None
    return parse_model(data, where)
