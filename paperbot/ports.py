"""Interfaces the use cases need from adapters, so they can be handed real or test doubles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

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
