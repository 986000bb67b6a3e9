"""Chat completions from an OpenAI-compatible API, whole or streamed: retried, timed, tokens counted, errors typed.

Failure semantics (every error is an LLMError, key-free):

- HTTP 429, 5xx, connection errors and timeouts are retried by RetryPolicy (settings.max_attempts,
  settings.max_retry_seconds, Retry-After honoured); 400/401/403/404 are not, and come back as translate()'s
  actionable message.
- A stream is retried like a plain call until its first text delta arrives: nothing has been shown yet.
  After that a failure raises StreamInterrupted carrying the text that arrived, and is not retried, because
  a second answer would repeat what the reader already saw.
- A stream that ends cleanly after a finish_reason is complete whether or not "data: [DONE]" came (the
  openai client cannot tell the difference, and nothing is missing). A stream that delivered text but ended
  without any finish_reason was cut off (e.g. a proxy closed the connection): StreamInterrupted.
- A body that is not JSON raises MalformedResponse; a response with no choices, or a stream that ended
  before any text without a finish_reason, raises EmptyResponse. Neither is retried: the server did
  answer, wrongly, and asking again rarely helps while costing another call.
- An empty text with a finish_reason (e.g. "length" or "content_filter") is a result, not an error:
  the caller decides what to tell the reader.
- Every call is bounded whatever the server does (max_tokens alone is not: a server may ignore it): by total time
  (settings.max_answer_seconds, from the call to the last byte, retries included; a watchdog stops a read that
  is blocked), by raw body bytes (max_reply_bytes, checked while reading, so a 300 MB body is never held) and by
  answer characters (max_reply_chars). A bound that is hit raises AnswerTimedOut or AnswerTooLong carrying the
  valid text that arrived before it; not retried (a hostile server would only do it again).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import openai

from paperbot.config import Settings
from paperbot.llm.bounds import ReplyBounds, bounded, max_reply_bytes, max_reply_chars
from paperbot.llm.client import RetryPolicy, describe, make_client, translate
from paperbot.llm.errors import AnswerCut, AnswerTimedOut, AnswerTooLong, LLMError, redact
from paperbot.llm.tokens import TiktokenCounter, count_messages, encoding_for_model, use_cache_dir
from paperbot.types import TokenUsage  # shared with Answer.usage; `estimated` marks tiktoken counts

__all__ = ["AnswerCut", "AnswerTimedOut", "AnswerTooLong", "ChatModel", "ChatResult", "ChatStream", "EmptyResponse",
           "MalformedResponse", "StreamInterrupted", "TokenUsage"]

log = logging.getLogger(__name__)
T = TypeVar("T")
Message = dict[str, Any]

# Not retried (see above), so each message says what to do instead.
_NOT_AN_API = ("; not retried: check that OPENAI_BASE_URL is an OpenAI-compatible API (usually ending in /v1), "
               "or ask again")
_EMPTY_HINT = "; not retried: ask again, or try another model (--model)"

# OpenAI's reasoning models reject `max_tokens` and any temperature but the default.
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")


class EmptyResponse(LLMError):
    """The server answered without an answer: no choices, or a stream that ended before any text."""


class MalformedResponse(LLMError):
    """The server's body (or one stream chunk) was not a chat completion in JSON."""


class StreamInterrupted(LLMError):
    """A stream broke after text was shown; `partial_text` is what arrived. Not retried: it would repeat text."""

    def __init__(self, message: str, *, partial_text: str, deltas: int) -> None:
        super().__init__(message)
        self.partial_text = partial_text
        self.deltas = deltas


@dataclass(frozen=True)
class ChatResult:
    """One answer. Times are from the call to the first text and to the end, retries included."""

    text: str
    finish_reason: str | None  # "stop", "length", "content_filter", ...
    usage: TokenUsage
    first_token_ms: float | None
    total_ms: float
    model: str = ""


def _is_reasoning_model(model: str) -> bool:
    return model.lower().rsplit("/", 1)[-1].startswith(_REASONING_PREFIXES)


def _format_ladder(response_format: dict[str, Any] | None) -> list[dict[str, Any] | None]:
    """The formats to try in turn: as asked, then plain JSON mode, then none (for servers without json_schema)."""
    if response_format is None:
        return [None]
    ladder: list[dict[str, Any] | None] = [response_format]
    if response_format.get("type") == "json_schema":
        ladder.append({"type": "json_object"})
    ladder.append(None)
    return ladder


