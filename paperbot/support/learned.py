"""The learned support scorer: a logistic model over pair features, read from a versioned JSON file (numpy only)."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from paperbot.errors import ModelFileError
from paperbot.ports import Embedder
from paperbot.support.checks import numbers_stated
from paperbot.support.features import FEATURE_NAMES, batch_features
from paperbot.text.terms import Vocabulary

MODEL_FORMAT = "paperbot-support-model"
MODEL_VERSION = 1
DEFAULT_MODEL_FILE = Path(__file__).resolve().parent.parent / "data" / "support_model.json"


class SupportModelError(ModelFileError):
    """The support model's weights file is missing, from another version, or malformed."""


@dataclass(frozen=True)
class SupportModel:
    """Standardise, then logistic regression: P(supported) = sigmoid(((x - mean) / scale) . w + b)."""

    name: str
    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coefficients: np.ndarray
    intercept: float
    threshold: float
    embedder: str
    provenance: dict[str, Any] = field(default_factory=dict)

    def probability(self, rows: np.ndarray) -> np.ndarray:
        z = ((np.asarray(rows, dtype=np.float64) - self.mean) / self.scale) @ self.coefficients + self.intercept
        return 1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))

    def to_json(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT, "version": MODEL_VERSION, "name": self.name, "embedder": self.embedder,
            "features": list(self.features),
            "scaler": {"mean": self.mean.tolist(), "scale": self.scale.tolist()},
            "coefficients": self.coefficients.tolist(), "intercept": self.intercept,
            "threshold": self.threshold, "provenance": self.provenance,
        }


def load_model(path: Path | None = None) -> SupportModel:
    """Reads and checks a weights file: its format, version and feature names must be the ones this code computes."""
    path = path or DEFAULT_MODEL_FILE
    where = f"support model {path}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SupportModelError(f"{where}: file not found (reinstall paperbot, or set PAPERBOT_SUPPORT_SCORER=lexical)")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SupportModelError(f"{where}: not readable JSON ({exc}); retrain with `python -m evals.train_support`")
    if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
        raise SupportModelError(f"{where}: field 'format' is not {MODEL_FORMAT!r}; this is not a support model file")
    if data.get("version") != MODEL_VERSION:
        raise SupportModelError(
            f"{where}: field 'version' is {data.get('version')!r}, this paperbot reads version {MODEL_VERSION}; "
            "retrain with `python -m evals.train_support` or use the paperbot that wrote it"
        )
    if data.get("features") != list(FEATURE_NAMES):
        raise SupportModelError(
            f"{where}: field 'features' {data.get('features')!r} differs from the features this code computes "
            f"{list(FEATURE_NAMES)!r}; retrain with `python -m evals.train_support`"
        )
    n = len(FEATURE_NAMES)
    try:
        scaler = data["scaler"]
        arrays = {"scaler.mean": scaler["mean"], "scaler.scale": scaler["scale"], "coefficients": data["coefficients"]}
        values = {}
        for key, raw in arrays.items():
            array = np.asarray(raw, dtype=np.float64)
            if array.shape != (n,) or not np.isfinite(array).all():
                raise SupportModelError(f"{where}: field '{key}' must be {n} finite numbers, got {raw!r:.80}")
            values[key] = array
        if (values["scaler.scale"] <= 0).any():
            raise SupportModelError(f"{where}: field 'scaler.scale' must be positive")
        intercept, threshold = float(data["intercept"]), float(data["threshold"])
        name, embedder = str(data["name"]), str(data["embedder"])
    except KeyError as exc:
        raise SupportModelError(f"{where}: field {exc} is missing; retrain with `python -m evals.train_support`")
    except (TypeError, ValueError) as exc:
        raise SupportModelError(f"{where}: a field has the wrong type ({exc})")
    if not (math.isfinite(intercept) and 0.0 < threshold < 1.0):
        raise SupportModelError(f"{where}: field 'threshold' must be between 0 and 1 and 'intercept' finite")
    return SupportModel(name, FEATURE_NAMES, values["scaler.mean"], values["scaler.scale"], values["coefficients"],
                        intercept, threshold, embedder, dict(data.get("provenance") or {}))


def _squash(text: str) -> str:
    return " ".join(re.findall(r"\w+", unicodedata.normalize("NFKC", text).casefold()))


def quoted(claim: str, sentences: Sequence[str]) -> bool:
    """The claim is (a span of) one of its source sentences, word for word: extractive answers always are."""
    wanted = _squash(claim)
    return bool(wanted) and any(wanted in _squash(s) for s in sentences)


class LearnedSupportScorer:
    """Scores with the packaged logistic model over MiniLM, coverage, number, name, negation and length features.
    A sentence quoted verbatim from its sources scores 1 without embedding anything (extractive answers stay fast);
    a number the sources never state scores 0 whatever the model says."""

    def __init__(self, embedder: Embedder, vocabulary: Vocabulary | Callable[[], Vocabulary],
                 model: SupportModel | None = None, *, cache_size: int = 8192) -> None:
        self._model = model or load_model()
        self._embedder = embedder
        self._vocabulary = vocabulary
        # Sentence vectors are kept between calls: attribution scores one answer against each paper in turn.
        self._cache: dict[str, np.ndarray] = {}
        self._cache_size = cache_size

    @property
    def name(self) -> str:
        return self._model.name

    @property
    def threshold(self) -> float:
        return self._model.threshold

    @property
    def model(self) -> SupportModel:
        return self._model

    def vectors(self, texts: Sequence[str]) -> np.ndarray:
        """The embedder's vectors of `texts`, from the cache when seen (attribution's semantic focus shares it)."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        fresh = dict(zip(missing, self._embedder.embed(missing), strict=True)) if missing else {}
        rows = np.stack([fresh[t] if t in fresh else self._cache[t] for t in texts])
        for text, vector in fresh.items():
            if len(self._cache) >= self._cache_size:
                self._cache.pop(next(iter(self._cache)))  # oldest first
            self._cache[text] = vector
        return rows

    def features(self, claims: Sequence[str], sources: Sequence[Sequence[str]]) -> np.ndarray:
        vocabulary = self._vocabulary() if callable(self._vocabulary) else self._vocabulary
        return batch_features(claims, sources, self.vectors, vocabulary)

    def score(self, claims: Sequence[str], sources: Sequence[Sequence[str]]) -> list[float]:
        if len(claims) != len(sources):
            raise ValueError(f"{len(claims)} claims but {len(sources)} source lists")
        scores = [1.0 if quoted(c, s) else math.nan for c, s in zip(claims, sources)]
        pending = [i for i, value in enumerate(scores) if math.isnan(value)]
        if pending:
            rows = self.features([claims[i] for i in pending], [sources[i] for i in pending])
            for i, p in zip(pending, self._model.probability(rows), strict=True):
                scores[i] = float(p)
        return [value if numbers_stated(c, s) else 0.0 for value, c, s in zip(scores, claims, sources)]
