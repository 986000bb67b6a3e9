"""The LLM fault matrix end to end: every fault the fake server can script, through PaperBot's ask, ask_stream,
summarize, digest and compare (the real openai client, a real HTTP server); each ends in the right answer after
retries, or in a typed error that says what happened and what to do, within the configured total retry time,
with the summary cache untouched by the failure."""

from __future__ import annotations

import json
import re
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import openai
import pytest

from paperbot.llm.chat import EmptyResponse, MalformedResponse, StreamInterrupted
from paperbot.llm.errors import LLMError, RetriesExhausted
from paperbot.types import Answer
from tests.app_helpers import DRAFT_QUESTION, citing_responder, copy_store
from tests.fake_openai import (
    FakeOpenAI,
    drop_mid_stream,
    empty_choices,
    hold,
    malformed_json,
    no_done,
    rate_limit,
    reset,
    status,
)
from tests.llm_replies import numbered, responder

pytestmark = pytest.mark.slow

CHAT = "chat/completions"
# Retry settings small enough to exhaust quickly; the deadline check below allows generous slack on top. The
# request timeout leaves a healthy request on a loaded 2-core machine far more time than it needs (a healthy
# request timing out would add a retry the checks below do not expect); a slow fault is `hold()`, which never
# answers, so it trips the timeout whatever the machine's speed.
MAX_ATTEMPTS = 3
MAX_RETRY_SECONDS = 5.0
REQUEST_TIMEOUT = 2.0
SLACK_SECONDS = 2.0  # a loaded 2-core machine; this is a correctness bound, not a speed test
RETRY_AFTER = 0.2
H2O = "h2o-heavy-hitter-oracle-for-efficient-generative-cba233"
DIGEST_TITLES = ("Online Speculative Decoding", "Speculative Decoding with Big Little Decoder", "H₂O")


# --------------------------------------------------------------------------- the operations under test


@dataclass(frozen=True)
class Operation:
    name: str
    streams: bool  # True: the answer streams (a drop after text cannot be retried)

    def run(self, bot, shown: list[str]) -> Any:
        if self.name == "ask":
            return bot.ask(DRAFT_QUESTION)
        if self.name == "ask_stream":
            response = bot.ask_stream(DRAFT_QUESTION)
            for piece in response:  # what was shown before an error stays in `shown`
                shown.append(piece)
            return response.answer()
        if self.name == "summarize":
            return bot.summarize(H2O, mode="llm")
        if self.name == "digest":
            return bot.digest(digest_ids(bot), mode="llm")
        return bot.compare(compare_ids(bot), ["task", "efficiency gain"], mode="llm")

    def requests_when_healthy(self, bot) -> int:
        if self.name == "digest":
            return len(bot.prepare_digest(digest_ids(bot), mode="llm").plan.calls)
        if self.name == "compare":
            return len(compare_ids(bot))
        return 1

    def check(self, result: Any, fake: FakeOpenAI, shown: list[str], healthy: int) -> None:
        """The result is exactly what the last (successful) requests asked for: nothing lost or doubled by retries."""
        requests = fake.requests_to(CHAT)
        if self.name in ("ask", "ask_stream"):
            assert isinstance(result, Answer) and result.mode == "llm" and not result.abstained
            expected = citing_responder(requests[-1].body)
            assert result.text == expected
            assert [c.key for c in result.citations] == ["P1", "P2"]
            assert all(s.supported for s in result.sentences)
            if self.name == "ask_stream":
                assert "".join(shown).strip() == result.text, "the deltas shown are the answer, once"
        elif self.name == "summarize":
            sentences = numbered(requests[-1].body)
            assert result.mode == "llm" and not result.cached and not result.repaired
            assert result.tldr.text == sentences[0] and [s.index for s in result.tldr.sentences] == [0]
            assert result.approach.text == sentences[1]
            assert [r.text for r in result.results] == [sentences[max(sentences)]]
            assert not result.limitations.stated
        elif self.name == "digest":
            assert result.mode == "llm" and result.requests == healthy
            assert sorted(k for t in result.themes for k in t.paper_keys) == sorted(p.key for p in result.papers)
            for theme in result.themes:
                assert theme.name in ("Partial theme", "Merged theme")
                assert set(re.findall(r"P\d+", theme.paragraph)) <= set(theme.paper_keys)
        else:
            assert result.mode == "llm" and result.requests == healthy == 2 and result.rejected_cells == 0
            for row in result.rows:
                assert row.cell("task").stated and row.cell("task").sentence.index == 0
                assert not row.cell("efficiency gain").stated


OPERATIONS = [Operation("ask", True), Operation("ask_stream", True), Operation("summarize", False),
              Operation("digest", False), Operation("compare", False)]


def digest_ids(bot) -> list[str]:
    return [p.id for p in bot.papers() if p.title.startswith(DIGEST_TITLES)]


def compare_ids(bot) -> list[str]:
    return [H2O, next(i for i in digest_ids(bot) if i != H2O)]


# --------------------------------------------------------------------------- the faults


