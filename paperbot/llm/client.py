"""Build the openai client (its own retries off) and the one tenacity retry policy every API call goes through."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

import httpx2
import openai
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, stop_after_delay

from paperbot.config import Settings
from paperbot.llm.bounds import BoundedTransport
from paperbot.llm.errors import LLMError, RetriesExhausted, redact

log = logging.getLogger(__name__)
T = TypeVar("T")

_RETRYABLE = (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError, openai.APITimeoutError)


def make_client(settings: Settings, base_url: str | None = None) -> openai.OpenAI:
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    url = base_url or settings.openai_base_url
    if key is None and url is None:
        raise LLMError("no API configured: set OPENAI_API_KEY (and OPENAI_BASE_URL for a local server)")
    # Local servers (vLLM, Ollama, llama.cpp) accept any key; the client insists on one. The transport bounds reply
    # bodies (time and bytes) for calls made inside llm.bounds.bounded(); openai's own client reads them unbounded.
    http = openai.DefaultHttpxClient(transport=BoundedTransport(httpx2.HTTPTransport()), timeout=settings.request_timeout)
    return openai.OpenAI(api_key=key or "not-needed", base_url=url, max_retries=0, timeout=settings.request_timeout,
                         http_client=http)


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code == 429 or exc.status_code >= 500
    return isinstance(exc, _RETRYABLE)


def _retry_after(exc: BaseException | None) -> float | None:
    """Seconds the server asked us to wait (retry-after-ms or Retry-After), if it said."""
    response = getattr(exc, "response", None)
    if response is None:
        return None
    headers = response.headers
    try:
        if "retry-after-ms" in headers:
            return float(headers["retry-after-ms"]) / 1000
        if "retry-after" in headers:
            return float(headers["retry-after"])
    except ValueError:
        return None
    return None


class RetryPolicy:
    """Exponential backoff with full jitter, Retry-After honoured, capped in attempts and in total time."""

    # The last attempt gets at least this long, however little of the total time is left.
    min_attempt_seconds = 0.25

    def __init__(self, settings: Settings, *, base: float = 0.5, cap: float = 20.0, key: str | None = None) -> None:
        self.max_attempts = settings.max_attempts
        self.max_seconds = settings.max_retry_seconds
        self.request_timeout = settings.request_timeout
        self.base, self.cap = base, cap
        self._key = key

    def _wait(self, state: RetryCallState, deadline: float | None = None) -> float:
        exc = state.outcome.exception() if state.outcome else None
        asked = _retry_after(exc)
        backoff = random.uniform(0, min(self.cap, self.base * 2 ** (state.attempt_number - 1)))
        wait = max(asked, backoff) if asked is not None else backoff
        remaining = self.max_seconds - (time.monotonic() - state.start_time)
        if deadline is not None:
            remaining = min(remaining, deadline - time.monotonic())
        return max(0.0, min(wait, remaining))

    def _log(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "API call failed (%s), retry %d of %d in %.1fs", redact(describe(exc), self._key),
            state.attempt_number, self.max_attempts - 1, state.next_action.sleep if state.next_action else 0.0,
        )

    def call(self, fn: Callable[[float], T], *, deadline: float | None = None) -> T:
        """`fn(timeout)` until it succeeds or the policy gives up. `timeout` is the request timeout, cut to the
        time left: an attempt started just before the total-time cap must not run a whole timeout past it (for a
        stream it also bounds each wait between chunks, so only a last-chance attempt gets the shorter one).
        `deadline` (a time.monotonic() value) is a harder bound: no attempt, wait or timeout runs past it."""
        started = time.monotonic()

        def attempt() -> T:
            left = self.max_seconds - (time.monotonic() - started)
            timeout = min(self.request_timeout, max(left, self.min_attempt_seconds))
            if deadline is not None:
                timeout = min(timeout, max(deadline - time.monotonic(), 0.01))
            return fn(timeout)

        def past_deadline(state: RetryCallState) -> bool:
            return deadline is not None and time.monotonic() >= deadline

        retrying = Retrying(
            retry=retry_if_exception(_is_retryable),
            stop=stop_after_attempt(self.max_attempts) | stop_after_delay(self.max_seconds) | past_deadline,
            wait=lambda state: self._wait(state, deadline), before_sleep=self._log, reraise=True,
        )
        return retrying(attempt)


def describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code} {type(exc).__name__}"
    return type(exc).__name__


def translate(exc: Exception, *, settings: Settings, model: str, base_url: str | None, what: str) -> LLMError:
    """An actionable LLMError for an openai exception that retries did not cure."""
    key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
    where = base_url or settings.openai_base_url or "api.openai.com"
    if isinstance(exc, openai.AuthenticationError):
        text = f"{where} refused the API key (401): check OPENAI_API_KEY"
    elif isinstance(exc, openai.PermissionDeniedError):
        text = f"{where} denied access to {what} with model {model!r} (403): check the key's project and permissions"
    elif isinstance(exc, openai.NotFoundError):
        text = f"model {model!r} was not found at {where} (404): check the model name (`GET /v1/models` lists them)"
    elif isinstance(exc, openai.BadRequestError):
        detail = getattr(exc, "message", "") or str(exc)
        text = f"{where} rejected the {what} request (400): {detail}"
    elif _is_retryable(exc):
        return _exhausted(exc, settings=settings, where=where, what=what, key=key)
    elif isinstance(exc, openai.APIStatusError):
        detail = getattr(exc, "message", "") or str(exc)
        text = f"{where} refused the {what} request with HTTP {exc.status_code}, not retried: {detail}"
    else:
        text = f"{what} failed: {type(exc).__name__}: {exc}"
    return LLMError(redact(text, key))


def _exhausted(exc: Exception, *, settings: Settings, where: str, what: str, key: str | None) -> RetriesExhausted:
    """The error for a retryable failure that every allowed attempt hit: what happened, and the knobs to turn."""
    tried = (f"on every attempt (at most {settings.max_attempts} within {settings.max_retry_seconds:g}s: "
             "PAPERBOT_MAX_ATTEMPTS, PAPERBOT_MAX_RETRY_SECONDS)")
    if isinstance(exc, openai.RateLimitError):
        kind, text = "rate_limit", (f"{where} kept rate-limiting {what} (HTTP 429) {tried}; wait a minute, "
                                    "lower concurrency, or raise PAPERBOT_MAX_RETRY_SECONDS")
    elif isinstance(exc, openai.APITimeoutError):
        kind, text = "timeout", (f"{where} did not answer {what} in time ({settings.request_timeout:g}s per request, "
                                 f"PAPERBOT_REQUEST_TIMEOUT) {tried}; check the server, or raise "
                                 "PAPERBOT_REQUEST_TIMEOUT for a slow one")
    elif isinstance(exc, openai.APIConnectionError):
        kind, text = "connection", (f"cannot connect to {where} for {what}: the connection failed or was cut "
                                    f"{tried}; is the server running, and is OPENAI_BASE_URL right?")
    else:
        code = exc.status_code if isinstance(exc, openai.APIStatusError) else "5xx"
        kind, text = "server_error", (f"{where} failed {what} with HTTP {code} (a server error) {tried}; "
                                      "the server is in trouble: try again later, or check its status and logs")
    return RetriesExhausted(redact(text, key), kind=kind)
