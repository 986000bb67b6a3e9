"""Per-call bounds on an LLM reply, enforced where its bytes are read: a total deadline and a byte cap."""

from __future__ import annotations

import contextvars
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx2

from paperbot.llm.errors import AnswerCut, AnswerTimedOut, AnswerTooLong

# One answer of N tokens: N SSE chunks of a few hundred bytes each (ids, model name, JSON framing), a usage chunk,
# and room for servers that add logprobs or reasoning fields. Far below what exhausts memory either way.
_BYTES_PER_TOKEN = 2048
_MIN_BYTES = 1 << 20
_MAX_BYTES = 32 << 20
# Text: ~4 characters per token in English; twice that before a reply counts as a server ignoring max_tokens.
_CHARS_PER_TOKEN = 8
_MIN_CHARS = 2000
_MAX_CHARS = 400_000


def max_reply_bytes(max_tokens: int) -> int:
    """Raw body bytes read for one reply (streamed or whole) of at most `max_tokens` tokens."""
    return min(_MAX_BYTES, max(_MIN_BYTES, max_tokens * _BYTES_PER_TOKEN))


def max_reply_chars(max_tokens: int) -> int:
    """Characters of answer text kept from one reply of at most `max_tokens` tokens."""
    return min(_MAX_CHARS, max(_MIN_CHARS, max_tokens * _CHARS_PER_TOKEN))


@dataclass(frozen=True)
class ReplyBounds:
    deadline: float  # time.monotonic() after which reading stops
    max_bytes: int

    @property
    def seconds_left(self) -> float:
        return self.deadline - time.monotonic()


_CURRENT: contextvars.ContextVar[ReplyBounds | None] = contextvars.ContextVar("paperbot_reply_bounds", default=None)


@contextmanager
def bounded(bounds: ReplyBounds) -> Iterator[None]:
    """Requests sent inside this block get `bounds` on their response bodies (read now or later)."""
    token = _CURRENT.set(bounds)
    try:
        yield
    finally:
        _CURRENT.reset(token)


class _BoundedBody(httpx2.SyncByteStream):
    """A response body that stops at the byte cap, and at the deadline even while a read is blocked: a watchdog
    timer shuts the socket down, which wakes the read (a per-read timeout cannot: a word every few seconds
    keeps every single read within it)."""

    def __init__(self, inner: httpx2.SyncByteStream, bounds: ReplyBounds, sock: socket.socket | None) -> None:
        self._inner = inner
        self._bounds = bounds
        self._sock = sock
        self._lock = threading.Lock()
        self._closed = False
        self._expired = False
        self._timer = threading.Timer(max(0.0, bounds.seconds_left), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        with self._lock:
            if self._closed:  # the connection may be back in the pool, serving another request
                return
            self._expired = True
            if self._sock is not None:
                try:
                    self._sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _timed_out(self) -> AnswerTimedOut:
        return AnswerTimedOut("the reply was still arriving at the deadline")

    def __iter__(self) -> Iterator[bytes]:
        received = 0
        try:
            for chunk in self._inner:
                if self._expired or self._bounds.seconds_left <= 0:
                    raise self._timed_out()
                received += len(chunk)
                if received > self._bounds.max_bytes:
                    raise AnswerTooLong(f"the reply exceeded {self._bounds.max_bytes} bytes")
                yield chunk
        except AnswerCut:
            raise
        except Exception:
            # The watchdog's shutdown surfaces as a protocol or read error; so does a read timeout, which the retry
            # policy cuts to the deadline and which may fire before the watchdog's thread has run.
            if self._expired or self._bounds.seconds_left <= 0:
                raise self._timed_out() from None
            raise

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._timer.cancel()
        self._inner.close()


class BoundedTransport(httpx2.BaseTransport):
    """Wraps the real transport; bodies of responses to requests sent inside `bounded(...)` are bounded."""

    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        bounds = _CURRENT.get()
        response = self._inner.handle_request(request)
        if bounds is None:
            return response
        network = response.extensions.get("network_stream")
        sock = network.get_extra_info("socket") if network is not None else None
        response.stream = _BoundedBody(response.stream, bounds, sock)  # type: ignore[arg-type]
        return response

    def close(self) -> None:
        self._inner.close()