@dataclass(frozen=True)
class Recovered:
    """The operation succeeds; `extra` requests beyond a healthy run were needed."""

    faults: tuple
    extra: int = 1


@dataclass(frozen=True)
class Failed:
    """The operation raises `error`; its message matches `what` (what happened) and `todo` (what to do)."""

    faults: tuple
    error: type[LLMError]
    what: str
    todo: str
    requests: tuple[int, ...] = (1,)  # chat requests made (several values: the time cap may end it earlier)
    kind: str | None = None  # RetriesExhausted.kind


FAULTS: dict[str, Any] = {
    "429 with Retry-After": Recovered((rate_limit(retry_after=RETRY_AFTER),)),
    "429 without Retry-After": Recovered((rate_limit(retry_after=None),)),
    "500": Recovered((status(500),)),
    "502": Recovered((status(502),)),
    "503": Recovered((status(503),)),
    "slow past the timeout": Recovered((hold(),)),
    "connection reset": Recovered((reset(),)),
    "disconnect before any text": Recovered((drop_mid_stream(after_chunks=1),)),
    "stream never sends [DONE]": Recovered((no_done(),), extra=0),
    "disconnect mid-stream": "depends on the operation",
    "malformed JSON": Failed((malformed_json(),), MalformedResponse, r"not JSON", r"OPENAI_BASE_URL|ask again"),
    "empty choice list": Failed((empty_choices(),), EmptyResponse, r"no choices", r"ask again|another model"),
    "503 on every attempt": Failed((status(503),) * MAX_ATTEMPTS, RetriesExhausted, r"HTTP 503.*every attempt",
                                   r"try again later", (MAX_ATTEMPTS,), "server_error"),
    "429 on every attempt": Failed((rate_limit(retry_after=RETRY_AFTER),) * MAX_ATTEMPTS, RetriesExhausted,
                                   r"rate-limiting.*429", r"wait|lower concurrency", (MAX_ATTEMPTS,), "rate_limit"),
    "Retry-After beyond the total time": Failed(
        (rate_limit(retry_after=30),) * MAX_ATTEMPTS, RetriesExhausted, r"429", r"PAPERBOT_MAX_RETRY_SECONDS",
        (2, 3), "rate_limit"),
    "slow on every attempt": Failed((hold(),) * MAX_ATTEMPTS, RetriesExhausted, r"did not answer .* in time",
                                    r"PAPERBOT_REQUEST_TIMEOUT", (2, 3), "timeout"),
    "reset on every attempt": Failed((reset(),) * MAX_ATTEMPTS, RetriesExhausted, r"connection failed or was cut",
                                     r"OPENAI_BASE_URL", (MAX_ATTEMPTS,), "connection"),
}


def expectation(operation: Operation, fault: str):
    found = FAULTS[fault]
    if fault == "disconnect mid-stream":
        faults = (drop_mid_stream(after_chunks=4),)  # the role chunk and three words of text
        if operation.streams:  # shown text cannot be taken back, so it is not retried
            return Failed(faults, StreamInterrupted, r"broke off the answer stream after \d+ characters",
                          r"ask again")
        return Recovered(faults)  # a non-streaming body cut short is a dropped connection: retried
    return found


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI(responder=responder) as server:
        yield server


@pytest.fixture(scope="module")
def bot(tmp_path_factory, demo_store, models_dir, embedder, fake):
    from paperbot.bot import PaperBot
    from paperbot.config import Settings

    store = copy_store(demo_store, tmp_path_factory.mktemp("faults") / "store")  # summaries write their cache
    return PaperBot(Settings(
        data_dir=store, models_dir=models_dir, openai_api_key=fake.api_key, openai_base_url=fake.base_url,
        chat_model="fake-chat", max_attempts=MAX_ATTEMPTS, max_retry_seconds=MAX_RETRY_SECONDS,
        request_timeout=REQUEST_TIMEOUT, retry_base_seconds=0.01,
    ), embedder=embedder)


@pytest.fixture
def clean(fake, bot):
    """Each test starts with no queued faults, no recorded requests, and one unrelated cached summary."""
    fake.clear_faults()
    fake.responder = responder
    bot.summary_cache.clear()
    bot.summary_cache.put("other-hash", "llm:fake-chat", "v0", "other-paper", {"tldr": "kept"})
    fake.clear()
    yield
    fake.clear_faults()


def cache_rows(bot) -> list[tuple]:
    """The summary cache as stored on disk, read through a connection of its own."""
    with closing(sqlite3.connect(bot.summary_cache.path)) as db:
        return db.execute("SELECT text_hash, generator, prompt_version, paper_id, summary_json FROM summaries "
                          "ORDER BY text_hash, generator, prompt_version").fetchall()


