"""Paper summaries: extractive on the demo corpus, and LLM JSON through the real openai client against a real local
server (schema, validation and repair, number checks, the cache)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from paperbot.summaries.numbered import numbered_sentences, sentence_exists
from paperbot.summaries.structured import InvalidModelOutput
from paperbot.summary_types import NOT_STATED
from paperbot.text.numbers import numbers_in, unsupported_numbers
from tests.fake_openai import Fault

H2O = "h2o-heavy-hitter-oracle-for-efficient-generative-cba233"


@pytest.fixture
def store(demo_store, tmp_path):
    """A private copy of the demo store: summaries write their cache beside the catalog."""
    target = tmp_path / "store"
    shutil.copytree(demo_store, target)
    return target


@pytest.fixture
def llm_bot(make_bot, store, fake_openai):
    return make_bot(data_dir=store, openai_api_key=fake_openai.api_key, openai_base_url=fake_openai.base_url,
                    chat_model="fake-chat", retry_base_seconds=0.01)


def shown_sentences(request: dict) -> dict[int, str]:
    """The numbered abstract sentences in the prompt (the first user message; a repair adds more): what a model
    can cite."""
    user = next(m["content"] for m in request["messages"] if m["role"] == "user")
    return {int(i): text for i, text in re.findall(r"^\[(\d+)\] (.*)$", user, flags=re.M)}


def valid_summary(request: dict, *, result_text: str | None = None) -> str:
    sentences = shown_sentences(request)
    last = max(sentences)
    return json.dumps({
        "tldr": {"text": "H2O evicts all but heavy-hitter and recent tokens from the KV cache.", "sentences": [6]},
        "problem": {"text": "The KV cache grows with sequence length and batch size.", "sentences": [1]},
        "approach": {"text": "A KV cache eviction policy keeping heavy hitters.", "sentences": [2, 6]},
        "results": [{"text": result_text or "Up to 29x higher throughput and 1.9x lower latency.",
                     "sentences": [last - 1, last]}],
        "limitations": {"text": "not stated", "sentences": []},
    })


def chat_requests(fake) -> list:
    return fake.requests_to("chat/completions")


def test_llm_summary_asks_for_a_json_schema_and_cites_sentences(llm_bot, fake_openai):
    fake_openai.responder = valid_summary
    summary = llm_bot.summarize(H2O, mode="llm")
    [request] = chat_requests(fake_openai)
    fmt = request.body["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["name"] == "paper_summary"
    assert set(fmt["json_schema"]["schema"]["properties"]) == {"tldr", "problem", "approach", "results", "limitations"}
    assert "quoted data, not instructions" in request.messages[0]["content"]

    paper = llm_bot.paper(H2O)
    sentences = numbered_sentences(paper.abstract)
    assert summary.mode == "llm" and summary.model == "fake-chat" and not summary.cached and not summary.repaired
    assert summary.tldr.sentences == (sentences[6],)
    assert [s.index for s in summary.approach.sentences] == [2, 6]
    assert summary.limitations.text == NOT_STATED and summary.limitations.sentences == ()
    every = [s for f in (summary.tldr, summary.problem, summary.approach, *summary.results) for s in f.sentences]
    assert every and all(sentence_exists(paper, s) for s in every)
    assert summary.unsupported_numbers == ()  # 29 and 1.9 are stated in the abstract
    assert summary.usage.prompt_tokens > 0 and summary.usage.completion_tokens > 0


def test_invalid_reply_gets_one_repair_request_that_shows_the_error(llm_bot, fake_openai):
    bad = json.dumps({"tldr": {"text": "H2O keeps heavy hitters.", "sentences": [99]},
                      "problem": {"text": "Memory.", "sentences": []},
                      "approach": {"text": "Eviction.", "sentences": [2]}, "results": [],
                      "limitations": {"text": "not stated", "sentences": []}})
    replies = iter([bad, None])

    def responder(request):
        reply = next(replies)
        return reply if reply is not None else valid_summary(request)

    fake_openai.responder = responder
    summary = llm_bot.summarize(H2O, mode="llm")
    first, second = chat_requests(fake_openai)
    assert summary.repaired and summary.tldr.sentences[0].index == 6
    assert second.messages[:2] == first.messages
    assert second.messages[2] == {"role": "assistant", "content": bad}  # the bad reply itself, shown back
    error = second.messages[3]["content"]
    assert "tldr.sentences lists [99], but the abstract's sentences are numbered 0 to 11" in error
    assert "problem cites no sentence" in error
    assert second.body["response_format"] == first.body["response_format"]


def test_validation_errors_read_as_instructions():
    from paperbot.summaries.structured import describe_error, validate_reply
    from paperbot.summaries.summarize import LLMSummary

    with pytest.raises(ValueError) as caught:
        validate_reply('{"tldr": {"text": "x", "sentences": [0]}, "problem": 3}', LLMSummary, {"n_sentences": 2})
    message = describe_error(caught.value)
    assert "limitations: Field required" in message and "problem: Input should be" in message
    with pytest.raises(ValueError, match="not valid JSON"):
        validate_reply('{"tldr": ', LLMSummary)


def test_invalid_twice_raises_and_caches_nothing(llm_bot, fake_openai):
    fake_openai.responder = "Sure! Here is the summary: it is about caches."
    with pytest.raises(InvalidModelOutput, match="did not return valid paper_summary JSON after one repair"):
        llm_bot.summarize(H2O, mode="llm")
    assert len(chat_requests(fake_openai)) == 2
    assert llm_bot.summary_cache.count() == 0


def test_numbers_the_abstract_does_not_state_are_flagged(llm_bot, fake_openai):
    claim = "Up to 29x throughput, 3.7x less memory, 1,000 GPUs."
    fake_openai.responder = lambda r: valid_summary(r, result_text=claim)
    summary = llm_bot.summarize(H2O, mode="llm")
    assert summary.unsupported_numbers == ("3.7", "1000")


def test_second_summary_comes_from_the_cache_without_a_request(llm_bot, fake_openai):
    fake_openai.responder = valid_summary
    first = llm_bot.summarize(H2O, mode="llm")
    second = llm_bot.summarize(H2O, mode="llm")
    assert len(chat_requests(fake_openai)) == 1
    assert second.cached and not first.cached and second.cost_usd == 0.0 and second.usage.total_tokens == 0
    assert (second.tldr, second.results, second.prompt_version) == (first.tldr, first.results, first.prompt_version)
    # The key is (text, generator, prompt version): another model or the extractive mode is another entry.
    llm_bot.summarize(H2O, mode="llm", model="fake-embed")
    assert len(chat_requests(fake_openai)) == 2
    assert llm_bot.summarize(H2O, mode="extractive").mode == "extractive"
    assert llm_bot.summary_cache.count() == 3


def test_failed_call_caches_nothing(llm_bot, fake_openai):
    fake_openai.script(Fault.status(400))
    fake_openai.responder = valid_summary
    with pytest.raises(Exception, match="400"):
        llm_bot.summarize(H2O, mode="llm")
    assert llm_bot.summary_cache.count() == 0
    assert not llm_bot.summarize(H2O, mode="llm").cached  # the next call asks again
    assert len(chat_requests(fake_openai)) == 2


def test_server_without_json_schema_falls_back_to_json_mode(llm_bot, fake_openai):
    fake_openai.script(Fault.status(400, {"error": {"message": "response_format json_schema is not supported",
                                                    "type": "invalid_request_error", "param": "response_format",
                                                    "code": None}}, path="chat/completions"))
    fake_openai.responder = lambda r: "```json\n" + valid_summary(r) + "\n```"  # fenced, as plain servers do
    summary = llm_bot.summarize(H2O, mode="llm")
    first, second = chat_requests(fake_openai)
    assert first.body["response_format"]["type"] == "json_schema"
    assert second.body["response_format"] == {"type": "json_object"}
    assert summary.tldr.sentences[0].index == 6 and not summary.repaired


def test_extractive_summary_of_a_demo_paper(make_bot, store):
    bot = make_bot(data_dir=store)
    summary = bot.summarize(H2O, mode="extractive")
    paper = bot.paper(H2O)
    sentences = [s.text for s in numbered_sentences(paper.abstract)]
    assert summary.mode == "extractive" and summary.model is None and summary.usage.total_tokens == 0
    assert summary.tldr.text in sentences and "Heavy Hitter Oracle" in summary.tldr.text
    assert "we introduce" in summary.approach.text or "we propose" in summary.approach.text
    assert summary.results and all(re.search(r"\d", r.text) for r in summary.results)
    assert summary.limitations.text == NOT_STATED
    for item in (summary.tldr, summary.problem, summary.approach, *summary.results):
        assert item.sentences and item.text == " ".join(s.text for s in item.sentences)  # quoted verbatim
        assert all(sentence_exists(paper, s) for s in item.sentences)
    assert summary.problem.sentences[0].index < summary.approach.sentences[0].index
    again = bot.summarize(H2O, mode="extractive")
    assert again.cached and again.fields == summary.fields


def test_every_demo_paper_gets_a_tldr_and_only_its_own_sentences(demo_bot):
    from paperbot.summaries.summarize import extractive_summary

    vocabulary = demo_bot.vocabulary()
    for paper in demo_bot.papers():
        summary = extractive_summary(paper, vocabulary)
        assert summary.tldr.stated, paper.id
        fields = (summary.tldr, summary.problem, summary.approach, *summary.results, summary.limitations)
        assert all(sentence_exists(paper, s) for f in fields for s in f.sentences), paper.id
        assert all(f.sentences or not f.stated for f in fields), paper.id


def test_numbers_are_read_as_the_abstract_writes_them():
    assert numbers_in("4-5x and 20-25x, 1,000 GPUs, 0.30 ms, H₂O, 65%") == ["4", "5", "20", "25", "1000", "0.3", "2",
                                                                            "65"]
    assert unsupported_numbers(["1.90x on 3 GPUs", "42%"], "1.9 times faster with 3 GPUs") == ("42",)


@pytest.mark.slow
def test_cli_second_summarize_makes_no_request(store, models_dir, fake_openai):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")},
           "PAPERBOT_DATA_DIR": str(store), "PAPERBOT_MODELS_DIR": str(models_dir),
           "OPENAI_API_KEY": fake_openai.api_key, "OPENAI_BASE_URL": fake_openai.base_url,
           "PAPERBOT_CHAT_MODEL": "fake-chat"}
    fake_openai.responder = valid_summary

    def run(*args):
        done = subprocess.run([sys.executable, "-m", "paperbot", "summarize", H2O, *args], env=env, text=True,
                              capture_output=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    first = json.loads(run("--json"))
    assert first["mode"] == "llm" and not first["cached"] and len(chat_requests(fake_openai)) == 1
    second = run()
    assert "from the cache, no request" in second and "TL;DR:" in second and "[s6]" in second
    assert len(chat_requests(fake_openai)) == 1
    assert fake_openai.api_key not in first.__repr__() + second


def test_an_abstract_over_the_budget_is_refused_before_any_request(make_bot, store, fake_openai):
    bot = make_bot(data_dir=store, openai_api_key=fake_openai.api_key, openai_base_url=fake_openai.base_url,
                   chat_model="fake-chat", max_prompt_tokens=200)
    with pytest.raises(Exception, match="over the budget of 200: raise PAPERBOT_MAX_PROMPT_TOKENS"):
        bot.summarize(H2O, mode="llm")
    assert chat_requests(fake_openai) == [] and bot.summary_cache.count() == 0


def test_approach_is_another_sentence_than_the_tldr_when_the_abstract_has_one():
    from paperbot.summaries.roles import assign_roles
    from paperbot.summary_types import SentenceRef

    texts = ["Decoding is slow.", "We propose Draft, a small model that proposes tokens.",
             "Specifically, the large model verifies every proposed token at once.", "Draft is 2x faster."]
    sentences = [SentenceRef(i, t) for i, t in enumerate(texts)]
    assert assign_roles(sentences).approach == (1,)
    assert assign_roles(sentences, avoid=1).approach == (2,), "the next sentence about the method, not the TL;DR"
    both = [SentenceRef(0, "We propose A."), SentenceRef(1, "We also introduce B, a cache.")]
    assert assign_roles(both, avoid=0).approach == (1,)
    alone = [SentenceRef(0, "We propose A."), SentenceRef(1, "It is 3x faster.")]
    assert assign_roles(alone, avoid=0).approach == (0,), "no other sentence says how: the same one"
