"""Questions as typed, made safe to search and to send: control and format characters out, length capped."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from paperbot.errors import QuestionError

# Cc: control (NUL, ESC, ...); Cf: format (bidi overrides, zero-width); Cs: lone surrogates; Co: private use.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co"})
_SPACE = re.compile(r"\s+")
# Terminal escape sequences (colours, cursor moves, window titles) go whole, not just their ESC byte.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?)")


@dataclass(frozen=True)
class Question:
    text: str
    truncated: bool = False
    original_chars: int = 0


def _visible(char: str) -> str:
    if char.isspace():
        return " "
    return "" if unicodedata.category(char) in _DROPPED_CATEGORIES else char


def clean_question(raw: object, max_chars: int) -> Question:
    """The question with invisible characters removed and whitespace collapsed, cut at a word boundary to
    `max_chars`; raises QuestionError when nothing is left to ask."""
    if not isinstance(raw, str):
        raise QuestionError(f"a question must be text, not {type(raw).__name__}")
    # Surrogates first: NFC normalisation would fail on a lone one.
    text = "".join(_visible(c) for c in _ANSI.sub("", raw))
    text = _SPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()
    if not text:
        detail = " (it held only spaces or control characters)" if raw else ""
        raise QuestionError(f"the question is empty{detail}: type a question about the papers")
    if len(text) <= max_chars:
        return Question(text, False, len(raw))
    cut = text[:max_chars]
    space = cut.rfind(" ")
    # A word boundary in the second half keeps the last word whole; one enormous "word" is cut where it is.
    cut = cut[:space] if space > max_chars // 2 else cut
    return Question(cut.rstrip(), True, len(raw))
