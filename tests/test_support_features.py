"""Support features, one table per cue: names, negation, direction flips, and each feature of a hand-made pair."""

from __future__ import annotations

import numpy as np
import pytest

from paperbot.support.features import (
    FEATURE_NAMES,
    GROUPS,
    PairVectors,
    batch_features,
    entities,
    flipped_direction,
    negated,
    pair_features,
)
from paperbot.text.terms import Vocabulary, terms


@pytest.mark.parametrize(("text", "expected"), [
    ("4-PBA treatment decreases endoplasmic reticulum stress.", ["4pba"]),
    ("mRNA vaccines raise IL-6 levels in CKD patients.", ["mrna", "il6", "ckd"]),
    ("H₂O keeps the heavy hitters of LLaMA-2.", ["h2o", "llama2"]),
    ("GPUs and TPUs run it.", ["gpu", "tpu"]),
    ("The results were good in 2020 and 1,024 runs.", []),
    ("Insulin lowers glucose.", []),
])
def test_entities(text, expected):
    assert entities(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Folic acid does not affect CKD progression.", True),
    ("There was no effect on mortality.", True),
    ("It doesn't help.", True),
    ("Mice without the gene fail to develop tumours.", True),
    ("Folic acid slows CKD progression.", False),
    ("Notable gains in knowledge.", False),  # "not" inside a word is not a cue
])
def test_negated(text, expected):
    assert negated(text) is expected


@pytest.mark.parametrize(("claim", "source", "expected"), [
    ("Treatment increases stress.", "Treatment decreased stress markers.", True),
    ("The drug upregulates TNF.", "The drug downregulated TNF expression.", True),
    ("Higher doses were used.", "Lower doses were used.", True),
    ("Treatment increases stress.", "Treatment increased stress but decreased apoptosis.", False),  # word present
    ("Treatment increases stress.", "Treatment altered stress markers.", False),
])
def test_flipped_direction(claim, source, expected):
    assert flipped_direction(set(terms(claim)), set(terms(source))) is expected


VOCABULARY = Vocabulary([
    "folic acid lowers homocysteine in chronic kidney disease", "vitamin B12 dosage trial", "mortality was reduced",
    "patients were randomised", "the trial enrolled 2056 patients", "stress markers increased in mice",
])


def _vectors(claim_vec, sentence_vecs):
    def unit(v):
        v = np.asarray(v, dtype=np.float64)
        return v / np.linalg.norm(v)

    return PairVectors(unit(claim_vec), np.array([unit(v) for v in sentence_vecs]))


def _features(claim, sentences, claim_vec=(1, 0, 0), sentence_vecs=None):
    sentence_vecs = sentence_vecs or [(1, 0, 0)] + [(0, 1, 0)] * (len(sentences) - 1)
    vectors = _vectors(claim_vec, sentence_vecs)
    return dict(zip(FEATURE_NAMES, pair_features(claim, sentences, vectors, VOCABULARY)))


@pytest.mark.parametrize(("claim", "sentences", "feature", "expected"), [
    # numbers: share of the claim's numbers its sources never state
    ("The trial enrolled 2,056 patients.", ["The trial enrolled 2056 patients."], "numbers_missing", 0.0),
    ("The trial enrolled 3,000 patients.", ["The trial enrolled 2056 patients."], "numbers_missing", 1.0),
    ("20% of 40 mice died.", ["Of 40 mice, 35% died."], "numbers_missing", 0.5),
    ("Mortality was reduced.", ["Mortality was reduced."], "has_numbers", 0.0),
    ("20% of 40 mice died.", ["Of 40 mice, 35% died."], "has_numbers", 1.0),
    # entities: names the sources never use (case and hyphens ignored)
    ("IL-6 rose in CKD.", ["il6 rose in chronic kidney disease (CKD)."], "entities_missing", 0.0),
    ("IL-6 rose in CKD.", ["TNF rose in CKD."], "entities_missing", 0.5),
    ("Mortality was reduced.", ["Mortality was reduced."], "has_entities", 0.0),
    # negation: the claim against its most similar sentence
    ("Folic acid does not lower homocysteine.", ["Folic acid lowers homocysteine."], "neg_mismatch", 1.0),
    ("Folic acid does not lower homocysteine.", ["Folic acid did not lower homocysteine."], "neg_mismatch", 0.0),
    ("Folic acid does not lower homocysteine.", ["Folic acid did not lower homocysteine."], "neg_claim", 1.0),
    # direction words flipped
    ("Stress markers decreased in mice.", ["Stress markers increased in mice."], "antonym_flip", 1.0),
    ("Stress markers increased in mice.", ["Stress markers increased in mice."], "antonym_flip", 0.0),
    # coverage, both ways
    ("Folic acid lowers homocysteine.", ["Folic acid lowers homocysteine in kidney disease."], "cov_all", 1.0),
    ("Folic acid lowers homocysteine.", ["Vitamin B12 dosage trial."], "cov_all", 0.0),
    ("Folic acid lowers homocysteine.", ["Folic acid lowers homocysteine."], "cov_reverse", 1.0),
    ("Folic acid lowers homocysteine.", ["Folic acid lowers homocysteine.", "Vitamin dosage."], "cov_best", 1.0),
    # length: log((claim terms + 1) / (closest sentence terms + 1))
    ("Folic acid lowers homocysteine.", ["Folic acid lowers homocysteine."], "length_ratio", 0.0),
])
def test_pair_feature(claim, sentences, feature, expected):
    assert _features(claim, sentences)[feature] == pytest.approx(expected, abs=1e-9)


def test_cosines_pick_the_closest_sentence_and_the_centroid():
    values = _features("claim", ["a", "b", "c"], claim_vec=(1, 1, 0),
                       sentence_vecs=[(0, 0, 1), (1, 0, 0), (1, 1, 0)])
    assert values["cos_best"] == pytest.approx(1.0)
    assert values["cos_second"] == pytest.approx(np.sqrt(0.5))
    centroid = np.array([0, 0, 1]) + np.array([1, 0, 0]) + np.array([1, 1, 0]) / np.sqrt(2)
    claim = np.array([1, 1, 0]) / np.sqrt(2)
    assert values["cos_centroid"] == pytest.approx(centroid @ claim / np.linalg.norm(centroid))


def test_unknown_terms_counts_words_neither_the_sources_nor_the_corpus_use():
    assert _features("Quokkas lower homocysteine.", ["Folic acid lowers homocysteine."])["unknown_terms"] > 1 / 3
    assert _features("Folic acid lowers homocysteine.", ["Folic acid lowers homocysteine."])["unknown_terms"] == 0


def test_groups_cover_every_feature_once():
    grouped = [name for names in GROUPS.values() for name in names]
    assert sorted(grouped) == sorted(FEATURE_NAMES) and len(grouped) == len(set(grouped))


def test_batch_embeds_each_distinct_text_once_and_nothing_else():
    calls: list[list[str]] = []

    def embed(texts):
        calls.append(list(texts))
        rng = np.random.default_rng([len(t) for t in texts])
        vectors = rng.normal(size=(len(texts), 8))
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    shared = ["Folic acid lowers homocysteine.", "Mortality was reduced."]
    rows = batch_features(["Folic acid works.", "Mortality fell.", "Folic acid works."], [shared, shared, shared],
                          embed, VOCABULARY)
    assert rows.shape == (3, len(FEATURE_NAMES))
    assert len(calls) == 1
    assert sorted(calls[0]) == sorted(set(calls[0]))  # no text twice
    assert set(calls[0]) == {"Folic acid works.", "Mortality fell.", *shared}
    np.testing.assert_allclose(rows[0], rows[2])
