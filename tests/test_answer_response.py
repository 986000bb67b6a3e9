"""The streamed answer as one object (paperbot/answer/response.py), and the Answerer that returns it, against the
in-process fake chat: nothing runs until it is read, it runs once, iterating again replays, `.answer()` reads what
is left, and an error mid-stream reaches whoever reads next."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from paperbot.answer.answerer import AnswerConfig, Answerer
from paperbot.answer.response import AnswerResponse
from paperbot.config import Settings
from paperbot.llm.errors import LLMError
from paperbot.llm.prompts import PLACEHOLDERS, load_prompt
from paperbot.ports import LanguageTools
from paperbot.text.terms import Vocabulary
from paperbot.types import Answer, ChunkHit, PaperHit
from tests.fake_chat import FakeChat, FakeStream

QUESTION = "Which method keeps only heavy-hitter tokens in the KV cache?"
REPLY = "H2O keeps only the heavy-hitter tokens in the KV cache [P1]. It evicts the other tokens [P1]."
PAPERS = {
    "h2o": ("H2O: Heavy-Hitter Oracle for KV cache eviction",
            ("H2O keeps only the heavy-hitter tokens in the KV cache of large language models. It evicts the other "
             "tokens, which cuts KV cache memory by up to five times with little loss in accuracy.")),
    "spec": ("Speculative decoding with a small draft model",
             ("A small draft model proposes tokens that the large model verifies in parallel, which speeds up "
              "decoding by two to three times without changing the output distribution.")),
}


# --- the response object alone ---------------------------------------------------------------------------------------
def _answer(text: str) -> Answer:
    return Answer(question="q", text=text, mode="extractive", model=None, search_query="q", citations=(),
                  sentences=(), evidence=(), abstained=False)


class Run:
    """A scripted run: the pieces, then an Answer of them joined (or `error` raised after `fail_after` pieces)."""

    def __init__(self, *pieces: str, error: Exception | None = None, fail_after: int = 0) -> None:
        self.pieces, self.error, self.fail_after = pieces, error, fail_after
        self.calls = 0
        self.read = 0

    def __call__(self) -> Iterator[str | Answer]:
        self.calls += 1
        for number, piece in enumerate(self.pieces):
            if self.error is not None and number == self.fail_after:
                raise self.error
            self.read += 1
            yield piece
        yield _answer("".join(self.pieces))


def test_nothing_runs_until_it_is_read_and_it_runs_once():
    run = Run("a", "b", "c")
    response = AnswerResponse(run)
    assert run.calls == 0 and not response.started
    assert list(response) == ["a", "b", "c"] and run.calls == 1 and response.done
    assert list(response) == ["a", "b", "c"], "a second loop replays the pieces"
    assert response.answer().text == "abc" and response.result is response.answer() and response.text() == "abc"
    assert run.calls == 1


def test_answer_without_iterating_reads_the_whole_stream_then_iterating_replays_it():
    run = Run("a", "b")
    response = AnswerResponse(run)
    assert response.answer().text == "ab" and run.read == 2
    assert list(response) == ["a", "b"] and run.calls == 1


def test_answer_after_a_loop_left_early_reads_the_rest_and_a_new_loop_sees_every_piece():
    run = Run("a", "b", "c", "d")
    response = AnswerResponse(run)
    for piece in response:
        if piece == "b":
            break
    assert run.read == 2 and not response.done
    assert response.answer().text == "abcd" and run.read == 4
    assert list(response) == ["a", "b", "c", "d"]


def test_a_loop_left_early_resumes_where_the_stream_stands():
    response = AnswerResponse(Run("a", "b", "c"))
    first = iter(response)
    assert next(first) == "a"
    assert list(response) == ["a", "b", "c"], "replays what was read, then reads on"
    assert list(first) == ["b", "c"]


def test_an_error_mid_stream_is_raised_by_the_loop_and_again_by_answer():
    run = Run("a", "b", "c", error=LLMError("the model server closed the stream: try again"), fail_after=2)
    response = AnswerResponse(run)
    shown = []
    with pytest.raises(LLMError, match="closed the stream: try again"):
        for piece in response:
            shown.append(piece)
    assert shown == ["a", "b"] and response.done
    with pytest.raises(LLMError, match="closed the stream: try again"):
        response.answer()
    with pytest.raises(LLMError, match="closed the stream: try again"):
        list(response)  # the pieces shown are replayed, then the same error
    assert run.calls == 1, "a failed run is not retried behind the caller's back"


def test_an_error_before_any_piece_comes_from_answer():
    response = AnswerResponse(Run("a", error=LLMError("no API"), fail_after=0))
    with pytest.raises(LLMError, match="no API"):
        response.answer()


def test_a_run_that_ends_without_an_answer_is_a_clear_error():
    response = AnswerResponse(lambda: iter(["a"]))
    with pytest.raises(RuntimeError, match="ended without a final answer"):
        response.answer()


def test_close_stops_a_run_under_way():
    run = Run("a", "b", "c")
    response = AnswerResponse(run)
    assert next(iter(response)) == "a"
    response.close()
    assert run.read == 1
    with pytest.raises(RuntimeError, match="closed before it finished"):
        response.answer()
    unread = Run("a")
    closed = AnswerResponse(unread)
    closed.close()
    with pytest.raises(RuntimeError, match="closed before it finished"):
        list(closed)
    assert unread.calls == 0, "a response closed before it was read never runs"


# --- the Answerer's response, with the in-process fake chat ------------------------------------------------------
class Papers:
    """A retriever over PAPERS that ranks by shared words and counts its searches."""

    def __init__(self) -> None:
        self.searches = 0

    def search(self, query: str, k: int = 10, filters=None, mode="hybrid") -> list[PaperHit]:
        self.searches += 1
        words = set(query.lower().split())
        ranked = sorted(PAPERS, key=lambda pid: -len(words & set(" ".join(PAPERS[pid]).lower().split())))
        return [PaperHit(rank=rank, paper_id=pid, title=PAPERS[pid][0], score=1 / rank, year=2023, authors=(),
                         url=None, chunks=(ChunkHit(f"{pid}#0", 0, PAPERS[pid][1], 0, len(PAPERS[pid][1]), 1, 1),))
                for rank, pid in enumerate(ranked[:k], start=1)]


class WordCounter:
    encoding_name = "words"

    def count(self, text: str) -> int:
        return len(text.split())


class FailingChat(FakeChat):
    """Streams the first words of its reply, then fails as a dropped connection would."""

    def stream(self, messages, **options):
        inner = super().stream(messages, **options)

        class Failing(FakeStream):
            def __init__(self) -> None:
                self.result = None
                self._sent = 0

            def __next__(self) -> str:
                if self._sent == 3:
                    raise LLMError("the model server closed the stream after 3 pieces; try again")
                self._sent += 1
                return next(inner)

        return Failing()


@pytest.fixture(scope="module")
def settings() -> Settings:
    return Settings(_env_file=None)


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    return Vocabulary(f"{title} {text}" for title, text in PAPERS.values())


def _answerer(settings: Settings, vocabulary: Vocabulary, chat: FakeChat, retriever: Papers) -> Answerer:
    tools = LanguageTools(chat=chat, model=chat.model, counter=WordCounter(),
                          prompts={name: load_prompt(name) for name in PLACEHOLDERS}, prompt_limit=3000,
                          cost=lambda usage: None, vocabulary=lambda: vocabulary)
    return Answerer(tools=tools, retriever=retriever, config=AnswerConfig.from_settings(settings, focused=False))


def test_the_answerer_searches_and_calls_the_model_only_when_read_and_once(settings, vocabulary):
    chat, papers = FakeChat(REPLY), Papers()
    response = _answerer(settings, vocabulary, chat, papers).ask_stream(QUESTION)
    assert chat.requests == [] and papers.searches == 0, "building the response runs nothing"
    pieces = list(response)
    assert len(chat.requests) == 1 and papers.searches == 1 and len(pieces) > 1
    answer = response.answer()
    assert answer.mode == "llm" and not answer.abstained, answer.text
    assert "".join(pieces).strip() == answer.raw_text and [c.paper_id for c in answer.citations] == ["h2o"]
    assert list(response) == pieces and len(chat.requests) == 1, "a second loop replays, without a second request"


def test_the_answerers_answer_without_iterating_and_after_a_partial_loop(settings, vocabulary):
    chat = FakeChat(REPLY, REPLY)
    answerer = _answerer(settings, vocabulary, chat, Papers())
    whole = answerer.ask_stream(QUESTION).answer()
    partial = answerer.ask_stream(QUESTION)
    first = next(iter(partial))
    finished = partial.answer()
    assert len(chat.requests) == 2
    assert whole.raw_text == finished.raw_text == REPLY and finished.raw_text.startswith(first)


def test_the_answerers_ask_is_its_response_read_to_the_end(settings, vocabulary):
    answer = _answerer(settings, vocabulary, FakeChat(REPLY), Papers()).ask(QUESTION)
    assert answer.raw_text == REPLY and answer.citations


def test_a_model_error_mid_stream_reaches_the_loop_and_answer_with_the_same_message(settings, vocabulary):
    chat = FailingChat(REPLY)
    response = _answerer(settings, vocabulary, chat, Papers()).ask_stream(QUESTION)
    shown = []
    with pytest.raises(LLMError, match="closed the stream after 3 pieces; try again"):
        for piece in response:
            shown.append(piece)
    assert shown and REPLY.startswith("".join(shown))
    with pytest.raises(LLMError, match="closed the stream after 3 pieces; try again"):
        response.answer()
    assert len(chat.requests) == 1


def test_closing_a_response_mid_answer_closes_the_model_stream(settings, vocabulary):
    streams: list[FakeStream] = []

    class Recording(FakeChat):
        def stream(self, messages, **options):
            stream = super().stream(messages, **options)
            stream.closed = False
            original = stream.close

            def close() -> None:
                stream.closed = True
                original()

            stream.close = close
            streams.append(stream)
            return stream

    response = _answerer(settings, vocabulary, Recording(REPLY), Papers()).ask_stream(QUESTION)
    assert next(iter(response))
    assert len(streams) == 1 and not streams[0].closed
    response.close()
    assert streams[0].closed, "the model's stream is released when the reader leaves, not when collected"
