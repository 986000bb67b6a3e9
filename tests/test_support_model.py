"""The learned support scorer: its weights file (loading, validation), the number check, the quoted-sentence shortcut,
paraphrase against word-reusing wrong claims on real SciFact abstracts, and Answer.support_scorer."""

from __future__ import annotations

import json

import numpy as np
import pytest

from paperbot.support.checks import NumberChecked, numbers_stated
from paperbot.support.features import FEATURE_NAMES
from paperbot.support.learned import DEFAULT_MODEL_FILE, LearnedSupportScorer, SupportModelError, load_model, quoted
from paperbot.support.scorer import LexicalSupportScorer
from paperbot.text.terms import Vocabulary


def test_shipped_model_loads_and_says_how_it_was_made():
    model = load_model()
    assert model.name == "learned-v1"
    assert model.features == FEATURE_NAMES
    assert 0 < model.threshold < 1
    assert model.embedder == "chroma-onnx/all-MiniLM-L6-v2"
    assert "python -m evals.train_support" in model.provenance["command"]
    assert "sha256(claim id)" in model.provenance["split"]
    rows = np.zeros((2, len(FEATURE_NAMES)))
    assert ((model.probability(rows) > 0) & (model.probability(rows) < 1)).all()


def _written(tmp_path, change):
    data = json.loads(DEFAULT_MODEL_FILE.read_text())
    change(data)
    path = tmp_path / "support_model.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(version=2), "field 'version' is 2"),
    (lambda d: d.update(format="something-else"), "field 'format'"),
    (lambda d: d["features"].reverse(), "field 'features'"),
    (lambda d: d.update(features=d["features"][:-1]), "field 'features'"),
    (lambda d: d.update(coefficients=d["coefficients"][:-1]), "field 'coefficients'"),
    (lambda d: d["coefficients"].__setitem__(0, None), "field 'coefficients'"),
    (lambda d: d["scaler"].update(scale=[0.0] * len(d["features"])), "field 'scaler.scale'"),
    (lambda d: d.pop("intercept"), "field 'intercept' is missing"),
    (lambda d: d.update(threshold=1.5), "field 'threshold'"),
    (lambda d: d.update(threshold="high"), "wrong type"),
])
def test_a_bad_weights_file_fails_naming_the_file_and_the_field(tmp_path, change, message):
    path = _written(tmp_path, change)
    with pytest.raises(SupportModelError) as failure:
        load_model(path)
    assert str(path) in str(failure.value)
    assert message in str(failure.value)


def test_a_missing_or_unreadable_weights_file_says_what_to_do(tmp_path):
    with pytest.raises(SupportModelError, match="file not found.*PAPERBOT_SUPPORT_SCORER=lexical"):
        load_model(tmp_path / "absent.json")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(SupportModelError, match="not readable JSON.*evals.train_support"):
        load_model(tmp_path / "broken.json")


@pytest.mark.parametrize(("claim", "sources", "expected"), [
    ("KV memory falls by 80%.", ["Memory falls by 80 percent."], True),
    ("KV memory falls by 80%.", ["Memory falls by 60%."], False),
    ("It runs 2.5x faster on 8 GPUs.", ["It is 2.50 times faster.", "We use 8 GPUs."], True),  # across sentences
    ("It handles 1,000 requests.", ["It handles 1000 requests."], True),
    ("It is faster.", ["It is 3x faster."], True),  # no number claimed
    ("Attention runs on H₂O.", ["H2O keeps heavy hitters."], True),
    ("M2 macrophages and CD4 cells rise.", ["Alternative activation of macrophages rises."], True),  # names
    ("The 70B model is 4x faster.", ["The 70B model is 3x faster."], False),  # units are quantities
])
def test_numbers_stated(claim, sources, expected):
    assert numbers_stated(claim, sources) is expected


def test_the_number_check_overrules_any_score():
    vocabulary = Vocabulary(["memory falls", "speed rises", "kv cache memory"])
    lexical = LexicalSupportScorer(vocabulary)
    claims, sources = ["KV cache memory falls by 80%."], [["KV cache memory falls by 60%."]]
    assert lexical.score(claims, sources)[0] > lexical.threshold  # the words are all there
    checked = NumberChecked(lexical)
    assert checked.score(claims, sources) == [0.0]
    assert checked.name == "lexical" and checked.threshold == lexical.threshold


def test_the_lexical_threshold_is_the_fitted_one_and_settings_choose_it(make_bot):
    from pathlib import Path

    from paperbot.config import Settings

    results = Path(__file__).resolve().parent.parent / "evals" / "results" / "support-model.json"
    fitted = json.loads(results.read_text())["lexical"]["threshold"]  # evals/train_support.py, tune half
    shipped = Settings.model_fields["lexical_support_threshold"].default
    assert shipped == fitted
    assert LexicalSupportScorer(Vocabulary(["a b"])).threshold == shipped
    assert LexicalSupportScorer(Vocabulary(["a b"]), 0.3).threshold == 0.3
    bot = make_bot(support_scorer="lexical", lexical_support_threshold=0.42)
    assert bot.support_scorer.name == "lexical" and bot.support_scorer.threshold == 0.42


