"""ChatModel via the real openai client against FakeOpenAI: answers, streams, usage, retries, typed errors, no leaks."""

from __future__ import annotations

import logging
import time
import traceback

import pytest

from paperbot.llm.chat import ChatModel, EmptyResponse, MalformedResponse, StreamInterrupted, TokenUsage
from paperbot.llm.errors import LLMError
from paperbot.llm.tokens import TiktokenCounter, encoding_for_model
from tests.fake_openai import (
    FakeOpenAI,
    count_tokens,
    delay,
    drop_mid_stream,
    empty_choices,
    malformed_json,
    no_done,
    rate_limit,
    reset,
    status,
)

CANARY = "sk-canary-SECRET-123456"
QUESTION = [
    {"role": "system", "content": "Answer from the evidence and cite it as [1]."},
    {"role": "user", "content": "What does speculative decoding trade for lower latency?"},
]
REPLY = "It spends extra draft-model compute to cut latency [1]."
FAKE_PROMPT_TOKENS = sum(count_tokens(m["content"]) + 3 for m in QUESTION)  # the fake counts words
SCHEMA_FORMAT = {"type": "json_schema", "json_schema": {"name": "answer", "schema": {"type": "object"}}}


def leaked_pieces(text: str) -> list[str]:
    """The canary or the fragments redact() removes; a server echo of any would be a leak."""
    return [piece for piece in (CANARY, CANARY[:12], CANARY[-8:]) if piece in text]


@pytest.fixture(autouse=True)
def no_key_in_logs(caplog):
    """Every test in this module: the key never shows in any log record at any level."""
    caplog.set_level(logging.DEBUG)
    yield
    assert leaked_pieces(caplog.text) == []
    for record in caplog.records:
        assert leaked_pieces(record.getMessage()) == []


def assert_key_free(exc: BaseException) -> None:
    shown = "".join(traceback.format_exception(exc)) + str(exc) + repr(exc)
    assert leaked_pieces(shown) == []


@pytest.fixture
def fake(fake_openai):
    fake_openai.api_key = CANARY
    fake_openai.responder = REPLY
    return fake_openai


@pytest.fixture
def chat_settings(make_settings, fake):
    def make(**overrides):
        values = {
            "OPENAI_API_KEY": CANARY, "OPENAI_BASE_URL": fake.base_url, "chat_model": "fake-chat",
            "retry_base_seconds": 0.01, "max_attempts": 4, "max_retry_seconds": 10.0, "request_timeout": 5.0,
        }
        return make_settings(**{**values, **overrides})

    return make


@pytest.fixture
def chat(chat_settings):
    return ChatModel(chat_settings())


def tiktoken_prompt_tokens(messages, model="fake-chat") -> int:
    counter = TiktokenCounter(encoding_for_model(model))
    return 3 + sum(3 + counter.count(m["role"]) + counter.count(m["content"]) for m in messages)


# --------------------------------------------------------------------------- happy paths


def test_complete_returns_text_usage_and_timings(chat, fake):
    result = chat.complete(QUESTION)
    assert result.text == REPLY
    assert result.finish_reason == "stop"
    assert result.usage == TokenUsage(prompt_tokens=FAKE_PROMPT_TOKENS, completion_tokens=len(REPLY.split()))
    assert result.usage.estimated is False
    assert 0 < result.first_token_ms <= result.total_ms
    body = fake.requests[0].body
    assert body["messages"] == QUESTION and body["model"] == "fake-chat"
    assert body["max_tokens"] == 600 and body["temperature"] == 0.1
    assert "stream" not in body


def test_complete_passes_max_tokens_and_reports_length(chat, fake):
    result = chat.complete(QUESTION, max_tokens=3, temperature=0.0)
    assert result.finish_reason == "length"
    assert result.text == "It spends extra"
    assert fake.requests[0].body["temperature"] == 0.0


def test_reasoning_models_get_max_completion_tokens_and_no_temperature(chat_settings, fake):
    fake.models.append("o4-mini-2025-04-16")
    ChatModel(chat_settings(), model="o4-mini-2025-04-16").complete(QUESTION)
    body = fake.requests[0].body
    assert body["max_completion_tokens"] == 600
    assert "max_tokens" not in body and "temperature" not in body


