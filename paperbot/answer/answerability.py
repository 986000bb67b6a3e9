"""Answerability score: question × evidence features and small boosted trees loaded from a versioned JSON file."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from itertools import pairwise
from pathlib import Path

import numpy as np

from paperbot.answer.answerability_names import found_names, named_terms, spellings
from paperbot.errors import ConfigError
from paperbot.text.asks import QUESTION_WORDS, Asks, asks, topic_terms
from paperbot.text.terms import Vocabulary, terms, weighted_coverage
from paperbot.types import Evidence, PaperHit

MODEL_FORMAT = "paperbot-answerability/3"
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
    "sent_coverage",    # IDF-weighted share of the question's terms in the single best-covering evidence sentence
    "sent3_coverage",   # the same for the best three sentences together, from any papers
    "rare_found",       # IDF-weighted share of the question's three rarest terms found anywhere in the evidence
    "known_terms",      # IDF-weighted share of the question's terms the corpus uses at all (off-topic: low)
    "asks_quantity",    # 1 when the question asks how much / how many / which figure
    "number_coverage",  # best coverage by a sentence stating a number (sent_coverage when no figure is asked)
    "focus_answered",   # some sentence has the asked-for thing ("how many GPUs", "which company") with a value for it
    "names_apart",      # share of the names missing from the paper that has most of them, unless the question compares
    "compares",         # 1 when the question compares or lists ("compare", "versus", "both", "which papers")
    "yes_no",           # 1 for a yes/no question ("Does X reduce Y?"): one study must cover it nearly word for word
    # The subject paper: the one using most of the question's names (without names, the best-covering one). A
    # near-miss names a real paper and asks for something it does not state, so what counts is that paper alone.
    "subject_coverage", # IDF-weighted share of the question's topic terms in the subject paper
    "subject_slot",     # best (sentence coverage × the sentence gives the kind of value asked) in the subject paper
    "subject_focus",    # 1 when a subject-paper sentence has the asked-for thing with a value of the asked kind
                        # ("How many GPUs": "GPU" and a new number); 1 too when it cannot be checked (no slot, compares)
)
# A yes/no question is answered by a study of exactly that, not by a paper on the topic. It is one whose clause starts
# with an auxiliary ("Does X reduce Y?", "Laparoscopic myomectomy: do size and number limit it?"), or a question
# with no wh-word at all ("Rotator cuff tear: an occupational disease?"). Only the first form was recognised before,
# which missed 37% of PubMedQA's yes/no questions (tune half).
_YES_NO = re.compile(r"(?:^|[:;?]|--|\u2014|\.\s)\W*(?:does|do|did|is|are|was|were|can|could|should|would|will"
                     r"|has|have|had|may|might|must)\b", re.IGNORECASE)
_WH_WORD = re.compile(r"\b(?:what|which|who|whom|whose|when|where|why|how)\b", re.IGNORECASE)
# "How much", "by how much", "what speedup": the answer is a figure, so an answering sentence states a number.
_QUANTITY_QUESTION = re.compile(
    r"\bhow (?:much|many|fast|long|large|big|small|high|low|quickly|often)\b|\bby how\b"
    r"|\bwhat (?:percentage|fraction|share|proportion)\b"
    r"|^\W*(?:what|which)\b.*\b(?:speed-?ups?|accuracy|throughput|latency|score|ratio|f1|fid|bleu|rouge|perplexity"
    r"|win rate|recall|precision|ndcg|compression)\b", re.IGNORECASE)
_DIGIT = re.compile(r"\d")
# The thing a question asks for: the words after "how many" / "what" / "which", up to its verb or a preposition.
_FOCUS = re.compile(r"\b(?:how (?:much|many|fast|long|large|big|small|high|low|quickly|often)|what|which)\s+"
                    r"(?:(?:is|are|was|were|the|a|an|kind of|type of)\s+)*"
                    r"((?:(?!(?:does|did|do|is|are|was|were|can|could|would|will|has|have|had|of|in|on|for|to|with|at"
                    r"|by|from|when|between|per)\b)[\w@.'-]+\s*){1,4})", re.IGNORECASE)
# A question that compares or lists may find each of its names in a different paper.
_COMPARES = re.compile(r"\b(?:compare|compared|comparison|versus|vs\.?|both|each|differ|difference|which papers"
                       r"|which works|what do the papers)\b", re.IGNORECASE)
# A value in a sentence: a figure, or a name the question did not bring (a model, a GPU, a company).
_VALUE = re.compile(r"\d|\b[A-Z][A-Za-z]*[A-Z0-9][\w-]*\b")
# The kind of value a question asks for, and what fills it in a sentence.
_ASKS_HARDWARE = re.compile(r"\b(?:what|which)\s+(?:\w+\s+){0,2}(?:gpus?|hardware|accelerators?|devices?|chips?|fpgas?"
                            r"|ssds?|drives?|processors?|cpus?)\b", re.IGNORECASE)
_HARDWARE = re.compile(r"\b(?:[AHVTLPB]\d{2,3}|RTX|GTX|TPU\w*|MI\d{3}|Gaudi\w*|Jetson|Versal|Xeon|EPYC|Snapdragon"
                       r"|Apple M\d|iPhone|Alveo|Stratix|Ascend)\b")
_ASKS_YEAR = re.compile(r"^\W*when (?:was|were|did|is)\b|\b(?:what|which) year\b", re.IGNORECASE)
_YEAR = re.compile(r"\b(?:19|20)\d{2}\b")
_ASKS_NAME = re.compile(r"\b(?:what|which)\s+(?:\w+\s+)?(?:datasets?|benchmarks?|models?|tasks?|languages?|corpus"
                        r"|corpora)\b", re.IGNORECASE)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
# Focus words that say how a figure compares, not what it measures ("how much faster", "what share").
_NOT_FOCUS = frozenset(terms("faster slower larger smaller fewer more less better higher lower cheaper paper papers "
                             "share percentage fraction proportion factor part"))
_ORGANISATION = Asks(organisation=True)


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
    values.update(_sentence_features(question, wanted, rare, evidence, union, vocabulary))
    values["focus_answered"] = _focus_answered(question, evidence)
    values["yes_no"] = float(is_yes_no(question))
    values["compares"] = float(bool(_COMPARES.search(question)))
    values["names_apart"] = (0.0 if not names or _COMPARES.search(question)
                             else 1.0 - values["names_found_one"])
    values.update(_subject_features(question, names, evidence, term_sets, forms, vocabulary))
    missing = tuple(n for n in names if n not in found_all)
    return Features(values, tuple(names), missing)


def is_yes_no(question: str) -> bool:
    """A question a study answers yes or no (see _YES_NO): a clause led by an auxiliary, or no wh-word at all."""
    return bool(_YES_NO.search(question)) or (question.rstrip().endswith("?") and not _WH_WORD.search(question))


def _slot(question: str) -> tuple[str | None, Callable[[str], bool]]:
    """What kind of value the question asks for, as (kind, does a sentence give one): None when it asks for none."""
    numbers, values = set(_NUMBER.findall(question)), set(_VALUE.findall(question))
    if asks(question).organisation:
        return "organisation", _ORGANISATION.satisfied_by
    if _ASKS_HARDWARE.search(question):
        return "hardware", lambda s: bool(set(_HARDWARE.findall(s)) - values)
    if _ASKS_YEAR.search(question):
        return "year", lambda s: bool(set(_YEAR.findall(s)) - numbers)
    if _QUANTITY_QUESTION.search(question):
        return "number", lambda s: bool(set(_NUMBER.findall(s)) - numbers)
    if _ASKS_NAME.search(question):
        return "name", lambda s: bool(set(_VALUE.findall(s)) - values)
    return None, lambda s: True


def _subject_features(question: str, names: list[str], evidence: Sequence[Evidence], term_sets: list[set[str]],
                      forms: list[set[str]], vocabulary: Vocabulary) -> dict[str, float]:
    """Is the asked-for value in the paper the question is about? (see FEATURES: subject_*; `term_sets` and `forms`
    are each evidence paper's terms and name spellings, as features() computed them)"""
    if not evidence:
        return {"subject_coverage": 0.0, "subject_slot": 0.0, "subject_focus": 0.0}
    wanted = topic_terms(question) or terms(question)
    subject: list[int] = []
    if names:
        counts = [len(found_names(names, f)) for f in forms]
        subject = [i for i, c in enumerate(counts) if c == max(counts) and c]
    if not subject:
        subject = [max(range(len(evidence)), key=lambda i: weighted_coverage(wanted, term_sets[i], vocabulary))]
    kind, gives = _slot(question)
    sentences = [s for i in subject for s in evidence[i].sentences]
    match = _FOCUS.search(question)
    focus = sorted((t for t in terms(match.group(1)) if t not in QUESTION_WORDS and t not in _NOT_FOCUS
                    and not t.isdigit()), key=lambda t: -vocabulary.idf(t))[:1] if match else []
    checkable = kind is not None and not _COMPARES.search(question)
    return {
        "subject_coverage": max(weighted_coverage(wanted, term_sets[i], vocabulary) for i in subject),
        "subject_slot": max((weighted_coverage(wanted, set(terms(s)), vocabulary) * gives(s) for s in sentences),
                            default=0.0),
        "subject_focus": float(any(set(focus) <= set(terms(s)) and gives(s) for s in sentences)) if checkable else 1.0,
    }


def _focus_answered(question: str, evidence: Sequence[Evidence]) -> float:
    """1 when some evidence sentence names what the question asks for (its focus words) together with a value
    the question does not already give; 1 when the question has no such focus (it cannot be checked this way)."""
    match = _FOCUS.search(question)
    focus = set(terms(match.group(1))) if match else set()
    if not focus:
        return 1.0
    given = set(_VALUE.findall(question))
    for e in evidence:
        for sentence in e.sentences:
            if focus <= set(terms(sentence)) and set(_VALUE.findall(sentence)) - given:
                return 1.0
    return 0.0


def _sentence_features(question: str, wanted: list[str], rare: list[str], evidence: Sequence[Evidence],
                       union: set[str], vocabulary: Vocabulary) -> dict[str, float]:
    """Does one sentence (or three) say what the question asks? A paper on the topic covers the question's words
    across its abstract; the sentence that answers covers them in one place, and states a figure if one is asked."""
    sentences = [s for e in evidence for s in e.sentences]
    scored = sorted(((weighted_coverage(wanted, set(terms(s)), vocabulary), s) for s in sentences),
                    key=lambda pair: -pair[0])
    best3 = set().union(*(set(terms(s)) for _, s in scored[:3])) if scored else set()
    asks_quantity = bool(_QUANTITY_QUESTION.search(question))
    with_number = [c for c, s in scored if _DIGIT.search(s)]
    best = scored[0][0] if scored else 0.0
    return {
        "sent_coverage": best,
        "sent3_coverage": weighted_coverage(wanted, best3, vocabulary),
        "rare_found": weighted_coverage(rare, union, vocabulary),
        "known_terms": weighted_coverage(wanted, {t for t in wanted if vocabulary.known(t)}, vocabulary),
        "asks_quantity": float(asks_quantity),
        "number_coverage": (with_number[0] if with_number else 0.0) if asks_quantity else best,
    }


@dataclass(frozen=True)
class Tree:
    """One regression tree of the boosted ensemble, as parallel arrays (a leaf has feature -1)."""

    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray  # every node's value: a leaf's output, an inner node's mean (for contributions)

    def path(self, x: np.ndarray) -> list[int]:
        node, nodes = 0, [0]
        while self.feature[node] >= 0:
            node = int(self.left[node] if x[self.feature[node]] <= self.threshold[node] else self.right[node])
            nodes.append(node)
        return nodes


@dataclass(frozen=True)
class AnswerabilityModel:
    """Gradient-boosted trees: p(answerable) = sigmoid(init + rate · Σ tree(x))."""

    version: str
    init: float
    rate: float
    trees: tuple[Tree, ...]

    def logit(self, x: np.ndarray) -> float:
        return self.init + self.rate * sum(float(t.value[t.path(x)[-1]]) for t in self.trees)

    def probability(self, feats: Features) -> float:
        z = self.logit(feats.vector())
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def contributions(self, feats: Features) -> dict[str, float]:
        """Each feature's share of the logit (each split's change of node value is credited to its feature), so a
        refusal can say what pulled the score down."""
        x = feats.vector()
        parts = np.zeros(len(FEATURES))
        for tree in self.trees:
            nodes = tree.path(x)
            for parent, child in pairwise(nodes):
                parts[tree.feature[parent]] += self.rate * (tree.value[child] - tree.value[parent])
        return dict(zip(FEATURES, map(float, parts)))


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


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
    for field in ("init", "rate"):
        if not _finite(data.get(field)):
            raise fail(field, "must be a finite number")
    raw_trees = data.get("trees")
    if not isinstance(raw_trees, list) or not raw_trees or len(raw_trees) > 2000:
        raise fail("trees", "must be a list of 1 to 2000 trees")
    trees = []
    for number, raw in enumerate(raw_trees):
        field = f"trees[{number}]"
        columns = {}
        for key in ("feature", "threshold", "left", "right", "value"):
            column = raw.get(key) if isinstance(raw, dict) else None
            if not isinstance(column, list) or not column or not all(_finite(v) for v in column):
                raise fail(f"{field}.{key}", "must be a non-empty list of finite numbers")
            columns[key] = column
        size = len(columns["feature"])
        if any(len(c) != size for c in columns.values()):
            raise fail(field, "must have equally long feature, threshold, left, right and value lists")
        feature = np.array(columns["feature"], dtype=int)
        left, right = np.array(columns["left"], dtype=int), np.array(columns["right"], dtype=int)
        inner = feature >= 0
        # Children point forward, so walking a tree always ends at a leaf.
        if ((feature >= len(FEATURES)).any() or (inner & ((left <= np.arange(size)) | (left >= size)
                                                          | (right <= np.arange(size)) | (right >= size))).any()):
            raise fail(field, "has a feature index or child pointer out of range")
        trees.append(Tree(feature, np.array(columns["threshold"], dtype=float), left, right,
                          np.array(columns["value"], dtype=float)))
    version = data.get("version")
    if not isinstance(version, str) or not version:
        raise fail("version", "must be a non-empty string")
    return AnswerabilityModel(version, float(data["init"]), float(data["rate"]), tuple(trees))


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
