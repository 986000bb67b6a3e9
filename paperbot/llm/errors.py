"""Typed, key-free errors for the OpenAI-compatible API."""

from __future__ import annotations

from paperbot.errors import PaperbotError


class LLMError(PaperbotError):
    """The API could not give an answer; the message says why and what to change. Never contains the key."""


def redact(text: str, secret: str | None) -> str:
    """Remove the key and any recognisable prefix of it a server may echo back."""
    if not secret:
        return text
    for piece in (secret, secret[:12], secret[-8:]):
        if len(piece) >= 6:
            text = text.replace(piece, "***")
    return text
