"""The eval's recording proxy: a real openai client through it to the fake server; replays without the upstream."""

from __future__ import annotations

import threading
import time
from http.server import ThreadingHTTPServer

import openai

import pytest

from evals.record_proxy import Recorder, make_handler, stats
from tests.fake_openai import Fault

MESSAGES = [{"role": "user", "content": "Which papers reduce KV cache memory?"}]


@pytest.fixture
def proxy(fake_openai, tmp_path):
    def start(replay_only: bool = False):
        recorder = Recorder(tmp_path / "cache")
        server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(fake_openai.base_url, recorder,
                                                                   replay_only=replay_only, timeout=10))
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        started.append(server)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{server.server_address[1]}/v1",
                               api_key=fake_openai.api_key, max_retries=0)
        return client, recorder

    started: list[ThreadingHTTPServer] = []
    yield start
    for server in started:
        server.shutdown()
        server.server_close()


def _streamed(client) -> str:
    stream = client.chat.completions.create(model="fake-chat", messages=MESSAGES, stream=True,
                                            stream_options={"include_usage": True})
    return "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)


def test_streams_are_recorded_then_replayed_without_the_upstream(proxy, fake_openai, tmp_path):
    fake_openai.responder = "H2O keeps heavy hitters [P1]. It halves memory [P1]."
    client, recorder = proxy()
    first = _streamed(client)
    assert first == "H2O keeps heavy hitters [P1]. It halves memory [P1]."
    assert len(fake_openai.requests_to("chat/completions")) == 1
    assert [m.id for m in client.models.list().data] == ["fake-chat", "fake-embed"]  # GET passes through
    fake_openai.responder = "a different reply"  # a replay must not reach the upstream at all
    assert _streamed(client) == first
    assert len(fake_openai.requests_to("chat/completions")) == 1 and (recorder.hits, recorder.misses) == (1, 1)
    figures = stats(tmp_path / "cache")
    assert figures["streamed_answers"] == 1 and figures["completion_tokens_mean"] > 0
    assert figures["first_token_seconds_p50"] is not None
    # Replay-only: the recorded request is answered, any other is refused (and never forwarded).
    replay, _ = proxy(replay_only=True)
    assert _streamed(replay) == first
    with pytest.raises(openai.InternalServerError, match="no recording"):
        replay.chat.completions.create(model="fake-chat", messages=[{"role": "user", "content": "new"}])
    assert len(fake_openai.requests_to("chat/completions")) == 1


def test_each_request_is_logged_as_a_hit_or_a_miss(proxy, fake_openai, capfd, tmp_path):
    fake_openai.responder = "H2O keeps heavy hitters [P1]."
    client, _ = proxy()
    _streamed(client)
    # The proxy saves a recording after the last byte is sent, so the client can finish reading first: wait for it.
    deadline = time.monotonic() + 10
    while not list((tmp_path / "cache").glob("*.json")) and time.monotonic() < deadline:
        time.sleep(0.02)
    _streamed(client)
    lines = capfd.readouterr().err.split()
    assert lines[0::2] == ["miss", "hit"] and lines[1] == lines[3] and len(lines[1]) == 12


def test_errors_pass_through_and_are_not_recorded(proxy, fake_openai, tmp_path):
    client, _ = proxy()
    fake_openai.script(Fault.status(500, path="chat/completions"))
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="fake-chat", messages=MESSAGES)
    assert list((tmp_path / "cache").glob("*.json")) == []
    fake_openai.responder = "fine now"
    reply = client.chat.completions.create(model="fake-chat", messages=MESSAGES)
    assert reply.choices[0].message.content == "fine now" and len(list((tmp_path / "cache").glob("*.json"))) == 1