@pytest.mark.parametrize(("claim", "sentences", "expected"), [
    ("Heavy hitters keep the cache small.", ["We find that heavy hitters keep the cache small."], True),
    ("heavy  hitters, keep the CACHE small", ["Heavy hitters keep the cache small."], True),
    ("Heavy hitters keep the cache tiny.", ["Heavy hitters keep the cache small."], False),
    ("", ["Anything."], False),
])
def test_quoted(claim, sentences, expected):
    assert quoted(claim, sentences) is expected


class CountingEmbedder:
    """The real embedder, with the texts it was asked to embed recorded."""

    def __init__(self, embedder):
        self._embedder = embedder
        self.asked: list[str] = []

    def embed(self, texts):
        self.asked.extend(texts)
        return self._embedder.embed(texts)


@pytest.mark.slow
def test_quoted_sentences_score_1_without_embedding_and_wrong_numbers_score_0(embedder):
    counting = CountingEmbedder(embedder)
    sources = ["H2O: Heavy-Hitter Oracle", "H2O reduces KV cache memory by up to 5x.", "It keeps heavy hitters."]
    scorer = LearnedSupportScorer(counting, Vocabulary(sources))
    assert scorer.score(["H2O reduces KV cache memory by up to 5x.", "It keeps heavy hitters"],
                        [sources, sources]) == [1.0, 1.0]
    assert counting.asked == []  # extractive answers quote: they never wait for the model
    wrong, right = scorer.score(["H2O cuts KV cache memory by up to 9x.", "H2O makes the KV cache five times smaller."],
                                [sources, sources])
    assert wrong == 0.0
    assert 0 < right <= 1
    asked = len(counting.asked)
    scorer.score(["H2O makes the KV cache five times smaller."], [sources])
    assert len(counting.asked) == asked  # vectors are kept between calls


def _scifact(models_dir):
    corpus = models_dir.parent / "datasets" / "scifact" / "corpus.jsonl"
    if not corpus.is_file():
        pytest.skip(f"SciFact not found at {corpus}")
    from paperbot.text.sentences import sentence_spans

    records = {}
    for line in corpus.read_text().splitlines():
        record = json.loads(line)
        records[record["_id"]] = [record["title"], *(record["text"][s:e] for s, e in sentence_spans(record["text"]))]
    return records


# Held-out SciFact claims (odd first byte of sha256(claim id): never fitted on) that their abstract SUPPORTs, each
# with a wrong claim written for this test that reuses the abstract's own words.
PARAPHRASE_PAIRS = [
    ("An M2-like phenotype in brown adipose tissue macrophages is quickly induced by cold exposure.", "4319174",
     "Exposure to cold temperature rapidly suppressed alternative activation of adipose tissue macrophages."),
    ("Patients in stable partnerships have a slower progression from HIV to AIDS.", "17077004",
     "A stable partnership is associated with a faster rate of progression to AIDS or death in HIV infected "
     "patients receiving HAART."),
    pytest.param(
        "Surgical treatment is not superior to non-surgical in treating adults with displaced fractures of the "
        "proximal humerus.", "44048701",
        "These results support the trend of increased surgery for patients with displaced fractures of the proximal "
        "humerus.",
        # Known miss, kept so that a better scorer shows: the source's own sentence with its "do not" removed
        # still outscores the paraphrase (the negation cue weighs little against near-total word overlap).
        marks=pytest.mark.xfail(strict=True, reason="learned-v1 misses a removed negation in the source's words")),
    ("Human embryonic stem cells give rise to cell types from all three embryonic germ layers.", "36651210",
     "Embryonic stem cells cannot differentiate into derivatives of all three embryonic germ layers."),
]


@pytest.mark.slow
@pytest.mark.parametrize(("paraphrase", "doc", "wrong"), PARAPHRASE_PAIRS)
def test_a_paraphrase_scores_above_a_wrong_claim_in_the_sources_words(models_dir, embedder, paraphrase, doc, wrong):
    sources = _scifact(models_dir)[doc]
    scorer = LearnedSupportScorer(embedder, Vocabulary(sources))
    right_score, wrong_score = scorer.score([paraphrase, wrong], [sources, sources])
    assert right_score > wrong_score


@pytest.mark.slow
def test_answers_say_which_scorer_ran(demo_store, models_dir, embedder):
    from paperbot.bot import PaperBot
    from paperbot.config import Settings

    question = "Which papers reduce KV cache memory, and by how much?"
    learned = PaperBot(Settings(data_dir=demo_store, models_dir=models_dir), embedder=embedder)
    answer = learned.ask(question, mode="extractive")
    assert answer.support_scorer == "learned-v1"
    assert answer.sentences and all(s.supported and s.score == 1.0 for s in answer.sentences if s.keys)
    lexical = PaperBot(Settings(data_dir=demo_store, models_dir=models_dir, support_scorer="lexical"),
                       embedder=embedder)
    assert lexical.ask(question, mode="extractive").support_scorer == "lexical"
