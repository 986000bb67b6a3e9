"""FakeOpenAI driven by the real `openai` client over real HTTP: endpoints, request log and scripted faults."""

from __future__ import annotations

import asyncio
import json
import math
import socket
import threading
import time

import openai
import pytest

from tests.fake_openai import (
    DEFAULT_REPLY,
    FakeOpenAI,
    delay,
    drop_mid_stream,
    embed_text,
    empty_choices,
    malformed_json,
    no_done,
    rate_limit,
    reset,
    status,
)

USER = [{"role": "user", "content": "What is speculative decoding?"}]


@pytest.fixture(scope="module")
def http_client():
    """One transport for the module: building an OpenAI client's TLS context costs ~0.05-0.1 s each time."""
    with openai.DefaultHttpxClient() as shared:
        yield shared


@pytest.fixture
def client(fake_openai, http_client):
    return openai.OpenAI(
        base_url=fake_openai.base_url, api_key=fake_openai.api_key, max_retries=0, http_client=http_client
    )


def chat(client, **kwargs):
    return client.chat.completions.create(model="fake-chat", messages=kwargs.pop("messages", USER), **kwargs)


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


# --------------------------------------------------------------------------- endpoints


def test_models_list(client, fake_openai):
    assert [m.id for m in client.models.list()] == ["fake-chat", "fake-embed"]
    assert client.models.retrieve("fake-embed").id == "fake-embed"
    fake_openai.models.append("extra")
    assert "extra" in [m.id for m in client.models.list()]


def test_chat_non_streaming_and_request_log(client, fake_openai):
    seen = []
    fake_openai.responder = lambda request: seen.append(request) or "Drafts tokens, then verifies them."
    messages = [{"role": "system", "content": "Be brief."}, *USER]

    completion = chat(client, messages=messages, temperature=0)

    assert completion.object == "chat.completion"
    assert completion.model == "fake-chat"
    assert completion.id.startswith("chatcmpl-")
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "Drafts tokens, then verifies them."
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens == 5
    assert completion.usage.prompt_tokens > 0
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 5
    assert completion._request_id.startswith("req-")

    [request] = fake_openai.requests
    assert (request.method, request.path, request.endpoint) == ("POST", "/v1/chat/completions", "chat/completions")
    assert request.messages == messages
    assert request.body["temperature"] == 0
    assert request.headers["authorization"] == "Bearer sk-test-fake-key"
    assert request.headers["content-type"] == "application/json"
    assert seen == [request.body]

    fake_openai.clear()
    assert fake_openai.requests == []


def test_default_reply_and_string_responder(client, fake_openai):
    assert chat(client).choices[0].message.content == DEFAULT_REPLY
    fake_openai.responder = "fixed"
    assert chat(client).choices[0].message.content == "fixed"


