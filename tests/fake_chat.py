"""An in-process chat model (the `Chat` protocol of paperbot/ports.py) for use-case logic: scripted replies, every
request recorded, no HTTP. The llm/ adapter's own tests keep the real HTTP fake (tests/fake_openai.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from paperbot.types import TokenUsage


@dataclass(frozen=True)
class FakeReply:
    text: str
    finish_reason: str | None = "stop"
    usage: TokenUsage = field(default_factory=lambda: TokenUsage(10, 5))
    first_token_ms: float | None = 1.0
    total_ms: float = 2.0
    model: str = "fake-chat"


class FakeStream:
    """The reply's words as deltas; `.result` once they are all read."""

    def __init__(self, reply: FakeReply) -> None:
        self._reply = reply
        self._pieces = iter(reply.text.split(" "))
        self._first = True
        self.result: FakeReply | None = None

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        try:
            piece = next(self._pieces)
        except StopIteration:
            self.result = self._reply
            raise
        piece, self._first = (piece if self._first else " " + piece), False
        return piece

    def close(self) -> None:
        self._pieces = iter(())


class FakeChat:
    """Replies in order from `replies` (strings or FakeReply), or from `responder(messages)` when given."""

    def __init__(self, *replies: str | FakeReply, responder: Callable[[list[dict]], str] | None = None,
                 model: str = "fake-chat") -> None:
        self.model = model
        self._replies = list(replies)
        self._responder = responder
        self.requests: list[dict[str, Any]] = []

    def _next(self, messages: Sequence[dict[str, Any]], options: dict[str, Any]) -> FakeReply:
        self.requests.append({"messages": list(messages), **options})
        if self._responder is not None:
            return FakeReply(self._responder(list(messages)), model=self.model)
        if not self._replies:
            raise AssertionError("FakeChat was asked more often than it has replies")
        reply = self._replies.pop(0)
        return reply if isinstance(reply, FakeReply) else FakeReply(reply, model=self.model)

    def complete(self, messages: Sequence[dict[str, Any]], **options: Any) -> FakeReply:
        return self._next(messages, options)

    def stream(self, messages: Sequence[dict[str, Any]], **options: Any) -> FakeStream:
        return FakeStream(self._next(messages, options))
