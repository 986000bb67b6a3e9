"""BM25 lexical index over the catalog's chunks (bm25s, the only importer of it), saved beside the catalog and
rebuilt whenever the catalog has changed since it was built."""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import bm25s
import numpy as np

from paperbot.store.catalog import Catalog
from paperbot.terms import terms

log = logging.getLogger(__name__)
# bm25s sets its own logger to DEBUG, which would print index-building chatter through any root handler.
logging.getLogger("bm25s").setLevel(logging.WARNING)
_MANIFEST = "paperbot-manifest.json"


@dataclass(frozen=True)
class SavedIndex:
    """The BM25 index as saved: its catalog generation and chunk ids, or why it cannot be read."""

    path: str
    generation: int | None
    chunk_ids: tuple[str, ...]
    problem: str | None  # None, "missing", or "unreadable (...)"
    leftovers: tuple[str, ...]  # staging folders a killed save left behind


class LexicalIndex:
    """Chunk-level BM25 (Lucene variant, k1=1.5, b=0.75) on Snowball-stemmed content words."""

    def __init__(self, folder: Path, catalog: Catalog, *, title_weight: float = 1.0) -> None:
        self._folder = folder
        self._catalog = catalog
        # The title is part of every chunk once; a higher weight repeats its words (BM25 has no field weights).
        self._title_repeats = max(0, round(title_weight))
        self._lock = threading.Lock()
        self._model: bm25s.BM25 | None = None
        self._chunk_ids: list[str] = []
        self._paper_ids = np.array([], dtype=object)
        self._generation = -1

    # --- building -------------------------------------------------------------------------------------------------
    def _document(self, title: str, text: str) -> list[str]:
        return terms(title) * self._title_repeats + terms(text)

    def ensure_fresh(self) -> None:
        generation = self._catalog.generation
        if self._model is not None and self._generation == generation:
            return
        with self._lock:
            if self._model is not None and self._generation == generation:
                return
            if not self._load(generation):
                self._build(generation)

    def _load(self, generation: int) -> bool:
        manifest_path = self._folder / _MANIFEST
        try:
            manifest = json.loads(manifest_path.read_text())
            if manifest["generation"] != generation or manifest["title_repeats"] != self._title_repeats:
                return False
            model = bm25s.BM25.load(str(self._folder), mmap=False, show_progress=False, verbosity=0) \
                if manifest["has_model"] else None
        except (OSError, ValueError, KeyError) as exc:
            log.info("rebuilding the BM25 index (%s)", type(exc).__name__)
            return False
        self._install(model, manifest["chunk_ids"], manifest["paper_ids"], generation)
        return True

    def _build(self, generation: int) -> None:
        rows = self._catalog.lexical_rows()
        corpus = [self._document(title, text) for _, _, title, text in rows]
        model = None
        if any(corpus):  # bm25s needs at least one term; a store of one-word abstracts has none
            model = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
            model.index(corpus, show_progress=False)
        chunk_ids = [r[0] for r in rows]
        paper_ids = [r[1] for r in rows]
        self._save(model, chunk_ids, paper_ids, generation)
        self._install(model, chunk_ids, paper_ids, generation)

    def _save(self, model, chunk_ids: list[str], paper_ids: list[str], generation: int) -> None:
        """Write to a fresh folder, then swap it in: a kill mid-save leaves the old index or none, never half."""
        staging = self._folder.with_name(self._folder.name + ".new")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        if model is not None:
            model.save(str(staging), show_progress=False)
        manifest = {"generation": generation, "title_repeats": self._title_repeats, "has_model": model is not None,
                    "chunk_ids": chunk_ids, "paper_ids": paper_ids}
        (staging / _MANIFEST).write_text(json.dumps(manifest))
        retired = self._folder.with_name(self._folder.name + ".old")
        shutil.rmtree(retired, ignore_errors=True)
        if self._folder.exists():
            self._folder.rename(retired)
        staging.rename(self._folder)
        shutil.rmtree(retired, ignore_errors=True)

    def _install(self, model, chunk_ids: list[str], paper_ids: list[str], generation: int) -> None:
        self._model = model
        self._chunk_ids = chunk_ids
        self._paper_ids = np.asarray(paper_ids, dtype=object)
        self._vocabulary = set(model.vocab_dict) if model is not None else set()
        self._generation = generation

    def rebuild(self) -> None:
        with self._lock:
            self._build(self._catalog.generation)

    # --- checking (paperbot doctor) -------------------------------------------------------------------------------
    def saved(self) -> SavedIndex:
        """What is on disk, without loading it into this process or rebuilding it."""
        leftovers = tuple(str(p) for p in (self._folder.with_name(self._folder.name + ".new"),
                                           self._folder.with_name(self._folder.name + ".old")) if p.exists())
        try:
            manifest = json.loads((self._folder / _MANIFEST).read_text())
            generation, chunk_ids = int(manifest["generation"]), list(manifest["chunk_ids"])
            if manifest["has_model"]:
                bm25s.BM25.load(str(self._folder), mmap=False, show_progress=False, verbosity=0)
        except FileNotFoundError:
            return SavedIndex(str(self._folder), None, (), "missing", leftovers)
        except Exception as exc:  # noqa: BLE001 - a damaged file fails inside json, numpy or bm25s in many ways
            return SavedIndex(str(self._folder), None, (), f"unreadable ({type(exc).__name__}: {exc})", leftovers)
        return SavedIndex(str(self._folder), generation, tuple(chunk_ids), None, leftovers)

    # --- reading --------------------------------------------------------------------------------------------------
    def chunk_ids(self) -> set[str]:
        self.ensure_fresh()
        return set(self._chunk_ids)

    def search(self, query: str, n: int, paper_ids: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """(chunk id, BM25 score) best first; only chunks that share a term with the query."""
        self.ensure_fresh()
        model = self._model
        if model is None or (paper_ids is not None and not paper_ids):
            return []
        tokens = [t for t in dict.fromkeys(terms(query)) if t in self._vocabulary]
        if not tokens:
            return []
        mask = None
        if paper_ids is not None:
            mask = np.isin(self._paper_ids, list(paper_ids)).astype(np.float32)
        k = min(n, len(self._chunk_ids))
        documents, scores = _top_k(model, tokens, k, mask)
        return [(self._chunk_ids[d], float(s)) for d, s in zip(documents, scores) if s > 0]


def _top_k(model: bm25s.BM25, tokens: list[str], k: int, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The k best documents and their scores, from the index's precomputed per-term scores.

    Same scores as `model.retrieve`, 3-4x faster at 100k chunks (evals/results/scale-bench.md): bm25s adds each
    term's postings with np.add.at, which is unbuffered; a term lists each document at most once, so a plain
    fancy-index += is exact. Ties go to the lower document index (chunk id order), so results are stable.
    """
    index = model.scores
    scores = np.zeros(index["num_docs"], dtype=np.float32)
    for token_id in model.get_tokens_ids(tokens):
        start, end = index["indptr"][token_id], index["indptr"][token_id + 1]
        scores[index["indices"][start:end]] += index["data"][start:end]
    if mask is not None:
        scores *= mask
    top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    top = top[np.lexsort((top, -scores[top]))]
    return top, scores[top]