def test_response_format_is_passed_through_unvalidated(client, fake_openai):
    fake_openai.responder = lambda request: json.dumps({"format": request["response_format"]["type"]})
    schema = {"name": "answer", "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}
    reply = chat(client, response_format={"type": "json_schema", "json_schema": schema})
    assert json.loads(reply.choices[0].message.content) == {"format": "json_schema"}
    assert fake_openai.requests[-1].body["response_format"]["json_schema"] == schema
    assert json.loads(chat(client, response_format={"type": "json_object"}).choices[0].message.content) == {
        "format": "json_object"
    }


def test_max_tokens_truncates_with_finish_reason_length(client, fake_openai):
    fake_openai.responder = "one two three four five"
    reply = chat(client, max_completion_tokens=2)
    assert reply.choices[0].message.content == "one two"
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage.completion_tokens == 2


def test_chat_streaming_with_usage(client, fake_openai):
    fake_openai.responder = "Speculative decoding drafts with a small model."
    chunks = list(chat(client, stream=True, stream_options={"include_usage": True}))

    assert all(c.object == "chat.completion.chunk" for c in chunks)
    assert len({c.id for c in chunks}) == 1
    content = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(content) == 7  # one delta per word
    assert "".join(content) == "Speculative decoding drafts with a small model."
    assert chunks[0].choices[0].delta.role == "assistant"
    finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish == ["stop"]
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == 7
    assert chunks[-1].usage.total_tokens == chunks[-1].usage.prompt_tokens + 7
    assert all(c.usage is None for c in chunks[:-1])
    assert fake_openai.requests[-1].body["stream"] is True


def test_chat_streaming_without_usage(client, fake_openai):
    chunks = list(chat(client, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == DEFAULT_REPLY
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None for c in chunks)


def test_stream_usage_can_be_disabled_even_when_asked(client, fake_openai):
    fake_openai.stream_usage = False
    chunks = list(chat(client, stream=True, stream_options={"include_usage": True}))
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert all(c.usage is None and c.choices for c in chunks)


def test_embeddings_shapes_and_determinism(client, fake_openai):
    texts = ["KV cache quantization", "quantization of the KV cache", "Protein folding with diffusion"]
    response = client.embeddings.create(model="fake-embed", input=texts)

    assert response.model == "fake-embed"
    assert [d.index for d in response.data] == [0, 1, 2]
    vectors = [d.embedding for d in response.data]
    assert all(len(v) == 64 for v in vectors)
    assert all(math.isclose(math.fsum(x * x for x in v), 1.0, rel_tol=1e-5) for v in vectors)
    assert response.usage.prompt_tokens == response.usage.total_tokens == 3 + 5 + 4
    # The client asks for base64 by default; float32 round trip of the server's vectors.
    assert fake_openai.requests[-1].body["encoding_format"] == "base64"
    assert vectors[0] == pytest.approx(embed_text(texts[0]), abs=1e-6)

    again = client.embeddings.create(model="fake-embed", input=texts[0]).data[0].embedding
    assert again == vectors[0]  # identical text, identical vector
    related, unrelated = cosine(vectors[0], vectors[1]), cosine(vectors[0], vectors[2])
    assert related > 0.7 and abs(unrelated) < 0.4


def test_embeddings_float_format_dimensions_and_token_input(client):
    floats = client.embeddings.create(model="fake-embed", input="hello world", encoding_format="float")
    assert floats.data[0].embedding == pytest.approx(embed_text("hello world"))
    assert len(client.embeddings.create(model="fake-embed", input="hi", dimensions=8).data[0].embedding) == 8
    tokens = client.embeddings.create(model="fake-embed", input=[[1, 2, 3], [1, 2, 3]])
    assert len(tokens.data) == 2 and tokens.data[0].embedding == tokens.data[1].embedding
    with pytest.raises(openai.BadRequestError):
        client.embeddings.create(model="fake-embed", input=[""])


def test_wrong_api_key_is_401(fake_openai):
    bad = openai.OpenAI(base_url=fake_openai.base_url, api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        bad.models.list()
    assert caught.value.status_code == 401
    assert caught.value.body == {
        "message": caught.value.body["message"], "type": "invalid_request_error", "param": None,
        "code": "invalid_api_key",
    }
    assert fake_openai.requests[-1].headers["authorization"] == "Bearer sk-wrong"


def test_unknown_model_is_404(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-nope", messages=USER)
    assert caught.value.body["code"] == "model_not_found"
    assert caught.value.body["message"] == "The model `gpt-nope` does not exist"
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="gpt-nope", input="x")


def test_unknown_path_is_404(client):
    with pytest.raises(openai.NotFoundError, match="Invalid URL"):
        client.post("/nowhere", cast_to=object, body={})


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (400, openai.BadRequestError),
        (401, openai.AuthenticationError),
        (403, openai.PermissionDeniedError),
        (404, openai.NotFoundError),
        (500, openai.InternalServerError),
        (502, openai.InternalServerError),
        (503, openai.InternalServerError),
    ],
)
def test_status_faults(client, fake_openai, code, error):
    fake_openai.script(status(code))
    with pytest.raises(error) as caught:
        chat(client)
    assert caught.value.status_code == code
    assert set(caught.value.body) == {"message", "type", "param", "code"}
    assert chat(client).choices[0].message.content == DEFAULT_REPLY  # fault consumed, next call is normal
    assert [r.fault.code if r.fault else None for r in fake_openai.requests] == [code, None]


def test_rate_limit_exposes_retry_after(client, fake_openai):
    fake_openai.script(status(429, headers={"Retry-After": "1"}), rate_limit(retry_after=2, retry_after_ms=1500))
    with pytest.raises(openai.RateLimitError) as caught:
        chat(client)
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.body["code"] == "rate_limit_exceeded"
    with pytest.raises(openai.RateLimitError) as caught:
        chat(client)
    assert caught.value.response.headers["retry-after"] == "2"
    assert caught.value.response.headers["retry-after-ms"] == "1500"


def test_client_retries_consume_faults_and_honour_retry_after_ms(fake_openai):
    fake_openai.script(rate_limit(None, retry_after_ms=10), status(503, headers={"retry-after-ms": "10"}))
    retrying = openai.OpenAI(base_url=fake_openai.base_url, api_key=fake_openai.api_key, max_retries=2)
    started = time.monotonic()
    assert chat(retrying).choices[0].message.content == DEFAULT_REPLY
    assert time.monotonic() - started < 1  # the default back-off would be >= 0.5 s per retry
    assert [r.fault.code if r.fault else None for r in fake_openai.requests] == [429, 503, None]
    assert fake_openai.requests[1].headers["x-stainless-retry-count"] == "1"


def test_status_fault_with_custom_body(client, fake_openai):
    fake_openai.script(status(400, {"error": {"message": "context too long", "type": "invalid_request_error",
                                              "param": "messages", "code": "context_length_exceeded"}}))
    with pytest.raises(openai.BadRequestError, match="context too long") as caught:
        chat(client)
    assert caught.value.code == "context_length_exceeded"


def test_faults_match_by_path_in_fifo_order(client, fake_openai):
    fake_openai.script(status(500, path="/v1/chat/completions"), status(502), status(503, path="embeddings"))
    with pytest.raises(openai.InternalServerError) as caught:
        client.embeddings.create(model="fake-embed", input="x")  # skips the chat-only fault
    assert caught.value.status_code == 502
    with pytest.raises(openai.InternalServerError) as caught:
        client.embeddings.create(model="fake-embed", input="x")
    assert caught.value.status_code == 503
    assert [f.code for f in fake_openai.pending_faults] == [500]
    with pytest.raises(openai.InternalServerError) as caught:
        chat(client)
    assert caught.value.status_code == 500
    assert fake_openai.pending_faults == []


def test_delay_beyond_client_timeout(fake_openai):
    impatient = openai.OpenAI(base_url=fake_openai.base_url, api_key=fake_openai.api_key, max_retries=0, timeout=0.5)
    fake_openai.script(delay(2))
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        chat(impatient)
    assert time.monotonic() - started < 1.5
    assert chat(impatient).choices  # the server stays healthy


def test_short_delay_then_normal_answer(client, fake_openai):
    fake_openai.script(delay(0.1))
    started = time.monotonic()
    assert chat(client).choices[0].message.content == DEFAULT_REPLY
    assert time.monotonic() - started >= 0.1


def test_reset_is_connection_error(client, fake_openai):
    fake_openai.script(reset())
    with pytest.raises(openai.APIConnectionError) as caught:
        chat(client)
    assert not isinstance(caught.value, openai.APITimeoutError)
    assert chat(client).choices  # a fresh connection works


def test_drop_mid_stream_raises_while_iterating(client, fake_openai):
    fake_openai.responder = "one two three four five six"
    fake_openai.script(drop_mid_stream(after_chunks=3))
    stream = chat(client, stream=True)  # headers arrived: creating the stream succeeds
    received = []
    with pytest.raises(openai.APIConnectionError) as caught:
        for chunk in stream:
            received.append(chunk.choices[0].delta.content)
    assert received == ["", "one ", "two "]  # role chunk + two words
    assert "incomplete chunked read" in str(caught.value.__cause__)


def test_drop_mid_stream_with_close_delimited_body_ends_silently():
    with FakeOpenAI(responder="one two three four", stream_framing="close") as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key=fake.api_key, max_retries=0)
        full = list(chat(client, stream=True))
        assert full[-1].choices[0].finish_reason == "stop"
        fake.script(drop_mid_stream(after_chunks=2))
        chunks = list(chat(client, stream=True))  # no exception at all
        assert [c.choices[0].delta.content for c in chunks] == ["", "one "]
        assert all(c.choices[0].finish_reason is None for c in chunks)


