"""Question focus and declines: a supported sentence about a paper the question is not about is marked and, by
setting, dropped; an answer whose claims do not stand is declined, and so is the model's own "cannot answer"."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from paperbot.answer.attribution import (
    AttributionPolicy,
    attribute,
    declines,
    describe,
    question_focus,
    semantic_focus,
)
from paperbot.answer.own_decline import declines_in_own_words
from paperbot.cli.render_answers import print_attribution
from paperbot.config import Settings
from paperbot.text.terms import Vocabulary
from paperbot.types import Answer, Evidence
from tests.test_attribution import EVIDENCE, TableScorer, _assert_valid, policy_with
from tests.test_attribution_llm import QUESTION, _claim, _sources, assert_valid, llm_bot  # noqa: F401 (a fixture)

SENTINEL = "I cannot answer this from the provided papers."
TABLE = {("A", "Heavy hitters"): 0.9, ("B", "Speculative decoding"): 0.9, ("C", "Weight quantization"): 0.9}
FOCUS = {"P1": 0.8, "P2": 0.6, "P3": 0.1}  # P3 barely touches the question; P2 is half as close as P1


def _focused(text: str, policy: AttributionPolicy, focus=FOCUS):
    result = attribute(text, EVIDENCE, TableScorer(TABLE), policy, focus=focus)
    _assert_valid(result)
    return result


def test_question_focus_is_the_share_of_the_question_each_paper_covers() -> None:
    vocabulary = Vocabulary(f"{e.title} {e.text}" for e in EVIDENCE)
    focus = question_focus("Which method keeps heavy-hitter tokens in the KV cache?", EVIDENCE, vocabulary)
    assert set(focus) == {"P1", "P2", "P3"} and all(0.0 <= v <= 1.0 for v in focus.values())
    assert focus["P1"] > 0.5 > focus["P3"], "the heavy-hitter paper is what the question is about"
    assert max(focus, key=focus.get) == "P1"


def test_sentences_about_papers_off_the_question_are_marked_kept_or_dropped() -> None:
    text = "First claimA result holds [P1]. Also claimC result holds. Then claimB result holds [P2]."
    relative = policy_with(focus=0.5, off_question="keep")  # P3 (0.1 < 0.5 x 0.8) is off the question
    kept = _focused(text, relative)
    assert kept.text == "First claimA result holds [P1]. Also claimC result holds [P3]. Then claimB result holds [P2]."
    assert [(s.origin, s.off_question, s.dropped) for s in kept.sentences] == [
        ("cited", False, False), ("attributed", True, False), ("cited", False, False)]
    assert kept.summary.off_question == 1 and kept.summary.dropped == 0

    dropped = _focused(text, policy_with(focus=0.5, off_question="drop"))
    assert dropped.text == "First claimA result holds [P1]. Then claimB result holds [P2]."
    assert [s.dropped for s in dropped.sentences] == [False, True, False]
    assert dropped.summary.off_question == 1 and dropped.summary.dropped == 1

    # A floor makes a paper off the question however close the others are: here P2 too.
    floored = _focused(text, policy_with(focus_floor=0.7, off_question="drop"))
    assert floored.text == "First claimA result holds [P1]."
    # Without focus figures, or with focus 0 and floor 0, nothing is off the question.
    assert _focused(text, policy_with(off_question="drop"), focus=None).summary.off_question == 0
    assert _focused(text, policy_with(off_question="drop")).summary.off_question == 0


def test_focus_never_marks_flagged_sentences_or_a_claim_that_also_cites_an_on_question_paper() -> None:
    text = "Invented claimZ finding [P3]. Joint claimA and claimC result [P1, P3]."
    result = _focused(text, policy_with(focus=0.5, off_question="drop"))
    assert [(s.origin, s.off_question) for s in result.sentences] == [("unsupported", False), ("cited", False)]


def test_an_answer_whose_claims_do_not_stand_is_declined() -> None:
    text = ("First claimA result holds [P1]. Invented claimZ number [P1]. Another claimY number. "
            "Also claimC result holds.")
    policy = policy_with(focus=0.5, off_question="drop")
    checked = _focused(text, policy)
    assert declines(checked.sentences, policy) is None, "one claim of four stands: no minimum share asked"
    assert declines(checked.sentences, policy_with(min_supported=0.25)) is None
    reason = declines(checked.sentences, policy_with(min_supported=0.5))
    assert reason == "Only 1 of the model's 4 claims are supported by these papers and on the question"

    off_only = _focused("Also claimC result holds. And claimC again result holds [P3].", policy)
    assert declines(off_only.sentences, policy) == "No sentence of the model's answer is about what the question asks"
    unsupported = _focused("Invented claimZ number.", policy_with(unsupported="drop"))
    assert declines(unsupported.sentences, policy) == "No sentence of the model's answer is supported by these papers"
    assert declines(_focused("In summary, yes.", policy).sentences, policy_with(min_supported=1.0)) is None


@pytest.mark.parametrize(("text", "declined"), [
    (SENTINEL, True),
    ("Yes. " + SENTINEL, True),
    ("No. The paper does not answer this question from the provided papers.", True),
    ("The sources do not mention the BLEU score [P1].", True),
    ("The information is not available in the provided papers.", True),
    ("FlightLLM does not provide a speedup on GPUs [P1].", False),
    ("Fine-tuning a pruned model does not beat training from scratch [P2].", False),
    ("Big Little Decoder reaches 40 BLEU [P1]. The papers do not state the price.", False),
    ("No. [P1].", False),
    ("", False),
])
def test_the_models_own_words_for_cannot_answer_are_a_decline(text: str, declined: bool) -> None:
    assert declines_in_own_words(text, SENTINEL) is declined


def test_describe_names_off_question_sentences_and_what_was_dropped() -> None:
    checked = _focused("First claimA result holds [P1]. Also claimC result holds.",
                       policy_with(focus=0.5, off_question="drop"))
    answer = Answer(question="q", text=checked.text, mode="llm", model="m", search_query="q", citations=(),
                    sentences=checked.sentences, evidence=tuple(EVIDENCE), abstained=False,
                    attribution=checked.summary)
    assert describe(answer) == ("checked (table): 1 key attributed, 1 sentence off the question (1 dropped); "
                                "1 sentence kept the model's keys")


def test_the_check_puts_no_key_of_a_paper_off_the_question_on_a_sentence() -> None:
    """A small model citing the paper the question is about for another paper's claim (or writing, uncited, about a
    paper it was shown but not asked about): that paper's key is not put on; the sentence is flagged, the paper named."""
    text = "Also claimC result holds [P1]. Then claimC result holds again. Then claimB result holds."
    before = _focused(text, policy_with())
    assert [(s.origin, s.keys) for s in before.sentences] == [
        ("corrected", ("P3",)), ("attributed", ("P3",)), ("attributed", ("P2",))], "without the rule: P3's keys put on"
    after = _focused(text, policy_with(rekey_focus=0.5))  # P3: 0.1 < 0.5 x 0.8; P2: 0.6 is on the question
    assert [(s.origin, s.keys, s.model_keys, s.alternatives, s.off_question, s.supported) for s in after.sentences] == [
        ("unsupported", ("P1",), ("P1",), ("P3",), True, False),
        ("unsupported", (), (), ("P3",), True, False),
        ("attributed", ("P2",), (), (), False, True)]
    assert after.text == "Also claimC result holds [P1]. Then claimC result holds again. Then claimB result holds [P2]."
    assert after.summary.unsupported == 2 and after.summary.attributed_keys == ("P2",)
    # The floor makes P2 (0.6) off the question too; the model's own supported key is never touched.
    floored = _focused("Then claimB result holds. Kept claimB result holds [P2].", policy_with(rekey_floor=0.7))
    assert [(s.origin, s.keys) for s in floored.sentences] == [("unsupported", ()), ("cited", ("P2",))]
    assert _focused(text, policy_with(rekey_focus=0.5), focus=None).summary.unsupported == 0, "no focus: no rule"


