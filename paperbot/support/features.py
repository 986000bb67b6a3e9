"""Features of one (claim, cited sentences) pair for the learned support scorer; pure functions over given vectors."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from paperbot.ports import Embedder
from paperbot.support.checks import quantities
from paperbot.text.numbers import numbers_in
from paperbot.text.terms import Vocabulary, terms, weighted_coverage

# Each feature, in the order the weights file stores them, with what it measures. The groups are what the
# ablation in evals/train_support.py drops one at a time.
FEATURES: dict[str, str] = {
    # embedding: MiniLM cosine similarity, which sees paraphrase that shared words miss.
    "cos_best": "cosine of the claim and the most similar single source sentence (or the title)",
    "cos_centroid": "cosine of the claim and the mean of its source sentences' vectors (the sources as a whole; "
                    "no extra, long text to embed)",
    "cos_second": "cosine of the claim and the second most similar sentence: a claim built from two sentences",
    # coverage: IDF-weighted shared content terms, in both directions.
    "cov_all": "share of the claim's IDF mass found anywhere in its sources (the lexical scorer's score)",
    "cov_best": "share of the claim's IDF mass found in the best single sentence (by that share)",
    "cov_reverse": "share of the most similar sentence's IDF mass found in the claim: does the claim say it all",
    "unknown_terms": "share of the claim's IDF mass in terms the sources never use and the corpus never saw",
    # numbers: results are numbers, and a changed number is a wrong claim however similar the words.
    "has_numbers": "1 when the claim states a quantity (digits inside names such as M2 or H2O are not one)",
    "numbers_missing": "share of the claim's quantities that its sources never state",
    # entities: names (acronyms, genes, models, datasets) the claim brings in but the sources do not use.
    "has_entities": "1 when the claim names something (acronym, mixed case, letters with digits)",
    "entities_missing": "share of the claim's names that its sources never use (case and hyphens ignored)",
    # negation: a claim that negates what its most similar sentence says (or the reverse) reuses its words.
    "neg_claim": "1 when the claim has a negation cue (not, no, never, without, fails, lacks, ...)",
    "neg_mismatch": "1 when exactly one of the claim and its most similar sentence has a negation cue",
    # antonyms: direction words flipped (increases / decreases), the other way a wrong claim reuses words.
    "antonym_flip": "1 when the claim has a direction word whose opposite, not the word, is in its closest sentences",
    # length: a short claim is easier to cover by chance than a long one.
    "length_ratio": "log of (claim content terms + 1) / (most similar sentence content terms + 1)",
}
FEATURE_NAMES: tuple[str, ...] = tuple(FEATURES)
GROUPS: dict[str, tuple[str, ...]] = {
    "embedding": ("cos_best", "cos_centroid", "cos_second"),
    "coverage": ("cov_all", "cov_best", "cov_reverse", "unknown_terms"),
    "numbers": ("has_numbers", "numbers_missing"),
    "entities": ("has_entities", "entities_missing"),
    "negation": ("neg_claim", "neg_mismatch"),
    "antonyms": ("antonym_flip",),
    "length": ("length_ratio",),
}
assert sorted(f for g in GROUPS.values() for f in g) == sorted(FEATURES), "every feature in exactly one group"

_NEGATION = frozenset(
    "not no never none neither nor without cannot lack lacks lacking lacked fail fails failed failure absence absent "
    "unable unlikely nothing nobody insufficient".split()
)
# Direction words of scientific claims and their opposites. WordNet (nltk's data cannot be installed here) misses
# most of these (upregulates / downregulates); the list is short on purpose: each pair is a common flip in
# SciFact's contradicted claims. Compared after stemming, so "increases" and "increased" both count.
_OPPOSITES = [
    ("increase", "decrease"), ("increase", "reduce"), ("increase", "lower"), ("higher", "lower"),
    ("high", "low"), ("more", "less"), ("more", "fewer"), ("greater", "smaller"), ("larger", "smaller"),
    ("upregulate", "downregulate"), ("up", "down"), ("activate", "inhibit"), ("activate", "suppress"),
    ("promote", "inhibit"), ("promote", "suppress"), ("enhance", "reduce"), ("enhance", "impair"),
    ("improve", "worsen"), ("improve", "impair"), ("positive", "negative"), ("gain", "loss"), ("rise", "fall"),
    ("rise", "decline"), ("faster", "slower"), ("above", "below"), ("benefit", "harm"), ("induce", "prevent"),
    ("stimulate", "inhibit"), ("accelerate", "delay"), ("elevate", "reduce"), ("risk", "protect"),
    ("sensitive", "resistant"), ("efficient", "inefficient"), ("stable", "unstable"), ("major", "minor"),
]
_ENTITY = re.compile(r"[\w'-]+")


def _stem(word: str) -> str:
    stemmed = terms(word)
    return stemmed[0] if stemmed else word


def _opposites() -> dict[str, frozenset[str]]:
    table: dict[str, set[str]] = {}
    for a, b in _OPPOSITES:
        sa, sb = _stem(a), _stem(b)
        table.setdefault(sa, set()).add(sb)
        table.setdefault(sb, set()).add(sa)
    return {k: frozenset(v) for k, v in table.items()}


_OPPOSITE = _opposites()


def negated(text: str) -> bool:
    """A negation cue among the words ("does not", "no effect", "n't", "without")."""
    words = re.findall(r"[a-z']+", unicodedata.normalize("NFKC", text).casefold())
    return any(w in _NEGATION or w.endswith("n't") for w in words)


def entities(text: str) -> list[str]:
    """Names in a text: acronyms (CKD, PrP), mixed case (mRNA, LLaMA), letters with digits (IL-6, H2O, 4-PBA);
    a plural acronym (GPUs) is its singular. Returned normalised: casefolded, hyphens and apostrophes out."""
    found = []
    for token in _ENTITY.findall(unicodedata.normalize("NFKC", text)):
        token = token.strip("'-")
        if len(token) < 2:
            continue
        letters = [c for c in token if c.isalpha()]
        if not letters:
            continue  # a plain number: the number features see it
        upper_inside = any(c.isupper() for c in token[1:])
        digit_and_letter = any(c.isdigit() for c in token)
        if not (upper_inside or digit_and_letter):
            continue
        if token.endswith("s") and token[:-1].isupper() and len(token) > 2:
            token = token[:-1]
        found.append(_squash(token))
    return list(dict.fromkeys(found))


def _squash(text: str) -> str:
    return re.sub(r"[\W_]+", "", unicodedata.normalize("NFKC", text).casefold())


def flipped_direction(claim_terms: set[str], source_terms: set[str]) -> bool:
    """The claim says one direction (increase) where the source says only the opposite (decrease)."""
    for term in claim_terms:
        opposite = _OPPOSITE.get(term)
        if opposite and term not in source_terms and opposite & source_terms:
            return True
    return False


@dataclass(frozen=True)
class PairVectors:
    """Unit vectors for one pair: the claim and each source sentence (rows)."""

    claim: np.ndarray
    sentences: np.ndarray


def pair_features(claim: str, sentences: Sequence[str], vectors: PairVectors, vocabulary: Vocabulary) -> list[float]:
    """The FEATURE_NAMES values of one claim against the sentences it cites (title included as a sentence)."""
    sims = vectors.sentences @ vectors.claim if len(sentences) else np.zeros(0, dtype=np.float32)
    order = np.argsort(-sims, kind="stable")
    cos_best = float(sims[order[0]]) if len(order) else 0.0
    cos_second = float(sims[order[1]]) if len(order) > 1 else cos_best
    closest = sentences[int(order[0])] if len(order) else ""
    centroid = vectors.sentences.sum(axis=0) if len(sentences) else np.zeros_like(vectors.claim)
    norm = float(np.linalg.norm(centroid))
    cos_centroid = float(centroid @ vectors.claim) / norm if norm > 0 else 0.0

    claim_terms = terms(claim)
    wanted = set(claim_terms)
    sentence_terms = [set(terms(s)) for s in sentences]
    available = set().union(*sentence_terms) if sentence_terms else set()
    closest_terms = sentence_terms[int(order[0])] if len(order) else set()
    cov_all = weighted_coverage(wanted, available, vocabulary) if wanted else 1.0
    cov_best = max((weighted_coverage(wanted, s, vocabulary) for s in sentence_terms), default=0.0) if wanted else 1.0
    cov_reverse = weighted_coverage(closest_terms, wanted, vocabulary) if closest_terms else 0.0
    total = sum(vocabulary.idf(t) for t in wanted)
    unknown = sum(vocabulary.idf(t) for t in wanted if t not in available and not vocabulary.known(t))
    unknown_terms = unknown / total if total else 0.0

    claim_numbers = set(quantities(claim))
    stated = {n for s in sentences for n in numbers_in(s)}
    numbers_missing = len(claim_numbers - stated) / len(claim_numbers) if claim_numbers else 0.0

    names = entities(claim)
    # Compared without case, spaces and hyphens, so "IL-6" is found in "il6" and "LLaMA 2" in "Llama-2".
    source_squashed = _squash(" ".join(sentences))
    missing_names = [n for n in names if n not in source_squashed]
    entities_missing = len(missing_names) / len(names) if names else 0.0

    neg_claim, neg_closest = negated(claim), negated(closest)
    nearby = closest_terms | (sentence_terms[int(order[1])] if len(order) > 1 else set())
    flip = flipped_direction(wanted, nearby)
    length_ratio = math.log((len(claim_terms) + 1) / (len(terms(closest)) + 1))
    return [
        cos_best, cos_centroid, cos_second,
        cov_all, cov_best, cov_reverse, unknown_terms,
        float(bool(claim_numbers)), numbers_missing,
        float(bool(names)), entities_missing,
        float(neg_claim), float(neg_claim != neg_closest),
        float(flip),
        length_ratio,
    ]


def batch_features(
    claims: Sequence[str], sources: Sequence[Sequence[str]], embed: Callable[[Sequence[str]], np.ndarray] | Embedder,
    vocabulary: Vocabulary,
) -> np.ndarray:
    """Rows of FEATURE_NAMES for each pair; every distinct text (claims and source sentences) embedded once."""
    embed_fn = embed.embed if hasattr(embed, "embed") else embed
    unique = list(dict.fromkeys([*claims, *(s for group in sources for s in group)]))
    vectors = embed_fn(unique) if unique else np.zeros((0, 1), dtype=np.float32)
    row = {text: i for i, text in enumerate(unique)}
    dim = vectors.shape[1]

    def rows(texts: Sequence[str]) -> np.ndarray:
        return vectors[[row[t] for t in texts]] if texts else np.zeros((0, dim), dtype=vectors.dtype)

    out = np.empty((len(claims), len(FEATURE_NAMES)), dtype=np.float64)
    for i, (claim, sentences) in enumerate(zip(claims, sources, strict=True)):
        pair = PairVectors(
            claim=vectors[row[claim]], sentences=rows(sentences))
        out[i] = pair_features(claim, list(sentences), pair, vocabulary)
    return out
