"""Abstention: names and the spellings papers use, the scorer's features, the decision, and the model file."""

from __future__ import annotations

import json
import math
from importlib import resources

import pytest

from paperbot.answer.abstention import assess, decide
from paperbot.answer.answerability import FEATURES, MODEL_FORMAT, features, is_yes_no, load_model, parse_model
from paperbot.answer.answerability_names import found_names, name_key, named_terms, spellings
from paperbot.answer.answerer import SENTINEL
from paperbot.config import Settings
from paperbot.errors import ConfigError
from paperbot.text.terms import Vocabulary
from paperbot.types import ChunkHit, Evidence, PaperHit


@pytest.mark.parametrize(("question", "names"), [
    # The issue's comparison question: "Lamina" opens the sentence, "GPUs" is a plural acronym, not a name.
    (("Lamina and InstInfer both offload attention away from the main GPUs. Where does each one run the attention "
      "computation?"), ["InstInfer", "GPU"]),
    ("What top-1 accuracy does DeiT-S reach?", ["top-1", "DeiT-S"]),
    ("How fast is a 12B model at 4-bit with 100ms budgets on 8GB and 3.5GHz?", []),  # quantities with units
    ("Does H₂O beat StreamingLLM on WikiText-2?", ["H2O", "StreamingLLM", "WikiText-2"]),  # subscript folded
    ("Which papers evaluate on LLaMA-2 and BLEU?", ["LLaMA-2", "BLEU"]),
    ("How do octopuses taste with their arms?", []),
    ("What do LLMs and CNNs share?", ["LLM", "CNN"]),
    ("Is the speedup 2x or 4x?", []),
])
def test_named_terms(question, names):
    assert named_terms(question) == names


@pytest.mark.parametrize(("name", "text", "found"), [
    ("LLaMA-2", "We fine-tune Llama 2 on chat data.", True),
    ("LLaMA-2", "Results on llama2-chat.", True),
    ("Llama 2", "We evaluate LLaMA-2 models.", True),
    ("LLaMA-2-7B", "on LLaMA-2 7B and 13B", True),
    ("H2O", "H₂O keeps heavy hitters.", True),
    ("GPU", "runs on commodity GPUs", True),
    ("DeiT-S", "DeiT-S reaches 79.8% top-1.", True),
    ("InstInfer", "Lamina offloads attention to memory devices.", False),
    ("BLEU", "We report perplexity only.", False),
    ("LLaMA-3", "We fine-tune Llama 2.", False),
])
def test_a_name_is_found_by_the_spellings_a_paper_uses(name, text, found):
    assert (found_names([name], spellings(text)) == [name]) is found


def test_name_key_is_one_spelling():
    assert {name_key(n) for n in ("LLaMA-2", "Llama 2", "llama2", "LLAMA_2")} == {"llama2"}
    assert name_key("H₂O") == name_key("H2O") == "h2o"


def _hit(rank: int, paper_id: str, dense: float | None, lexical: bool = True) -> PaperHit:
    chunk = ChunkHit(f"{paper_id}#0", 0, "text", 0, 4, dense_rank=rank if dense is not None else None,
                     lexical_rank=rank if lexical else None, dense_score=dense, lexical_score=1.0 if lexical else None)
    return PaperHit(rank, paper_id, paper_id, 1.0 / rank, 2024, (), None, (chunk,))


def _evidence(key: str, paper_id: str, title: str, text: str) -> Evidence:
    return Evidence(key, paper_id, title, None, 2024, (text,), int(key[1:]), 1.0)


def test_features_find_names_across_papers_for_a_comparison():
    question = "Lamina and InstInfer both offload attention away from the main GPUs. Where does each run it?"
    evidence = [_evidence("P1", "a", "InstInfer: In-Storage Attention Offloading", "Attention runs in flash drives."),
                _evidence("P2", "b", "Attention offloading", "Lamina runs attention on memory devices, not GPUs.")]
    hits = [_hit(1, "a", 0.62), _hit(2, "b", 0.55, lexical=False)]
    vocabulary = Vocabulary([f"{e.title} {e.text}" for e in evidence] + ["an unrelated paper about proteins"])
    feats = features(question, hits, evidence, vocabulary)
    assert feats.names == ("InstInfer", "GPU") and feats.missing_names == ()
    assert feats.values["names_found_all"] == 1.0, "each name is in some paper: nothing is missing"
    assert feats.values["names_found_one"] == 0.5, "no single paper has both, which a comparison does not need"
    assert feats.values["best_dense"] == pytest.approx(0.62)
    assert feats.values["dense_gap"] == pytest.approx(0.07)
    assert feats.values["lexical_share"] == 0.5
    assert feats.values["dense_margin"] == pytest.approx(0.07)
    assert feats.values["rare_coverage"] < 1, "the question's rarest terms (\"main\", \"away\", ...) are in no paper"
    assert set(feats.values) == set(FEATURES)