def test_semantic_focus_is_each_papers_closest_title_or_sentence_to_the_question() -> None:
    question = "Which method keeps heavy-hitter tokens in the KV cache?"
    # Two-dimensional stand-in vectors: the question points along x; P1's second sentence comes closest of all, P3's
    # title is its closest text; lengths differ on purpose (the cosine normalises them).
    table = {question: (2.0, 0.0), "Heavy hitters": (0.0, 1.0), EVIDENCE[0].sentences[0]: (1.0, 1.0),
             EVIDENCE[0].sentences[1]: (5.0, 0.5), "Speculative decoding": (0.0, 3.0),
             EVIDENCE[1].sentences[0]: (0.0, 1.0), EVIDENCE[1].sentences[1]: (-1.0, 0.2),
             "Weight quantization": (1.0, 3.0), EVIDENCE[2].sentences[0]: (-1.0, 1.0),
             EVIDENCE[2].sentences[1]: (0.0, -1.0)}
    calls = []

    def vectors(texts):
        calls.append(list(texts))
        return [table[t] for t in texts]

    focus = semantic_focus(question, EVIDENCE, vectors)
    assert len(calls) == 1 and calls[0][0] == question, "one batch, the question first"
    assert focus["P1"] == pytest.approx(5.0 / np.hypot(5.0, 0.5))
    assert focus["P2"] == pytest.approx(0.0, abs=1e-9), "P2's best text is orthogonal to the question"
    assert focus["P3"] == pytest.approx(1.0 / np.hypot(1.0, 3.0))


