"""Extractive answers (no LLM) on the demo corpus: quoted, cited, checked, and abstaining when they should."""

from __future__ import annotations

import re

import pytest

from paperbot.answer.answerer import SENTINEL


def test_kv_cache_question_cites_the_paper_each_sentence_comes_from(demo_bot):
    answer = demo_bot.ask("Which papers reduce KV cache memory, and by how much?", mode="extractive")
    assert answer.mode == "extractive" and answer.model is None and not answer.abstained
    assert len(answer.sentences) >= 2
    by_key = {e.key: e for e in answer.evidence}
    for sentence in answer.sentences:
        assert len(sentence.keys) == 1, sentence
        quoted = re.sub(r"\s*\[P\d+\]$", "", sentence.sentence)
        paper = demo_bot.paper(by_key[sentence.keys[0]].paper_id)
        assert quoted in paper.abstract, "every extractive sentence is verbatim from the paper it cites"
        assert sentence.supported and sentence.score == 1.0
    assert {c.key for c in answer.citations} == {k for s in answer.sentences for k in s.keys}
    assert any(re.search(r"\d", s.sentence) for s in answer.sentences), "a 'by how much' question gets numbers"
    assert answer.usage.total_tokens == 0 and answer.cost_usd is None


def test_unanswerable_question_abstains_and_lists_nearest_papers(demo_bot):
    answer = demo_bot.ask("What BLEU score does the Big Little Decoder framework reach on WMT 2014 De-En?",
                          mode="extractive")
    assert answer.abstained and answer.text.startswith(SENTINEL) and "BLEU" in answer.text
    assert answer.citations == ()
    assert any("Big Little Decoder" in p.title for p in answer.nearest_papers)


def test_off_topic_question_abstains(demo_bot):
    answer = demo_bot.ask("How does AlphaFold predict protein structures from amino-acid sequences?",
                          mode="extractive")
    assert answer.abstained
    # The abstention that the near-miss above no longer reaches: sentinel, reason, no citations, nearest papers.
    assert answer.text.startswith(SENTINEL) and "AlphaFold" in answer.text
    assert answer.citations == () and answer.nearest_papers


def test_stream_yields_text_then_the_same_answer(demo_bot):
    response = demo_bot.ask_stream("Which papers speed up decoding with a small draft model?", mode="extractive")
    deltas, answer = list(response), response.answer()
    assert all(isinstance(d, str) for d in deltas)
    assert "".join(deltas) == answer.text
    assert any("speculative" in c.title.lower() for c in answer.citations)


def test_follow_up_without_llm_uses_the_previous_question(demo_bot):
    history = [
        {"role": "user", "content": "Which method keeps only heavy-hitter tokens in the KV cache?"},
        {"role": "assistant", "content": "H2O does [P1]."},
    ]
    answer = demo_bot.ask("How much does it improve throughput?", history, mode="extractive")
    assert "heavy-hitter" in answer.search_query and "throughput" in answer.search_query
    assert any(c.title.startswith("H₂O") for c in answer.citations)


def test_evidence_fits_the_prompt_budget(demo_bot):
    prepared = demo_bot.prepare("Which papers reduce KV cache memory, and by how much?", mode="extractive")
    assert prepared.prompt_tokens <= demo_bot.settings.max_prompt_tokens
    assert prepared.messages[0]["role"] == "system" and "<source key=\"P1\"" in prepared.messages[-1]["content"]


def test_llm_mode_without_an_api_is_a_clear_error(demo_bot):
    from paperbot.errors import ConfigError

    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        demo_bot.ask("Which papers reduce KV cache memory?", mode="llm")
