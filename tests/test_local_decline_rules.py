"""The two answerability rules for small models' written answers: a stricter p(answerable) before the model is called,
and a model's own decline replaced by quoted sentences when the papers clearly answer (compact-prompt answers only)."""

from __future__ import annotations

from paperbot.answer.attribution import describe
from tests.test_attribution_llm import QUESTION, assert_valid, llm_bot  # noqa: F401 (a fixture)

DECLINE = "No. The provided papers do not answer this question."


def test_a_written_answer_below_its_answerability_threshold_is_declined_without_a_model_call(
        llm_bot, fake_openai) -> None:  # noqa: F811
    fake_openai.responder = "H2O keeps heavy hitters [P1]."
    answer = llm_bot(llm_answerable_threshold=1.0, focus_scope="all").ask(QUESTION)
    assert answer.abstained and answer.citations == () and answer.nearest_papers
    assert answer.raw_text is None and fake_openai.requests_to("chat/completions") == []
    assert "a written answer needs 1.00" in answer.text and answer.text.startswith("I cannot answer this")

    default = llm_bot(llm_answerable_threshold=1.0).ask(QUESTION)
    assert not default.abstained, "by default the rule applies to compact-prompt (small local model) answers only"
    assert len(fake_openai.requests_to("chat/completions")) == 1


def test_a_models_decline_where_the_papers_answer_becomes_quoted_sentences(llm_bot, fake_openai) -> None:  # noqa: F811
    fake_openai.responder = DECLINE
    assert llm_bot(decline_fallback_threshold=1.0, focus_scope="all").ask(QUESTION).abstained, "1: off"
    assert llm_bot(decline_fallback_threshold=0.0).ask(QUESTION).abstained, (
        "by default the rule applies to compact-prompt (small local model) answers only")

    response = llm_bot(decline_fallback_threshold=0.0, focus_scope="all").ask_stream(QUESTION)
    streamed, answer = "".join(response), response.answer()
    assert streamed.strip() == DECLINE, "what streamed was the model's refusal"
    assert not answer.abstained and answer.mode == "llm" and answer.model == "fake-chat"
    assert answer.raw_text == DECLINE and answer.text != DECLINE and answer.citations
    assert answer.attribution.model_declined and answer.attribution.changed
    assert "the model declined" in describe(answer)
    assert all(s.keys and s.supported for s in answer.sentences), "every quoted sentence cites its paper"
    assert_valid(answer)


def test_an_ordinary_answer_is_untouched_by_the_decline_fallback(llm_bot, fake_openai) -> None:  # noqa: F811
    fake_openai.responder = "In summary, nothing."
    answer = llm_bot(decline_fallback_threshold=0.0, focus_scope="all").ask(QUESTION)
    assert answer.raw_text == "In summary, nothing." and not answer.attribution.model_declined
