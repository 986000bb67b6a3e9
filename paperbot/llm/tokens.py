"""tiktoken adapter: the encoding for a model, and token counts; points tiktoken at an offline cache when configured."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from paperbot.errors import ModelFileError
from paperbot.ports import TokenCounter

if TYPE_CHECKING:
    import tiktoken

# Texts longer than this are never handed to tiktoken whole (see TiktokenCounter.count): ~25k tokens, more than
# any prompt paperbot sends, and a few MB of tiktoken's working memory (a long run without spaces is slow too).
MAX_EXACT_CHARS = 100_000
# OpenAI's accounting for chat models: every message is wrapped in 3 tokens (<|start|>role ... <|end|>),
# a "name" field costs one more, and the reply is primed with 3 (<|start|>assistant<|message|>).
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3
Message = dict[str, Any]
_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")


def use_cache_dir(cache_dir: Path | None) -> None:
    """tiktoken reads TIKTOKEN_CACHE_DIR at load time; an explicit user setting wins over ours."""
    if cache_dir is not None and "TIKTOKEN_CACHE_DIR" not in os.environ:
        os.environ["TIKTOKEN_CACHE_DIR"] = str(cache_dir)


def encoding_for_model(model: str | None) -> str:
    """o200k_base for the gpt-4o / 4.1 / o-series / gpt-5 families, cl100k_base for everything else."""
    name = (model or "").lower().rsplit("/", 1)[-1]
    return "o200k_base" if name.startswith(_O200K_PREFIXES) else "cl100k_base"


@lru_cache(maxsize=4)
def _encoding(name: str) -> tiktoken.Encoding:
    import tiktoken  # here, not at the top: commands that count no tokens (papers, show, --help) start faster

    try:
        return tiktoken.get_encoding(name)
    except ValueError as exc:
        raise ModelFileError(f"unknown tiktoken encoding {name!r}; use cl100k_base or o200k_base") from exc
    except Exception as exc:  # noqa: BLE001 - tiktoken raises requests/OS errors when it cannot download
        cache = os.environ.get("TIKTOKEN_CACHE_DIR", "<unset>")
        raise ModelFileError(
            f"cannot load tiktoken encoding {name!r} ({type(exc).__name__}); TIKTOKEN_CACHE_DIR={cache}. "
            "Offline, set PAPERBOT_MODELS_DIR to a folder holding tiktoken/ with the cache files, "
            "or TIKTOKEN_CACHE_DIR to the cache folder itself"
        ) from exc


class TiktokenCounter:
    """Counts tokens with one tiktoken encoding."""

    def __init__(self, encoding_name: str = "cl100k_base") -> None:
        self._encoding = _encoding(encoding_name)

    @property
    def encoding_name(self) -> str:
        return self._encoding.name

    def count(self, text: str) -> int:
        """Exact up to MAX_EXACT_CHARS; beyond, estimated (see _capped): tiktoken's memory grows many times faster
        than the text (a 300 MB reply asked for 10 GB and aborted the process)."""
        if len(text) <= MAX_EXACT_CHARS:
            return len(self._encoding.encode_ordinary(text))
        return self._capped(text)

    def count_many(self, texts: list[str]) -> list[int]:
        if all(len(t) <= MAX_EXACT_CHARS for t in texts):
            return [len(ids) for ids in self._encoding.encode_ordinary_batch(texts)]
        return [self.count(t) for t in texts]

    def _capped(self, text: str) -> int:
        """A prefix counted exactly, the rest extrapolated at the prefix's rate, rounded up. Never used for the
        prompt budget in practice: prompts are a few thousand tokens, far below the cap."""
        prefix = text[:MAX_EXACT_CHARS]
        counted = len(self._encoding.encode_ordinary(prefix))
        return counted + math.ceil(counted * (len(text) - len(prefix)) / len(prefix))


def content_texts(message: Message) -> list[str]:
    """The text parts of a chat message (a plain string, or the text parts of multi-part content)."""
    content = message.get("content")
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):  # multi-part content: only text parts cost text tokens
        return [part.get("text", "") for part in content if isinstance(part, dict)]
    return []


def count_messages(messages: Sequence[Message], counter: TokenCounter) -> int:
    """Prompt tokens of `messages` as OpenAI counts them: text of role, name and content, plus the overheads."""
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        total += TOKENS_PER_MESSAGE + counter.count(str(message.get("role", "")))
        if message.get("name"):
            total += TOKENS_PER_NAME + counter.count(str(message["name"]))
        total += sum(counter.count(text) for text in content_texts(message))
    return total