def test_the_check_puts_no_key_on_a_paper_far_from_the_question_in_meaning() -> None:
    """The paraphrased-question failure the semantic rule was fitted on: the terms say both papers are equally on the
    question (so the lexical rule lets either key on), the sentence vectors say one is much further from it."""
    text = "Also claimC result holds. Then claimB result holds."
    terms_tie = {"P1": 0.4, "P2": 0.4, "P3": 0.4}
    meaning = {"P1": 0.6, "P2": 0.55, "P3": 0.4}  # P3 at 0.67 of the best; P2 at 0.92
    policy = policy_with(rekey_focus=0.6, rekey_floor=0.2, rekey_semantic=0.8)
    checked = attribute(text, EVIDENCE, TableScorer(TABLE), policy, focus=terms_tie, semantic=meaning)
    _assert_valid(checked)
    assert [(s.origin, s.keys, s.alternatives, s.off_question) for s in checked.sentences] == [
        ("unsupported", (), ("P3",), True), ("attributed", ("P2",), (), False)]
    lexical_only = attribute(text, EVIDENCE, TableScorer(TABLE), policy, focus=terms_tie)
    assert [s.origin for s in lexical_only.sentences] == ["attributed", "attributed"], "no vectors: no semantic rule"
    off = attribute(text, EVIDENCE, TableScorer(TABLE), policy_with(rekey_semantic=0.0), semantic=meaning)
    assert [s.origin for s in off.sentences] == ["attributed", "attributed"], "rekey_semantic 0: no semantic rule"


def test_focus_reads_only_the_titles_and_sentences_shown() -> None:
    """question_focus reads titles and shown sentences only: a paper whose sentences were cut reads as less focused."""
    vocabulary = Vocabulary(f"{e.title} {e.text}" for e in EVIDENCE)
    cut = Evidence("P1", "h2o", "Heavy hitters", None, 2023, ("Throughput improves by 29x.",), 1, 1.0)
    question = "Which method keeps heavy-hitter tokens in the KV cache?"
    assert question_focus(question, [cut], vocabulary)["P1"] < question_focus(question, EVIDENCE[:1], vocabulary)["P1"]