def _rejects_format(exc: openai.BadRequestError) -> bool:
    text = f"{getattr(exc, 'message', '')} {exc.body}".lower()
    return "response_format" in text or "response format" in text or "json_schema" in text


def _ms_since(start: float) -> float:
    return (time.monotonic() - start) * 1000


@dataclass
class _StreamState:
    """What the chunks of one stream have said so far."""

    text: list[str] = field(default_factory=list)
    deltas: int = 0
    saw_choice: bool = False
    finish_reason: str | None = None
    usage: Any = None

    def absorb(self, chunk: Any) -> str:
        """Take in one chunk; returns its text delta ("" if none)."""
        if getattr(chunk, "usage", None) is not None:
            self.usage = chunk.usage
        piece = ""
        for choice in getattr(chunk, "choices", None) or []:
            if getattr(choice, "index", 0) != 0:  # n > 1 is never asked for; ignore stray choices
                continue
            self.saw_choice = True
            delta = getattr(choice, "delta", None)
            piece = (getattr(delta, "content", None) or "") if delta is not None else ""
            self.finish_reason = getattr(choice, "finish_reason", None) or self.finish_reason
        if piece:
            self.text.append(piece)
            self.deltas += 1
        return piece


class ChatModel:
    """One chat model behind the configured OpenAI-compatible endpoint."""

    def __init__(self, settings: Settings, model: str | None = None) -> None:
        self._settings = settings
        self.model = model or settings.chat_model
        self._base_url = settings.openai_base_url
        self._client = make_client(settings)
        self._key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        self._retry = RetryPolicy(settings, base=settings.retry_base_seconds, key=self._key)
        # Loaded now, not when a server omits usage: a missing tiktoken cache should fail at start-up,
        # not after an answer has been streamed.
        use_cache_dir(settings.tiktoken_cache_dir)
        self._counter = TiktokenCounter(settings.tiktoken_encoding or encoding_for_model(self.model))
        self._unsupported_formats: set[str] = set()  # response_format types this server rejected

    def __repr__(self) -> str:
        return f"ChatModel(model={self.model!r}, base_url={self._base_url or 'api.openai.com'!r})"

    # ----------------------------------------------------------------- public

    def complete(
        self, messages: Sequence[Message], *, max_tokens: int | None = None, temperature: float | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> ChatResult:
        """The whole answer in one response."""
        start = time.monotonic()
        params = self._params(messages, max_tokens, temperature, stream=False)
        bounds = self._bounds(start, params)
        response = self._send(params, response_format, lambda p: self._client.chat.completions.create(**p), bounds)
        total_ms = _ms_since(start)
        choices = getattr(response, "choices", None)
        if not isinstance(choices, list):
            raise MalformedResponse(self._where(f"answered chat with a body that is not a chat completion "
                                                f"({type(response).__name__}){_NOT_AN_API}"))
        if not choices:
            raise EmptyResponse(self._where(f"answered chat with no choices (empty `choices` list){_EMPTY_HINT}"))
        choice = choices[0]
        message = getattr(choice, "message", None)
        text = (getattr(message, "content", None) or "") if message is not None else ""
        limit = self._max_chars(params)
        if not isinstance(text, str) or len(text) > limit:
            raise self._cut(AnswerTooLong, f"sent an answer longer than {limit} characters", bounds,
                            text[:limit] if isinstance(text, str) else "")
        usage = self._usage(getattr(response, "usage", None), messages, text)
        return ChatResult(text=text, finish_reason=getattr(choice, "finish_reason", None), usage=usage,
                          first_token_ms=total_ms, total_ms=total_ms, model=self.model)

    def stream(
        self, messages: Sequence[Message], *, max_tokens: int | None = None, temperature: float | None = None,
        response_format: dict[str, Any] | None = None,
    ) -> ChatStream:
        """Sends the request and waits for the first text (retrying until then); iterate for the text deltas."""
        start = time.monotonic()
        params = self._params(messages, max_tokens, temperature, stream=True)
        bounds = self._bounds(start, params)
        opened = self._send(params, response_format, self._open_stream, bounds)
        return ChatStream(self, opened, list(messages), start, bounds, self._max_chars(params))

    # ----------------------------------------------------------------- plumbing

    def _params(self, messages: Sequence[Message], max_tokens: int | None, temperature: float | None,
                *, stream: bool) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model, "messages": list(messages)}
        limit = max_tokens if max_tokens is not None else self._settings.max_answer_tokens
        if _is_reasoning_model(self.model):
            params["max_completion_tokens"] = limit
        else:
            params["max_tokens"] = limit
            params["temperature"] = self._settings.temperature if temperature is None else temperature
        if stream:
            params["stream"] = True
            params["stream_options"] = {"include_usage": True}
        return params

    def _bounds(self, start: float, params: dict[str, Any]) -> ReplyBounds:
        tokens = params.get("max_tokens") or params.get("max_completion_tokens") or self._settings.max_answer_tokens
        return ReplyBounds(start + self._settings.max_answer_seconds, max_reply_bytes(tokens))

    def _max_chars(self, params: dict[str, Any]) -> int:
        return max_reply_chars(params.get("max_tokens") or params.get("max_completion_tokens")
                               or self._settings.max_answer_tokens)

    def _cut(self, kind: type[AnswerCut], what: str, bounds: ReplyBounds, partial: str) -> AnswerCut:
        """The error for a bound that was hit, naming the server, the bound, and what was kept."""
        if kind is AnswerTimedOut:
            what = (f"was still answering after {self._settings.max_answer_seconds:g}s "
                    "(PAPERBOT_MAX_ANSWER_SECONDS)")
            todo = "ask again, or raise PAPERBOT_MAX_ANSWER_SECONDS for a slow server"
        else:
            todo = ("ask again; a server that ignores max_tokens (PAPERBOT_MAX_ANSWER_TOKENS) may need another "
                    "model (--model)")
        kept = f"the first {len(partial)} characters are kept, marked as cut" if partial else "no text was kept"
        return kind(self._where(f"{what}; stopped reading, not retried; {kept}; {todo}"), partial_text=partial)

    def _send(self, params: dict[str, Any], response_format: dict[str, Any] | None,
              request: Callable[[dict[str, Any]], T], bounds: ReplyBounds) -> T:
        """`request(params)` through the retry policy, stepping down response_format if the server rejects it;
        the reply bounded by `bounds` (the retries too: none starts, waits or times out past the deadline)."""
        ladder = [f for f in _format_ladder(response_format) if f is None or f["type"] not in self._unsupported_formats]
        for step, fmt in enumerate(ladder):
            attempt = {**params, "response_format": fmt} if fmt is not None else params
            try:
                with bounded(bounds):
                    return self._retry.call(lambda timeout, attempt=attempt: request({**attempt, "timeout": timeout}),
                                            deadline=bounds.deadline)
            except AnswerTimedOut:
                raise self._cut(AnswerTimedOut, "", bounds, "") from None
            except AnswerTooLong:
                raise self._cut(AnswerTooLong, f"sent a reply larger than {bounds.max_bytes} bytes", bounds,
                                "") from None
            except (openai.BadRequestError, openai.InternalServerError) as exc:
                # llama-cpp-python's server answers an unsupported response_format with a 500 naming it.
                if fmt is None or step == len(ladder) - 1 or not _rejects_format(exc):
                    raise self._translate(exc) from None
                self._unsupported_formats.add(fmt["type"])
                following = ladder[step + 1]
                log.warning("%s rejected response_format %r; trying %s", self._base_url or "api.openai.com",
                            fmt["type"], repr(following["type"]) if following else "no response_format")
            except openai.OpenAIError as exc:
                if isinstance(exc, openai.APIConnectionError) and bounds.seconds_left <= 0:
                    # A timeout too: the last attempt's was cut to the deadline.
                    raise self._cut(AnswerTimedOut, "", bounds, "") from None
                raise self._translate(exc) from None
            except json.JSONDecodeError as exc:
                raise MalformedResponse(self._where(f"answered chat with a body that is not JSON ({exc.msg} "
                                                    f"at character {exc.pos}){_NOT_AN_API}")) from None
        raise AssertionError("unreachable: the last rung of the ladder re-raises")

    def _open_stream(self, params: dict[str, Any]) -> tuple[Any, Iterator[Any], _StreamState]:
        """One attempt: open the stream and read up to its first text delta (or its end)."""
        response = self._client.chat.completions.create(**params)
        chunks = iter(response)
        state = _StreamState()
        try:
            for chunk in chunks:
                if state.absorb(chunk):
                    break
        except BaseException:
            response.close()  # the retry opens a new connection; free this one
            raise
        return response, chunks, state

    def _usage(self, reported: Any, messages: Sequence[Message], text: str) -> TokenUsage:
        prompt = getattr(reported, "prompt_tokens", None)
        completion = getattr(reported, "completion_tokens", None)
        if isinstance(prompt, int) and isinstance(completion, int):
            return TokenUsage(prompt, completion)
        log.debug("%s reported no token usage; counting with tiktoken", self._base_url or "api.openai.com")
        return TokenUsage(count_messages(messages, self._counter), self._counter.count(text), estimated=True)

    def _translate(self, exc: Exception) -> LLMError:
        return translate(exc, settings=self._settings, model=self.model, base_url=self._base_url, what="chat")

    def _where(self, text: str) -> str:
        where = self._base_url or "api.openai.com"
        return redact(f"{where} (model {self.model!r}) {text}", self._key)


