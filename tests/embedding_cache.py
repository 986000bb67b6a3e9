"""The test session's MiniLM behind a cache of its own outputs, so the same demo abstracts are embedded once, not
once per test (embedding is most of the fast suite's CPU time: the 115 demo papers alone cost ~30 CPU seconds).

Vectors are kept by sha256 of the text in memory and, between sessions, in `.test-cache/` (git-ignored; set
PAPERBOT_TEST_CACHE_DIR elsewhere, or to "" for none). The file's name carries a hash of the model's pinned file
hashes and of minilm.py's source, so a new model or a change to how it embeds never reads old vectors;
tests/test_core.py checks cached vectors against the model."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MAX_CACHED = 50_000  # about 75 MB on disk; a session that embeds more (fuzzed texts) does not add to the file


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_file() -> Path | None:
    folder = os.environ.get("PAPERBOT_TEST_CACHE_DIR", str(REPO / ".test-cache"))
    if not folder:
        return None
    from paperbot.store import minilm
    from paperbot.store.model_files import MINILM_SHA256

    version = hashlib.sha256(Path(minilm.__file__).read_bytes() + repr(sorted(MINILM_SHA256.items())).encode())
    return Path(folder) / f"minilm-{version.hexdigest()[:16]}.npz"


class CachingEmbedder:
    """The real embedder's interface (id, limits, token counts, `_function`), with `embed` served from the cache."""

    def __init__(self, embedder, path: Path | None) -> None:
        self.inner = embedder
        self._path = path
        self._vectors: dict[str, np.ndarray] = {}
        self._new = 0
        self.hits = self.misses = 0
        if path is not None and path.is_file():
            try:
                with np.load(path, allow_pickle=False) as stored:
                    self._vectors = dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))
            except (OSError, ValueError, KeyError):
                self._vectors = {}  # a damaged cache is only a slower session

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    @property
    def id(self) -> str:
        return self.inner.id

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    @property
    def special_tokens(self) -> int:
        return self.inner.special_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.inner.count_tokens(texts)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        keys = [_key(t) for t in texts]
        missing = list(dict.fromkeys((k, t) for k, t in zip(keys, texts) if k not in self._vectors))
        self.hits += len(keys) - len(missing)
        self.misses += len(missing)
        if missing:
            fresh = self.inner.embed([t for _, t in missing])
            self._vectors.update((k, v) for (k, _), v in zip(missing, fresh, strict=True))
            self._new += len(missing)
        if not keys:
            return self.inner.embed([])
        return np.stack([self._vectors[k] for k in keys]).astype(np.float32, copy=True)

    def cached_texts(self) -> int:
        return len(self._vectors)

    def save(self) -> None:
        """Adds this session's new vectors to the file (another session may have added its own meanwhile)."""
        if self._path is None or not self._new or len(self._vectors) > MAX_CACHED:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        merged = dict(self._vectors)
        if self._path.is_file():
            try:
                with np.load(self._path, allow_pickle=False) as stored:
                    merged = {**dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True)), **merged}
            except (OSError, ValueError, KeyError):
                pass
        if len(merged) > MAX_CACHED:
            return
        handle, temp = tempfile.mkstemp(dir=self._path.parent, suffix=".npz.tmp")
        with os.fdopen(handle, "wb") as out:
            np.savez(out, keys=np.array(list(merged)), vectors=np.stack(list(merged.values())))
        os.replace(temp, self._path)  # atomic: a concurrent reader sees the old file or the new one