# --- through the facade, against the real fake OpenAI server ------------------------------------------------------


def test_a_model_writing_about_a_paper_off_the_question_loses_that_sentence(llm_bot, fake_openai) -> None:  # noqa: F811
    bot = llm_bot(attribution_focus=1.0, attribution_focus_floor=0.0, off_question="drop", focus_scope="all")
    prepared = bot.prepare(QUESTION)
    focus = question_focus(prepared.search_query, prepared.evidence, bot.vocabulary())
    best, worst = max(focus, key=focus.get), min(focus, key=focus.get)
    assert focus[worst] < focus[best], "the demo store's papers differ in how much they are about the question"

    def respond(body: dict) -> str:
        sources = _sources(body)
        return f"{_claim(sources[best])} [{best}]. {_claim(sources[worst])} [{worst}]."

    fake_openai.responder = respond
    answer = bot.ask(QUESTION)
    assert not answer.abstained
    assert [(s.keys, s.off_question, s.dropped) for s in answer.sentences] == [
        ((best,), False, False), ((worst,), True, True)]
    assert f"[{worst}]" in answer.raw_text and cited_keys_of(answer) == [best]
    assert answer.attribution.off_question == 1
    assert_valid(answer)

    kept = llm_bot(attribution_focus=1.0, off_question="keep", focus_scope="all").ask(QUESTION)
    assert llm_bot(attribution_focus=1.0).ask(QUESTION).attribution.off_question == 0, (
        "by default focus applies to compact-prompt (small local model) answers only")
    assert [s.off_question for s in kept.sentences] == [False, True] and cited_keys_of(kept) == [kept.key_for(best), kept.key_for(worst)]


def test_a_wrong_key_is_not_corrected_to_a_paper_off_the_question(llm_bot, fake_openai) -> None:  # noqa: F811
    """The real-model failure this rule was fitted on: the model cites the paper the question is about for a sentence
    another shown paper states; correcting the key would attribute the answer to a paper nobody asked about."""
    bot = llm_bot(attribution_rekey_focus=1.0, focus_scope="all")
    prepared = bot.prepare(QUESTION)
    focus = question_focus(prepared.search_query, prepared.evidence, bot.vocabulary())
    best, worst = max(focus, key=focus.get), min(focus, key=focus.get)
    assert focus[worst] < focus[best]

    def respond(body: dict) -> str:
        sources = _sources(body)
        return f"{_claim(sources[best])} [{best}]. {_claim(sources[worst])} [{best}]."

    fake_openai.responder = respond
    corrected = llm_bot().ask(QUESTION)
    assert [(s.origin, s.keys) for s in corrected.sentences] == [
        ("cited", (corrected.key_for(best),)), ("corrected", (corrected.key_for(worst),))], (
        "without the rule the second sentence's key is corrected to the off-question paper")
    answer = bot.ask(QUESTION)
    assert not answer.abstained
    assert [(s.origin, s.keys, s.alternatives, s.off_question) for s in answer.sentences] == [
        ("cited", (answer.key_for(best),), (), False), ("unsupported", (answer.key_for(best),), (answer.key_for(worst),), True)]
    assert cited_keys_of(answer) == [answer.key_for(best)] and answer.attribution.corrected == 0
    printed = io.StringIO()
    print_attribution(Console(file=printed, width=300, soft_wrap=True), answer)
    assert f"only {answer.key_for(worst)} states it, a paper the question is not about" in printed.getvalue()
    assert llm_bot(attribution_rekey_focus=1.0).ask(QUESTION).attribution.corrected == 1, (
        "by default the rule applies to compact-prompt (small local model) answers only")
    assert_valid(answer)


def cited_keys_of(answer: Answer) -> list[str]:
    return [c.key for c in answer.citations]