def test_features_of_a_question_about_absent_names():
    evidence = [_evidence("P1", "a", "Big Little Decoder", "Speculative decoding with a small and a large model.")]
    vocabulary = Vocabulary([f"{e.title} {e.text}" for e in evidence])
    feats = features("What BLEU does the Big Little Decoder reach on WMT 2014?", [_hit(1, "a", 0.5)], evidence,
                     vocabulary)
    assert feats.missing_names == ("BLEU", "WMT")
    assert feats.names == ("BLEU", "Big", "Little", "Decoder", "WMT")
    assert feats.values["names_found_all"] == pytest.approx(3 / 5) and feats.values["rare_coverage"] == 0.0


def _subject_features(question: str, *texts: str) -> dict[str, float]:
    evidence = [_evidence(f"P{i}", f"p{i}", title, text) for i, (title, text) in
                enumerate((t.split(": ", 1) for t in texts), start=1)]
    vocabulary = Vocabulary([f"{e.title} {e.text}" for e in evidence] + ["an unrelated paper about proteins"])
    return features(question, [_hit(i + 1, e.paper_id, 0.5) for i, e in enumerate(evidence)], evidence,
                    vocabulary).values


@pytest.mark.parametrize(("question", "subject_focus"), [
    ("How many GPUs did PyramidDrop use?", 1.0),  # "GPUs" next to a number in PyramidDrop's own abstract
    ("How many layers does PyramidDrop drop?", 0.0),  # the number is there, but not for layers
    ("What GPU did Splitwise use for token generation?", 0.0),  # the H100 is in another paper
    ("How is attention made cheaper by PyramidDrop?", 1.0),  # asks for no value: nothing to check
])
def test_subject_focus_looks_for_the_asked_value_in_the_paper_the_question_names(question, subject_focus):
    values = _subject_features(question, "PyramidDrop: PyramidDrop trains on 8 GPUs and keeps 40% of tokens.",
                               "Splitwise: Splitwise splits prompt and token generation onto separate machines.",
                               "Other: An H100 serves 1000 tokens per second.")
    assert values["subject_focus"] == subject_focus


def test_subject_coverage_is_that_of_the_named_paper_not_the_best_covering_one():
    values = _subject_features("How much memory does Lamina save for long prompts?",
                               "Lamina: Lamina offloads attention.",
                               "Other: Long prompts need memory; we save memory for long prompts.")
    assert values["subject_coverage"] < values["best_coverage"]
    assert values["subject_slot"] == 0.0, "Lamina's abstract gives no figure"


@pytest.mark.parametrize(("probability", "names_missing", "yes_no", "answerable"), [
    (0.9, False, False, True), (0.9, True, True, True),
    (0.5, False, False, True), (0.5, True, False, False),  # a missing name asks for more confidence
    (0.5, False, True, False), (0.6, False, True, True),  # so does a yes/no question
    (0.7, True, False, True), (0.7, True, True, True), (0.65, True, True, False),
    (0.49, False, False, False), (0.0, False, False, False), (0.0, True, True, False), (1.0, True, True, True),
])
def test_decide(probability, names_missing, yes_no, answerable):
    assert decide(probability, names_missing=names_missing, yes_no=yes_no, threshold=0.5, missing_name_threshold=0.7,
                  yes_no_threshold=0.6) is answerable


def test_decide_at_the_edges():
    assert decide(0.0, names_missing=False, yes_no=False, threshold=0.0, missing_name_threshold=0.0,
                  yes_no_threshold=0.0)
    assert decide(1.0, names_missing=True, yes_no=True, threshold=1.0, missing_name_threshold=1.0, yes_no_threshold=1.0)
    assert not decide(0.99, names_missing=True, yes_no=False, threshold=0.0, missing_name_threshold=1.0,
                      yes_no_threshold=0.0)
    assert not decide(0.99, names_missing=False, yes_no=True, threshold=0.0, missing_name_threshold=0.0,
                      yes_no_threshold=1.0)