# --------------------------------------------------------------------------- the matrix


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("operation", OPERATIONS, ids=[o.name for o in OPERATIONS])
def test_fault(operation, fault, fake, bot, clean):
    expected = expectation(operation, fault)
    healthy = operation.requests_when_healthy(bot)
    fake.clear()
    rows_before = cache_rows(bot)
    fake.script(*expected.faults)
    shown: list[str] = []

    if isinstance(expected, Recovered):
        result = operation.run(bot, shown)
        operation.check(result, fake, shown, healthy)
        requests = fake.requests_to(CHAT)
        assert len(requests) == healthy + expected.extra
        assert fake.pending_faults == [], "every scripted fault was met"
        if fault == "429 with Retry-After":
            assert requests[1].time - requests[0].time >= RETRY_AFTER, "the server's Retry-After was honoured"
        rows_after = cache_rows(bot)
        if operation.name == "summarize":
            [added] = set(rows_after) - set(rows_before)
            assert set(rows_before) <= set(rows_after) and len(rows_after) == len(rows_before) + 1
            cached = json.loads(added[4])
            assert added[3] == H2O and cached["tldr"]["text"] == result.tldr.text
            assert [r["text"] for r in cached["results"]] == [r.text for r in result.results]
        else:
            assert rows_after == rows_before
        return

    with pytest.raises(LLMError) as caught:
        operation.run(bot, shown)
    ended = time.monotonic()
    error = caught.value
    requests = fake.requests_to(CHAT)
    assert type(error) is expected.error, f"{type(error).__name__}: {error}"
    message = str(error)
    assert re.search(expected.what, message), message
    assert re.search(expected.todo, message), message
    assert fake.base_url.split("//")[1].split("/")[0] in message, "the message names the server"
    if expected.kind is not None:
        assert error.kind == expected.kind
    assert len(requests) in expected.requests
    assert ended - requests[0].time <= MAX_RETRY_SECONDS + SLACK_SECONDS, "gave up within the total retry time"
    assert cache_rows(bot) == rows_before, "nothing, partial or whole, was cached"
    if isinstance(error, StreamInterrupted):
        full = citing_responder(requests[-1].body)
        assert error.partial_text and full.startswith(error.partial_text)
        if operation.name == "ask_stream":
            assert shown and full.startswith("".join(shown)), "what was shown is a true prefix of the answer"
    # The same bot answers the next request normally: no broken connection or state is left behind.
    fake.clear_faults()
    fake.clear()
    operation.check(operation.run(bot, shown := []), fake, shown, healthy)


# --------------------------------------------------------------------------- beyond the matrix


def test_the_slow_fault_never_answers_a_client_still_waiting(fake):
    """The matrix's "slow" fault trips the client's timeout on any machine: the server holds the request until the
    client gives up, rather than sleeping a fixed time and then answering (which a client slower than that sleep,
    on a loaded machine, would take as a healthy reply, adding no retry). Here the client waits longer than any
    fixed sleep the fault has."""
    fault = FAULTS["slow past the timeout"].faults[0]
    client = openai.OpenAI(base_url=fake.base_url, api_key=fake.api_key, max_retries=0,
                           timeout=fault.seconds + REQUEST_TIMEOUT)
    fake.clear_faults()
    fake.clear()
    fake.script(fault)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="fake-chat", messages=[{"role": "user", "content": "hello"}])
    assert fake.pending_faults == [] and len(fake.requests_to(CHAT)) == 1
    client.close()


def test_total_time_cap_cuts_the_last_request_timeout(fake, make_bot, demo_store):
    """With a request timeout longer than the whole retry budget, a hung server still fails within the budget."""
    bot = make_bot(data_dir=demo_store, openai_api_key=fake.api_key, openai_base_url=fake.base_url,
                   chat_model="fake-chat", max_attempts=5, max_retry_seconds=1.0, request_timeout=30.0,
                   retry_base_seconds=0.01)
    fake.clear_faults()
    fake.clear()
    fake.script(*[hold()] * 5)
    with pytest.raises(RetriesExhausted, match="in time") as caught:
        bot.ask(DRAFT_QUESTION)
    ended = time.monotonic()
    fake.clear_faults()
    first = fake.requests_to(CHAT)[0].time
    assert caught.value.kind == "timeout"
    assert ended - first < 30.0, "did not wait out a whole request timeout past the budget"
    assert ended - first <= 1.0 + SLACK_SECONDS


def test_failed_repair_request_caches_nothing(fake, bot, clean):
    """An invalid first reply gets a repair request; when that one fails, no summary (first or partial) is cached."""
    rows_before = cache_rows(bot)

    def first_then_fail(body):
        """An invalid (partial) summary; every request after this one meets a 503."""
        fake.script(*[status(503, path=CHAT)] * MAX_ATTEMPTS)
        fake.responder = responder
        return '{"tldr": {"text": "half a summary", "sentences": [0]}}'

    fake.responder = first_then_fail
    with pytest.raises(RetriesExhausted, match="HTTP 503"):
        bot.summarize(H2O, mode="llm")
    assert len(fake.requests_to(CHAT)) == 1 + MAX_ATTEMPTS
    assert cache_rows(bot) == rows_before
    fake.clear()
    summary = bot.summarize(H2O, mode="llm")  # works again, and only now is the summary cached
    assert not summary.cached and len(cache_rows(bot)) == len(rows_before) + 1
    assert bot.summarize(H2O, mode="llm").cached and len(fake.requests_to(CHAT)) == 1
