"""Interfaces the use cases need from adapters, so they can be handed real or test doubles."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np


class Embedder(Protocol):
    """Turns texts into unit vectors; knows its own input limit in its own tokens."""

    @property
    def id(self) -> str:
        """What the store records: a different id means vectors that cannot be compared."""

    @property
    def max_tokens(self) -> int: ...

    @property
    def special_tokens(self) -> int:
        """Tokens added to every input by count_tokens (e.g. [CLS] and [SEP])."""

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens each text costs the embedder, special tokens included."""

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """float32 array of shape (len(texts), dim), rows L2-normalised."""


class TokenCounter(Protocol):
    """Counts LLM tokens (tiktoken) for budgets and chunk records."""

    @property
    def encoding_name(self) -> str: ...

    def count(self, text: str) -> int: ...


class ChatReply(Protocol):
    """What a chat call returns (llm.chat.ChatResult): the text, why it stopped, tokens, times."""

    text: str
    finish_reason: str | None
    usage: Any  # types.TokenUsage
    first_token_ms: float | None
    total_ms: float


class ChatStreaming(Protocol):
    """Iterate for text deltas; once exhausted `.result` holds the ChatReply (None when closed early)."""

    result: ChatReply | None

    def __iter__(self) -> Iterator[str]: ...

    def __next__(self) -> str: ...

    def close(self) -> None: ...


class Chat(Protocol):
    """An OpenAI-style chat model (llm.chat.ChatModel, or the local server's LocalChat); tests hand in fakes."""

    model: str

    def complete(self, messages: Sequence[dict[str, Any]], *, max_tokens: int | None = None,
                 temperature: float | None = None, response_format: dict[str, Any] | None = None) -> ChatReply:
        """The whole answer in one response."""

    def stream(self, messages: Sequence[dict[str, Any]], *, max_tokens: int | None = None,
               temperature: float | None = None, response_format: dict[str, Any] | None = None) -> ChatStreaming:
        """Sends the request; iterate the returned stream for the text deltas."""