class ChatStream:
    """Iterator of the answer's text deltas; once exhausted, `.result` holds the ChatResult.

    Stop early with close() (the connection is released; `.result` stays None).
    """

    def __init__(self, chat: ChatModel, opened: tuple[Any, Iterator[Any], _StreamState],
                 messages: list[Message], start: float, bounds: ReplyBounds, max_chars: int) -> None:
        self._chat = chat
        self._response, self._chunks, self._state = opened
        self._messages = messages
        self._start = start
        self._bounds = bounds
        self._max_chars = max_chars
        self._first_token_ms = _ms_since(start) if self._state.deltas else None
        self.result: ChatResult | None = None
        if not self._state.deltas:
            self._finish_before_text()  # the stream already ended: the answer is empty or the call failed
        self._deltas = self._follow()

    def __iter__(self) -> ChatStream:
        return self

    def __next__(self) -> str:
        return next(self._deltas)

    def close(self) -> None:
        self._deltas.close()
        self._response.close()

    def _pieces(self) -> Iterator[str]:
        state = self._state
        if state.deltas:
            yield state.text[0]
        for chunk in self._chunks:
            piece = state.absorb(chunk)
            if piece:
                yield piece

    def _follow(self) -> Iterator[str]:
        state = self._state
        if self.result is not None:  # ended before any text: nothing to follow
            return
        limit, shown, over = self._max_chars, 0, False
        cut = self._chat._cut
        try:
            for piece in self._pieces():
                if len(piece) > limit - shown:  # an endless stream, or one enormous token
                    over = True
                    if limit > shown:
                        yield piece[: limit - shown]
                    break
                shown += len(piece)
                yield piece
        except AnswerTimedOut:
            raise cut(AnswerTimedOut, "", self._bounds, "".join(state.text)[:shown]) from None
        except AnswerTooLong:
            raise cut(AnswerTooLong, f"sent a reply larger than {self._bounds.max_bytes} bytes", self._bounds,
                      "".join(state.text)[:shown]) from None
        except (openai.OpenAIError, json.JSONDecodeError) as exc:
            why = describe(exc) if isinstance(exc, openai.OpenAIError) else "a chunk was not JSON"
            raise self._interrupted(why) from None
        finally:
            self._response.close()
        if over:
            raise cut(AnswerTooLong, f"sent more than {limit} characters of answer", self._bounds,
                      "".join(state.text)[:limit])
        if state.deltas and state.finish_reason is None:
            raise self._interrupted("the stream ended without a finish_reason")
        self.result = self._result()

    def _finish_before_text(self) -> None:
        state = self._state
        self._response.close()
        if state.finish_reason is None:
            what = "a stream with no choices" if not state.saw_choice else "a stream that ended before any text"
            raise EmptyResponse(self._chat._where(f"answered chat with {what}{_EMPTY_HINT}"))
        self.result = self._result()

    def _result(self) -> ChatResult:
        state = self._state
        text = "".join(state.text)
        return ChatResult(
            text=text, finish_reason=state.finish_reason, usage=self._chat._usage(state.usage, self._messages, text),
            first_token_ms=self._first_token_ms, total_ms=_ms_since(self._start), model=self._chat.model,
        )

    def _interrupted(self, why: str) -> StreamInterrupted:
        text = "".join(self._state.text)
        message = self._chat._where(
            f"broke off the answer stream after {len(text)} characters in {self._state.deltas} deltas ({why}); "
            "not retried, since the text already shown would be repeated; ask again for a complete answer"
        )
        return StreamInterrupted(message, partial_text=text, deltas=self._state.deltas)
