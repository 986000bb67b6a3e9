"""Embeddings from an OpenAI-compatible /embeddings endpoint (OpenAI, or a GPU embedding server for big corpora)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import openai

from paperbot.config import Settings
from paperbot.llm.client import RetryPolicy, make_client, translate
from paperbot.llm.tokens import TiktokenCounter

_BATCH = 256  # inputs per request: well under OpenAI's 2,048 limit and small enough to retry cheaply


class OpenAIEmbedder:
    """Same interface as the local MiniLM embedder; the store records `openai/<model>` as its embedder."""

    def __init__(self, settings: Settings, *, max_tokens: int = 512) -> None:
        self._settings = settings
        self._model = settings.openai_embedding_model
        self._base_url = settings.openai_embedding_base_url or settings.openai_base_url
        self._client = make_client(settings, self._base_url)
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        self._retry = RetryPolicy(settings, key=key)
        self._counter = TiktokenCounter("cl100k_base")
        # Chunks stay small for precise evidence, whatever the endpoint could take (8,191 for OpenAI's models).
        self.max_tokens = max_tokens
        self.special_tokens = 0

    @property
    def id(self) -> str:
        return f"openai/{self._model}"

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._counter.count_many(list(texts))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows: list[list[float]] = []
        for start in range(0, len(texts), _BATCH):
            batch = list(texts[start : start + _BATCH])
            try:
                response = self._retry.call(
                    lambda timeout, batch=batch: self._client.embeddings.create(model=self._model, input=batch,
                                                                                timeout=timeout)
                )
            except openai.OpenAIError as exc:
                raise translate(exc, settings=self._settings, model=self._model, base_url=self._base_url,
                                what="embeddings") from None
            rows.extend(item.embedding for item in sorted(response.data, key=lambda d: d.index))
        vectors = np.asarray(rows, dtype=np.float32).reshape(len(texts), -1) if rows else np.zeros((0, 0), np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.clip(norms, 1e-12, None)