def test_a_model_saying_it_cannot_answer_in_its_own_words_is_a_decline(llm_bot, fake_openai) -> None:  # noqa: F811
    fake_openai.responder = "No. The provided papers do not answer this question."
    answer = llm_bot().ask(QUESTION)
    assert answer.abstained and answer.citations == () and answer.nearest_papers
    assert answer.raw_text == "No. The provided papers do not answer this question."


def test_an_answer_mostly_unsupported_is_declined_by_setting(llm_bot, fake_openai) -> None:  # noqa: F811
    def respond(body: dict) -> str:
        sources = _sources(body)
        key = next(iter(sources))
        return (f"{_claim(sources[key])} [{key}]. Quantum gravity explains rotating black holes [{key}]. "
                "The method was first deployed on a lunar base in 1969.")

    fake_openai.responder = respond
    assert not llm_bot().ask(QUESTION).abstained, "by default a flagged answer stands, its flags shown"
    answer = llm_bot(min_supported=0.5, focus_scope="all").ask(QUESTION)
    assert answer.abstained and answer.citations == ()
    assert answer.text == ("I cannot answer this from the provided papers. (Only 1 of the model's 3 claims are "
                           "supported by these papers and on the question.)")
    assert [s.origin for s in answer.sentences] == ["cited", "unsupported", "unsupported"]


def test_a_sentence_about_the_paper_furthest_from_the_question_gets_no_key(llm_bot, fake_openai) -> None:  # noqa: F811
    """Through the facade with the real MiniLM vectors: an uncited sentence restating the shown paper whose sentences
    are furthest from the question in meaning is flagged, not keyed, once the semantic rule asks for more."""
    bot = llm_bot(attribution_rekey_focus=0.0, attribution_rekey_floor=0.0, attribution_rekey_semantic=1.0,
                  focus_scope="all")
    assert bot.sentence_vectors is not None, "MiniLM is the embedder: the rule has vectors"
    prepared = bot.prepare(QUESTION)
    meaning = semantic_focus(prepared.search_query, prepared.evidence, bot.sentence_vectors)
    best, worst = max(meaning, key=meaning.get), min(meaning, key=meaning.get)
    assert meaning[worst] < meaning[best] and all(-1.0 <= v <= 1.0 for v in meaning.values())

    def respond(body: dict) -> str:
        sources = _sources(body)
        return f"{_claim(sources[best])}. {_claim(sources[worst])}."

    fake_openai.responder = respond
    answer = bot.ask(QUESTION)
    assert [(s.origin, s.off_question) for s in answer.sentences] == [("attributed", False), ("unsupported", True)]
    assert answer.sentences[1].alternatives == (answer.key_for(worst),)
    assert cited_keys_of(answer) == [answer.key_for(best)]
    assert_valid(answer)
    plain = llm_bot(attribution_rekey_focus=0.0, attribution_rekey_floor=0.0, attribution_rekey_semantic=0.0,
                    focus_scope="all").ask(QUESTION)
    assert [s.origin for s in plain.sentences] == ["attributed", "attributed"], "without the rule both are keyed"


def test_the_shipped_focus_settings_are_the_ones_the_fit_chose() -> None:
    """Settings' defaults for small-model answers are evals/fit_focus.py's choice, recorded in focus-fit.json: a refit
    that is not shipped (or a default changed by hand) fails here."""
    chosen = json.loads((Path(__file__).resolve().parents[1] / "evals/results/focus-fit.json").read_text())["chosen"]
    names = {"margin": "attribution_margin", "focus": "attribution_focus", "focus_floor": "attribution_focus_floor",
             "min_supported": "min_supported", "rekey_focus": "attribution_rekey_focus",
             "rekey_floor": "attribution_rekey_floor", "rekey_semantic": "attribution_rekey_semantic",
             "llm_answerable_threshold": "llm_answerable_threshold",
             "decline_fallback_threshold": "decline_fallback_threshold"}
    assert set(names) <= set(chosen)
    shipped = {fit: Settings.model_fields[setting].default for fit, setting in names.items()}
    assert shipped == {fit: chosen[fit] for fit in names}
