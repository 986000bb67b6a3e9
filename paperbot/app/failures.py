"""Turn any exception raised while serving a request into one readable sentence (never a stack trace, never a key)."""

from __future__ import annotations

import logging

from paperbot.errors import PaperbotError
from paperbot.llm.errors import LLMError, redact

log = logging.getLogger("paperbot.app")


def readable(exc: BaseException, *, doing: str, secret: str | None = None) -> str:
    """What went wrong while `doing` something, for the person at the browser; unexpected errors are logged (type and
    redacted message only) and described without internals."""
    if isinstance(exc, LLMError):
        return f"The language model did not answer: {redact(str(exc), secret)}"
    if isinstance(exc, PaperbotError):
        return redact(str(exc), secret)
    log.error("unexpected %s while %s: %s", type(exc).__name__, doing, redact(str(exc), secret)[:500])
    return f"Something went wrong while {doing} ({type(exc).__name__}); the server log has the details."
