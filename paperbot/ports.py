"""Interfaces the use cases need from adapters, so they can be handed real or test doubles."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from paperbot.types import TokenUsage

if TYPE_CHECKING:  # numpy costs a fifth of a second: browsing commands never load it
    import numpy as np

    from paperbot.text.terms import Vocabulary


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
    usage: TokenUsage
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


class Template(Protocol):
    """A prompt template (llm.prompts.Prompt): placeholders checked when it was loaded."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str:
        """A short hash of the text: caches and reports record which prompt produced what."""

    def render(self, **values: object) -> str: ...


@dataclass(frozen=True)
class LanguageTools:
    """What the use cases that write text (answer, summarize, digest, compare) share: built once per mode and model
    by the facade, handed to each. chat None: extractive (or an LLM digest planned without an API, for a dry run);
    `model` is the chat model that the prompts, prompt limit and prices were chosen for (the configured one when
    extractive)."""

    chat: Chat | None
    model: str
    counter: TokenCounter
    prompts: Mapping[str, Template]
    prompt_limit: int  # prompt tokens one request may use, within the model's context window
    cost: Callable[[TokenUsage], float | None]  # USD, None when the model's price is unknown
    vocabulary: Callable[[], Vocabulary]  # the collection's term statistics, read when first needed
