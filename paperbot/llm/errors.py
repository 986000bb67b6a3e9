"""Typed, key-free errors for the OpenAI-compatible API."""

from __future__ import annotations

from paperbot import errors
from paperbot.errors import PaperbotError


class LLMError(PaperbotError):
    """The API could not give an answer; the message says why and what to change. Never contains the key."""


class RetriesExhausted(LLMError):
    """A retryable failure (429, 5xx, timeout, dropped connection) lasted through every attempt the retry policy
    allowed; `kind` is "rate_limit", "server_error", "timeout" or "connection"."""

    def __init__(self, message: str, *, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


def redact(text: str, secret: str | None) -> str:
    """Remove the key and any recognisable prefix of it a server may echo back."""
    if not secret:
        return text
    for piece in (secret, secret[:12], secret[-8:]):
        if len(piece) >= 6:
            text = text.replace(piece, "***")
    return text


class AnswerCut(LLMError, errors.AnswerCut):
    """The API's answer was stopped by one of paperbot's own bounds (see paperbot.errors.AnswerCut)."""


class AnswerTimedOut(AnswerCut):
    """The whole answer (first token and stream, retries included) took longer than PAPERBOT_MAX_ANSWER_SECONDS."""

    reason = "time"


class AnswerTooLong(AnswerCut):
    """The server sent more text (or more bytes) than the answer's size cap, whatever max_tokens said."""

    reason = "size"