def test_stream_yields_deltas_then_result_with_reported_usage(chat, fake):
    stream = chat.stream(QUESTION)
    assert stream.result is None
    deltas = list(stream)
    assert len(deltas) == len(REPLY.split()) and "".join(deltas) == REPLY
    result = stream.result
    assert result.text == REPLY and result.finish_reason == "stop"
    assert result.usage == TokenUsage(FAKE_PROMPT_TOKENS, len(REPLY.split()), estimated=False)
    assert 0 < result.first_token_ms <= result.total_ms
    body = fake.requests[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_stream_without_usage_counts_tokens_with_tiktoken(chat, fake):
    fake.stream_usage = False
    stream = chat.stream(QUESTION)
    assert "".join(stream) == REPLY
    usage = stream.result.usage
    assert usage.estimated is True
    assert abs(usage.prompt_tokens - tiktoken_prompt_tokens(QUESTION)) <= 2
    assert abs(usage.completion_tokens - TiktokenCounter(encoding_for_model("fake-chat")).count(REPLY)) <= 2


def test_stream_without_done_is_a_complete_answer(chat, fake):
    fake.script(no_done())
    stream = chat.stream(QUESTION)
    assert "".join(stream) == REPLY
    assert stream.result.finish_reason == "stop"


def test_stream_with_empty_text_and_finish_reason_is_a_result(chat, fake):
    fake.responder = ""
    stream = chat.stream(QUESTION)
    assert list(stream) == []
    assert stream.result.text == "" and stream.result.finish_reason == "stop"
    assert stream.result.first_token_ms is None


# --------------------------------------------------------------------------- retries


def test_429_waits_at_least_retry_after_then_succeeds(chat, fake, caplog):
    fake.script(rate_limit(retry_after=0.4))
    assert chat.complete(QUESTION).text == REPLY
    first, second = fake.requests
    assert second.time - first.time >= 0.4
    assert any(r.levelno == logging.WARNING and "429" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("code", [500, 503])
def test_server_errors_are_retried(chat, fake, code):
    fake.script(status(code), status(502))
    assert chat.complete(QUESTION).text == REPLY
    assert len(fake.requests) == 3


def test_timeout_is_retried(chat_settings, fake):
    chat = ChatModel(chat_settings(request_timeout=0.5))
    fake.script(delay(1.0))
    started = time.monotonic()
    assert chat.complete(QUESTION).text == REPLY
    assert len(fake.requests) == 2
    assert time.monotonic() - started < 1.0  # the client gave up on the slow request, it did not wait it out


def test_connection_reset_is_retried(chat, fake):
    fake.script(reset())
    assert chat.complete(QUESTION).text == REPLY
    assert len(fake.requests) == 2


def test_stream_failure_before_first_delta_is_retried(chat, fake):
    fake.script(drop_mid_stream(after_chunks=1))  # only the role chunk, no text yet
    stream = chat.stream(QUESTION)
    assert "".join(stream) == REPLY
    assert len(fake.requests) == 2


def test_stream_rate_limited_before_opening_is_retried(chat, fake):
    fake.script(rate_limit(retry_after=0.05), status(500))
    stream = chat.stream(QUESTION)
    assert "".join(stream) == REPLY
    assert len(fake.requests) == 3


def test_stream_failure_after_deltas_raises_stream_interrupted(chat, fake):
    fake.script(drop_mid_stream(after_chunks=4))  # role chunk + 3 words
    stream = chat.stream(QUESTION)
    shown = []
    with pytest.raises(StreamInterrupted) as caught:
        for delta in stream:
            shown.append(delta)
    assert shown == ["It ", "spends ", "extra "]
    assert caught.value.partial_text == "".join(shown) and caught.value.deltas == 3
    assert f"{len(''.join(shown))} characters in 3 deltas" in str(caught.value)
    assert "not retried" in str(caught.value)
    assert stream.result is None
    assert len(fake.requests) == 1
    assert_key_free(caught.value)


def test_close_delimited_stream_cut_after_text_is_interrupted_not_complete(chat_settings):
    # Behind some proxies a dropped connection looks like a normal end of body: only the missing
    # finish_reason tells the answer is incomplete.
    with FakeOpenAI(REPLY, api_key=CANARY, stream_framing="close") as fake:
        chat = ChatModel(chat_settings(OPENAI_BASE_URL=fake.base_url))
        fake.script(drop_mid_stream(after_chunks=3))
        with pytest.raises(StreamInterrupted, match="without a finish_reason") as caught:
            list(chat.stream(QUESTION))
        assert caught.value.partial_text == "It spends "

        fake.script(drop_mid_stream(after_chunks=1))
        with pytest.raises(EmptyResponse, match="ended before any text"):
            chat.stream(QUESTION)


def test_attempts_cap(chat_settings, fake):
    chat = ChatModel(chat_settings(max_attempts=3))
    fake.script(*[status(500)] * 5)
    with pytest.raises(LLMError, match="HTTP 500") as caught:
        chat.complete(QUESTION)
    assert len(fake.requests) == 3
    assert_key_free(caught.value)


def test_total_time_cap(chat_settings, fake):
    chat = ChatModel(chat_settings(max_attempts=10, max_retry_seconds=0.5))
    fake.script(*[rate_limit(retry_after=0.3)] * 10)
    started = time.monotonic()
    with pytest.raises(LLMError, match="429"):
        chat.complete(QUESTION)
    assert time.monotonic() - started < 1.5
    assert 2 <= len(fake.requests) <= 3


# --------------------------------------------------------------------------- errors that are not retried


def test_400_is_not_retried(chat, fake):
    fake.script(status(400))
    with pytest.raises(LLMError, match=r"rejected the chat request \(400\)"):
        chat.complete(QUESTION)
    assert len(fake.requests) == 1


def test_401_is_not_retried_names_the_setting_and_hides_the_key(chat_settings, fake):
    fake.api_key = "sk-the-server-wants-another-key"
    chat = ChatModel(chat_settings())
    with pytest.raises(LLMError, match="OPENAI_API_KEY") as caught:
        chat.complete(QUESTION)
    assert len(fake.requests) == 1
    assert_key_free(caught.value)


def test_key_echoed_by_the_server_is_redacted(chat, fake):
    echo = {"error": {"message": f"Invalid request from key {CANARY}", "type": "invalid_request_error"}}
    fake.script(status(400, body=echo), status(401, body=echo))
    for _ in range(2):
        with pytest.raises(LLMError) as caught:
            chat.complete(QUESTION)
        assert_key_free(caught.value)
    assert "***" in str(caught.value) or "OPENAI_API_KEY" in str(caught.value)


def test_404_names_the_model(chat_settings, fake):
    chat = ChatModel(chat_settings(), model="gpt-9-imaginary")
    with pytest.raises(LLMError, match="'gpt-9-imaginary'.*404"):
        chat.complete(QUESTION)
    with pytest.raises(LLMError, match="'gpt-9-imaginary'"):
        chat.stream(QUESTION)
    assert len(fake.requests) == 2


def test_malformed_json_is_a_typed_error(chat, fake):
    fake.script(malformed_json())
    with pytest.raises(MalformedResponse, match="not JSON"):
        chat.complete(QUESTION)
    fake.script(malformed_json(content_type="text/plain"))
    with pytest.raises(MalformedResponse, match="not a chat completion"):
        chat.complete(QUESTION)
    fake.script(malformed_json())
    with pytest.raises(MalformedResponse):
        chat.stream(QUESTION)
    assert len(fake.requests) == 3


def test_empty_choices_is_a_typed_error(chat, fake):
    fake.script(empty_choices(), empty_choices())
    with pytest.raises(EmptyResponse, match="no choices"):
        chat.complete(QUESTION)
    with pytest.raises(EmptyResponse, match="no choices"):
        chat.stream(QUESTION)
    assert len(fake.requests) == 2


# --------------------------------------------------------------------------- response_format


def format_rejected(kind: str):
    return status(400, body={"error": {
        "message": f"response_format type '{kind}' is not supported by this server", "type": "invalid_request_error",
        "param": "response_format", "code": None,
    }})


def test_response_format_is_passed_through(chat, fake):
    chat.complete(QUESTION, response_format=SCHEMA_FORMAT)
    assert fake.requests[0].body["response_format"] == SCHEMA_FORMAT


def test_json_schema_falls_back_to_json_object_then_none_and_remembers(chat, fake):
    fake.script(format_rejected("json_schema"), format_rejected("json_object"))
    assert chat.complete(QUESTION, response_format=SCHEMA_FORMAT).text == REPLY
    sent = [r.body.get("response_format") for r in fake.requests]
    assert sent == [SCHEMA_FORMAT, {"type": "json_object"}, None]

    fake.clear()
    assert "".join(chat.stream(QUESTION, response_format=SCHEMA_FORMAT)) == REPLY
    assert [r.body.get("response_format") for r in fake.requests] == [None]  # no more 400s to learn it again


def test_json_schema_falls_back_once_to_json_object(chat, fake):
    fake.script(format_rejected("json_schema"))
    chat.complete(QUESTION, response_format=SCHEMA_FORMAT)
    assert [r.body.get("response_format") for r in fake.requests] == [SCHEMA_FORMAT, {"type": "json_object"}]


# --------------------------------------------------------------------------- configuration


def test_reprs_hold_no_key(chat, chat_settings):
    assert leaked_pieces(repr(chat)) == []
    assert leaked_pieces(repr(chat_settings())) == []
    assert leaked_pieces(str(chat_settings().model_dump())) == []


def test_llm_configured(tmp_path):
    from paperbot.config import Settings

    assert Settings(data_dir=tmp_path, OPENAI_API_KEY=None, OPENAI_BASE_URL=None).llm_configured is False
    assert Settings(data_dir=tmp_path, OPENAI_API_KEY="", OPENAI_BASE_URL=None).llm_configured is False
    assert Settings(data_dir=tmp_path, OPENAI_API_KEY=CANARY, OPENAI_BASE_URL=None).llm_configured is True
    assert Settings(data_dir=tmp_path, OPENAI_BASE_URL="http://localhost:11434/v1").llm_configured is True