def test_drop_on_non_streaming_request_is_a_reset(client, fake_openai):
    fake_openai.script(drop_mid_stream(2))
    with pytest.raises(openai.APIConnectionError):
        chat(client)


def test_malformed_json_raises_plain_json_decode_error(client, fake_openai):
    fake_openai.script(malformed_json())
    with pytest.raises(json.JSONDecodeError) as caught:
        chat(client)
    assert not isinstance(caught.value, openai.OpenAIError)


def test_malformed_json_with_text_content_type_returns_a_string(client, fake_openai):
    fake_openai.script(malformed_json("upstream says no", content_type="text/plain"))
    assert chat(client) == "upstream says no"


def test_malformed_json_in_stream(client, fake_openai):
    fake_openai.script(malformed_json())
    stream = chat(client, stream=True)
    with pytest.raises(json.JSONDecodeError):
        next(iter(stream))


def test_empty_choices(client, fake_openai):
    fake_openai.script(empty_choices(), empty_choices())
    completion = chat(client)
    assert completion.choices == []
    assert completion.usage.total_tokens > 0
    chunks = list(chat(client, stream=True))
    assert len(chunks) == 1 and chunks[0].choices == []


def test_empty_embeddings_data(client, fake_openai):
    fake_openai.script(empty_choices(path="embeddings"), empty_choices(path="embeddings"))
    with pytest.raises(ValueError, match="No embedding data received"):
        client.embeddings.create(model="fake-embed", input="x")
    assert client.embeddings.create(model="fake-embed", input="x", encoding_format="float").data == []