def test_sentence_features_want_one_sentence_that_answers():
    """A paper on the topic spreads the question's words over its abstract; an answering sentence has them together,
    with a figure when a figure is asked for."""
    vocabulary = Vocabulary(["Lamina offloads attention to memory devices.", "A paper about proteins and cells.",
                             "Edge servers fine-tune adapters.", "Lamina gives 12.1x higher throughput per dollar."])
    answering = [_evidence("P1", "a", "Lamina", "Lamina gives 12.1x higher throughput per dollar.")]
    scattered = [_evidence("P1", "a", "FedPipe", "We fine-tune adapters on edge servers. Throughput matters.")]
    asked = features("How much higher throughput per dollar does Lamina give?", [_hit(1, "a", 0.6)], answering,
                     vocabulary)
    assert asked.values["asks_quantity"] == 1.0 and asked.values["yes_no"] == 0.0
    assert asked.values["number_coverage"] == asked.values["sent_coverage"] > 0.7, "the best sentence has the figure"
    assert asked.values["focus_answered"] == 1.0  # "higher throughput" stands in a sentence with a figure
    missing = features("How many edge servers did FedPipe use?", [_hit(1, "a", 0.6)], scattered, vocabulary)
    assert missing.values["asks_quantity"] == 1.0 and missing.values["number_coverage"] == 0.0
    assert missing.values["focus_answered"] == 0.0, "edge servers are named, but never with a number"
    short = features("How is attention made cheaper?", [_hit(1, "a", 0.6)], answering, vocabulary)
    assert short.values["asks_quantity"] == 0.0 and short.values["focus_answered"] == 1.0, "nothing to check"
    assert features("Does Lamina cut cost?", [_hit(1, "a", 0.6)], answering, vocabulary).values["yes_no"] == 1.0


@pytest.mark.parametrize(("question", "yes_no"), [
    ("Does Lamina cut cost?", True),
    # Research questions put their subject first: the auxiliary leads the clause after the colon or full stop.
    ("Laparoscopic myomectomy: do size, number, and location of the myomas form limiting factors?", True),
    ("Long-term significance of postictal psychotic episodes II. Are they predictive of interictal episodes?", True),
    ("Rotator cuff tear--an occupational disease?", True),  # no wh-word: it asks yes or no
    ("Very high serum CA 19-9 levels: a contraindication to pancreaticoduodenectomy?", True),
    ("How much does Lamina cut cost?", False),
    ("Lamina and InstInfer both offload attention away from the main GPUs. Where does each one run it?", False),
    ("In the setup where a small model drafts, how much faster is decoding?", False),
    ("Compare SwiftKV and Lamina", False),  # a request, not a question
    ("What does the paper say: is it faster?", True),  # its last clause asks yes or no
])
def test_yes_no_questions_are_found_wherever_their_clause_starts(question, yes_no):
    assert is_yes_no(question) is yes_no


def test_names_apart_counts_only_for_questions_that_do_not_compare():
    evidence = [_evidence("P1", "a", "Sirius", "Sirius corrects sparse models."),
                _evidence("P2", "b", "SwiftKV", "SwiftKV runs on H100 GPUs.")]
    hits = [_hit(1, "a", 0.6), _hit(2, "b", 0.5)]
    vocabulary = Vocabulary([f"{e.title} {e.text}" for e in evidence])
    single = features("What speedup does Sirius give on an H100?", hits, evidence, vocabulary)
    assert single.values["names_apart"] == 0.5 and single.values["compares"] == 0.0
    compared = features("Compare Sirius and SwiftKV.", hits, evidence, vocabulary)
    assert compared.values["names_apart"] == 0.0 and compared.values["compares"] == 1.0


def test_assess_without_hits_declines_with_a_reason():
    result = assess("anything", [], [], Vocabulary(), threshold=0.5, missing_name_threshold=0.5)
    assert not result.answerable and result.reason == "no paper matches the question"


def test_assess_names_what_no_paper_mentions():
    evidence = [_evidence("P1", "a", "Big Little Decoder", "Speculative decoding with a small and a large model.")]
    vocabulary = Vocabulary([f"{e.title} {e.text}" for e in evidence])
    result = assess("What BLEU does the Big Little Decoder reach on WMT 2014?", [_hit(1, "a", 0.5)], evidence,
                    vocabulary, threshold=0.0, missing_name_threshold=1.0)  # declined for the missing names
    assert not result.answerable and result.reason == "no retrieved paper mentions BLEU, WMT"
    assert 0 <= result.probability < 1 and result.model_version == load_model().version


