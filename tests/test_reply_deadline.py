"""A reply read that fails at the answer deadline is the deadline's cut, whichever fires first: the watchdog that
shuts the socket, or the read timeout the retry policy cut to the deadline (on a busy machine the watchdog's thread
may run late)."""

from __future__ import annotations

import time

import httpx2
import pytest

from paperbot.llm.bounds import ReplyBounds, _BoundedBody
from paperbot.llm.errors import AnswerTimedOut


class _Drip(httpx2.SyncByteStream):
    """One chunk, then a read that blocks until `until` and fails as a read timeout would."""

    def __init__(self, until: float, error: Exception) -> None:
        self._until = until
        self._error = error

    def __iter__(self):
        yield b'data: {"choices": [{"delta": {"content": "Hello"}}]}\n\n'
        time.sleep(max(0.0, self._until - time.monotonic()))
        raise self._error

    def close(self) -> None:
        pass


def _late_watchdog_body(inner_until: float, deadline: float, error: Exception) -> _BoundedBody:
    body = _BoundedBody(_Drip(inner_until, error), ReplyBounds(deadline, 1 << 20), sock=None)
    body._timer.cancel()  # the watchdog's thread has not run yet: the read timeout wins the race
    return body


def test_a_read_timeout_at_the_deadline_is_the_deadline_cut():
    deadline = time.monotonic() + 0.2
    body = _late_watchdog_body(deadline + 0.01, deadline, httpx2.ReadTimeout("timed out"))
    chunks = iter(body)
    assert next(chunks).startswith(b"data:")
    with pytest.raises(AnswerTimedOut, match="at the deadline"):
        next(chunks)


def test_a_read_error_before_the_deadline_stays_what_it_is():
    deadline = time.monotonic() + 60
    body = _late_watchdog_body(time.monotonic(), deadline, httpx2.ReadError("connection reset"))
    chunks = iter(body)
    next(chunks)
    with pytest.raises(httpx2.ReadError):
        next(chunks)
    body.close()