def test_no_done_stream_ends_normally(client, fake_openai):
    fake_openai.script(no_done())
    chunks = list(chat(client, stream=True, stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == DEFAULT_REPLY
    assert chunks[-1].usage is not None
    assert chat(client).choices  # next request on a new connection


# --------------------------------------------------------------------------- concurrency and lifecycle


def test_latency_and_concurrent_requests(client, fake_openai):
    fake_openai.latency = 0.3
    fake_openai.responder = lambda request: request["messages"][0]["content"].upper()
    results = {}

    def ask(i):
        reply = chat(client, messages=[{"role": "user", "content": f"question {i}"}])
        results[i] = reply.choices[0].message.content

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    assert results == {i: f"QUESTION {i}" for i in range(8)}
    assert 0.3 <= elapsed < 1.5  # served in parallel, not 8 x 0.3 s
    assert sorted(r.messages[0]["content"] for r in fake_openai.requests) == sorted(
        f"question {i}" for i in range(8)
    )


def test_stop_is_prompt_with_open_and_sleeping_connections():
    fake = FakeOpenAI().start()
    port = fake.port
    client = openai.OpenAI(base_url=fake.base_url, api_key=fake.api_key, max_retries=0, timeout=10)
    chat(client)  # leaves a keep-alive connection open
    fake.script(delay(30))
    outcome = []

    def sleepy_call():
        try:
            outcome.append(chat(client))
        except openai.APIConnectionError as exc:
            outcome.append(exc)

    sleeper = threading.Thread(target=sleepy_call)
    sleeper.start()
    while not fake.requests[1:]:
        time.sleep(0.01)
    started = time.monotonic()
    fake.stop()
    fake.stop()  # idempotent
    sleeper.join(timeout=5)
    assert time.monotonic() - started < 2 and not sleeper.is_alive()
    assert isinstance(outcome[0], openai.APIConnectionError)  # reset, not answered, nor a 10 s timeout
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass


def test_responder_error_is_a_500_and_recorded(client, fake_openai):
    fake_openai.responder = lambda request: request["no such key"]
    with pytest.raises(openai.InternalServerError, match="KeyError"):
        chat(client)
    assert [type(e) for e in fake_openai.errors] == [KeyError]


def test_async_client_streams(fake_openai):
    fake_openai.responder = "async works too"

    async def run():
        async with openai.AsyncOpenAI(base_url=fake_openai.base_url, api_key=fake_openai.api_key, max_retries=0) as ac:
            stream = await ac.chat.completions.create(model="fake-chat", messages=USER, stream=True)
            return "".join([c.choices[0].delta.content or "" async for c in stream])

    assert asyncio.run(run()) == "async works too"


def test_env_points_the_default_client_at_the_fake(fake_openai, monkeypatch):
    for name, value in fake_openai.env.items():
        monkeypatch.setenv(name, value)
    assert [m.id for m in openai.OpenAI(max_retries=0).models.list()] == ["fake-chat", "fake-embed"]


def test_script_rejects_non_faults(fake_openai):
    with pytest.raises(TypeError):
        fake_openai.script(429)