def _model_body(**changes) -> dict:
    # One stump on best_dense (feature 0): below 0.5 the logit drops by 1, above it rises by 1.
    stump = {"feature": [0, -2, -2], "threshold": [0.5, -2.0, -2.0], "left": [1, -1, -1], "right": [2, -1, -1],
             "value": [0.0, -1.0, 1.0]}
    body = {"format": MODEL_FORMAT, "version": "test", "features": list(FEATURES), "init": 0.25, "rate": 0.5,
            "trees": [stump, stump]}
    body.update(changes)
    return body


@pytest.mark.parametrize(("changes", "field"), [
    ({"format": "other/9"}, "format"),
    ({"features": list(reversed(FEATURES))}, "features"),
    ({"init": None}, "init"),
    ({"rate": float("inf")}, "rate"),
    ({"trees": []}, "trees"),
    ({"trees": [{"feature": [0], "threshold": [0.5], "left": [1], "right": [2]}]}, r"trees\[0\]\.value"),
    ({"trees": [{"feature": [0, -2], "threshold": [0.5, 0], "left": [1, -1], "right": [2, -1],
                 "value": [0, 1]}]}, r"trees\[0\]"),  # a child pointer past the end
    ({"trees": [{"feature": [0, -2, -2], "threshold": [0.5, 0, 0], "left": [0, -1, -1], "right": [2, -1, -1],
                 "value": [0, 1, 1]}]}, r"trees\[0\]"),  # a loop back to the root
    ({"trees": [{"feature": [99, -2, -2], "threshold": [0.5, 0, 0], "left": [1, -1, -1], "right": [2, -1, -1],
                 "value": [0, 1, 1]}]}, r"trees\[0\]"),  # no such feature
    ({"version": ""}, "version"),
])
def test_a_bad_model_file_is_refused_naming_the_field(tmp_path, changes, field):
    path = tmp_path / "model.json"
    path.write_text(json.dumps(_model_body(**changes)), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"model\.json: field '{field}.*train_answerability"):
        load_model(path)


def test_a_model_file_that_is_not_json_names_its_line(tmp_path):
    path = tmp_path / "model.json"
    path.write_text('{\n"format": \n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"model\.json:3: not valid JSON"):
        load_model(path)


@pytest.mark.parametrize(("dense", "logit"), [(0.4, 0.25 - 1.0), (0.6, 0.25 + 1.0)])
def test_a_valid_model_file_scores(dense, logit):
    model = parse_model(_model_body(), "test")
    evidence = [_evidence("P1", "a", "t", "text")]
    feats = features("a question", [_hit(1, "a", dense)], evidence, Vocabulary(["t text"]))
    assert model.probability(feats) == pytest.approx(1 / (1 + math.exp(-logit)))
    parts = model.contributions(feats)
    assert parts["best_dense"] == pytest.approx(logit - 0.25), "the split on best_dense moved the logit"
    assert sum(abs(v) for k, v in parts.items() if k != "best_dense") == 0


def test_the_packaged_model_and_the_default_threshold_agree():
    data = json.loads(resources.files("paperbot").joinpath("data/answerability_model.json").read_text("utf-8"))
    load_model()  # validates
    assert Settings.model_fields["answerable_threshold"].default == data["threshold"], \
        "Settings.answerable_threshold must be the threshold evals/train_answerability.py fitted with the model"
    assert Settings.model_fields["missing_name_threshold"].default == data["missing_name_threshold"]
    assert Settings.model_fields["yes_no_threshold"].default == data["yes_no_threshold"]


@pytest.mark.slow
def test_the_issue_comparison_question_is_answered(demo_bot):
    answer = demo_bot.ask("Lamina and InstInfer both offload attention away from the main GPUs. Where does each one "
                          "run the attention computation?", mode="extractive")
    assert not answer.abstained, answer.text
    assert not answer.text.startswith(SENTINEL)
    assert any("InstInfer" in e.title for e in answer.evidence)


@pytest.mark.slow
def test_llm_mode_gets_the_same_evidence_check(demo_bot):
    question = "How does AlphaFold predict protein structures from amino-acid sequences?"
    for mode in ("llm", "extractive"):
        prepared = demo_bot.prepare(question, mode=mode)
        assert not prepared.answerability.answerable, "the LLM is not asked when the evidence cannot answer"
        assert prepared.answerability.reason == "no retrieved paper mentions AlphaFold"
        assert prepared.answerability.probability < demo_bot.settings.missing_name_threshold


@pytest.mark.slow
def test_a_short_question_is_not_declined_for_being_short(demo_bot):
    answer = demo_bot.ask("How is attention made cheaper?", mode="extractive")
    assert not answer.abstained, answer.text
