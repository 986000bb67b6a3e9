"""Replay embedder for scale runs: stored vectors of the real chunks, noisy copies of them for synthetic chunks,
the real model for anything else (queries)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from evals.synthetic import SYNTHETIC_TITLE
from paperbot.ports import Embedder

_TITLE_KEY_CHARS = 150  # the chunker cuts titles at 200 chars; "[synthetic n] " must not push the key past it


def _title_key(title: str) -> str:
    return title[:_TITLE_KEY_CHARS]


@dataclass
class EmbeddingTable:
    """Real chunks' embed texts (title, blank line, text), their vectors, and each real paper's chunk count."""

    texts: list[str]
    vectors: np.ndarray
    chunk_counts: dict[str, int]
    _rows: dict[str, int] = field(init=False, repr=False)
    _by_title: dict[str, list[int]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rows = {text: i for i, text in enumerate(self.texts)}
        self._by_title = {}
        for i, text in enumerate(self.texts):
            self._by_title.setdefault(_title_key(text.split("\n\n", 1)[0]), []).append(i)

    def row(self, text: str) -> int | None:
        return self._rows.get(text)

    def rows_for_title(self, title: str) -> list[int]:
        return self._by_title.get(_title_key(title), [])

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "real-embeddings.npy", self.vectors)
        (folder / "real-chunks.json").write_text(json.dumps({"texts": self.texts, "chunk_counts": self.chunk_counts}))

    @classmethod
    def load(cls, folder: Path) -> EmbeddingTable:
        meta = json.loads((folder / "real-chunks.json").read_text())
        return cls(meta["texts"], np.load(folder / "real-embeddings.npy"), meta["chunk_counts"])


class ReplayEmbedder:
    """An Embedder (paperbot.ports) that replays stored vectors; same id as the real one, so stores stay consistent.

    A synthetic chunk ("[synthetic n] <title>\\n\\n<text>") gets the vector of its source paper's chunk with the
    most words in common, plus Gaussian noise seeded by the text (deterministic), renormalised.
    """

    def __init__(self, real: Embedder, table: EmbeddingTable, noise: float = 0.35) -> None:
        self._real = real
        self._table = table
        self._sigma = noise / np.sqrt(table.vectors.shape[1])  # expected noise norm = `noise`
        self.replayed = 0
        self.synthetic = 0
        self.fallbacks = 0

    @property
    def id(self) -> str:
        return self._real.id

    @property
    def max_tokens(self) -> int:
        return self._real.max_tokens

    @property
    def special_tokens(self) -> int:
        return self._real.special_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self._real.count_tokens(texts)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), self._table.vectors.shape[1]), dtype=np.float32)
        misses = []
        for i, text in enumerate(texts):
            row = self._table.row(text)
            if row is not None:
                out[i] = self._table.vectors[row]
                self.replayed += 1
                continue
            vector = self._synthetic(text)
            if vector is None:
                misses.append(i)
            else:
                out[i] = vector
                self.synthetic += 1
        if misses:
            out[misses] = self._real.embed([texts[i] for i in misses])
            self.fallbacks += len(misses)
        return out

    def _synthetic(self, text: str) -> np.ndarray | None:
        match = SYNTHETIC_TITLE.match(text)
        if not match:
            return None
        title, _, body = text[match.end():].partition("\n\n")
        rows = self._table.rows_for_title(title)
        if not rows:
            return None
        words = set(body.split())
        best = max(rows, key=lambda r: len(words & set(self._table.texts[r].split("\n\n", 1)[-1].split())))
        seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
        vector = self._table.vectors[best] + np.random.default_rng(seed).normal(0.0, self._sigma, len(self._table.vectors[best]))
        return (vector / np.linalg.norm(vector)).astype(np.float32)
