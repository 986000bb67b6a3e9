"""BM25 lexical index over the catalog's chunks (bm25s, the only importer of it), saved beside the catalog with a
checksum per file; writers (ingest, reindex, doctor --repair, under the store lock) build it, readers only load it."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import threading
import time
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
# A writer swaps a new index in with two renames; a reader that loads in between sees a missing or mixed folder and
# tries again (a mixed one fails its checksums), for up to this long before saying the index is unusable.
_LOAD_RETRY_SECONDS = 2.0
REPAIR_HINT = "`paperbot doctor --repair` (or `paperbot reindex`) rebuilds it"


class DamagedIndexError(Exception):
    """The saved index fails its checksums or its shapes: it must be rebuilt, never searched."""


@dataclass(frozen=True)
class SavedIndex:
    """The BM25 index as saved: its catalog generation and chunk ids, or why it cannot be read."""

    path: str
    generation: int | None
    chunk_ids: tuple[str, ...]
    problem: str | None  # None, "missing", "unreadable (...)" or "damaged (...)"
    leftovers: tuple[str, ...]  # staging folders a killed save left behind


@dataclass
class _Loaded:
    model: "bm25s.BM25 | None"
    manifest: dict


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _check_shapes(model: "bm25s.BM25 | None", manifest: dict) -> None:
    """Every array the search indexes into agrees with the others: a damaged file that still parses (the cause of
    `IndexError: index 27276353 is out of bounds`) is caught here, not in a query."""
    chunk_ids, paper_ids = manifest["chunk_ids"], manifest["paper_ids"]
    if not isinstance(chunk_ids, list) or not isinstance(paper_ids, list) or len(chunk_ids) != len(paper_ids):
        raise DamagedIndexError("chunk and paper id lists differ in length")
    if model is None:
        return
    scores = model.scores
    data, indices, indptr = (np.asarray(scores[k]) for k in ("data", "indices", "indptr"))
    if scores["num_docs"] != len(chunk_ids):
        raise DamagedIndexError(f"{scores['num_docs']} documents for {len(chunk_ids)} chunk ids")
    if indptr.ndim != 1 or len(indptr) == 0 or indptr[0] != 0 or np.any(np.diff(indptr) < 0):
        raise DamagedIndexError("posting offsets (indptr) are not an increasing list from 0")
    if not (indptr[-1] == len(indices) == len(data)):
        raise DamagedIndexError(f"{indptr[-1]} postings announced, {len(indices)} indices and {len(data)} scores found")
    if len(indices) and (indices.min() < 0 or indices.max() >= len(chunk_ids)):
        raise DamagedIndexError(f"document numbers outside 0..{len(chunk_ids) - 1}")
    if not np.all(np.isfinite(data)):
        raise DamagedIndexError("scores that are not finite numbers")
    highest = max((i for t, i in model.vocab_dict.items() if t), default=-1)  # "" is bm25s's own, never searched
    if highest > len(indptr) - 2:
        raise DamagedIndexError(f"term number {highest} has no postings list ({len(indptr)} offsets)")


def _read(folder: Path, *, verify: bool = True) -> _Loaded:
    """The saved index, checked; FileNotFoundError when (part of) it is missing, DamagedIndexError when it fails a
    check, other errors (ValueError, KeyError, ...) when a file does not parse."""
    manifest = json.loads((folder / _MANIFEST).read_text())
    files = manifest.get("files")  # indexes saved before checksums were kept have none: shapes are still checked
    if verify and files is not None:
        for name, expected in files.items():
            if _sha256(folder / name) != expected:
                raise DamagedIndexError(f"{name} does not match its checksum")
    model = bm25s.BM25.load(str(folder), mmap=False, show_progress=False, verbosity=0) \
        if manifest["has_model"] else None
    _check_shapes(model, manifest)
    return _Loaded(model, manifest)


class LexicalIndex:
    """Chunk-level BM25 (Lucene variant, k1=1.5, b=0.75) on Snowball-stemmed content words.

    Readers (`ensure_fresh`, `search`) load the newest complete index a writer saved: the current one, or, while
    a writer is still building, the previous one. They never build: when no usable index is on disk, `problem`
    says why and search returns nothing, so a caller can fall back to dense search and say so. Writers
    (`rebuild`, `refresh`) hold the store lock (the caller takes it).
    """

    def __init__(self, folder: Path, catalog: Catalog, *, title_weight: float = 1.0) -> None:
        self._folder = folder
        self._catalog = catalog
        # The title is part of every chunk once; a higher weight repeats its words (BM25 has no field weights).
        self._title_repeats = max(0, round(title_weight))
        self._lock = threading.Lock()
        self._model: bm25s.BM25 | None = None
        self._chunk_ids: list[str] = []
        self._paper_ids = np.array([], dtype=object)
        self._vocabulary: set[str] = set()
        self._generation = -1  # of the catalog the installed index was built from
        self._seen: tuple[int, int] | None = None  # (inode, mtime) of the manifest last loaded; None: never looked
        self.problem: str | None = None  # why no index is in use, when none is

    # --- building (writers, under the store lock) ---------------------------------------------------------------
    def _document(self, title: str, text: str) -> list[str]:
        return terms(title) * self._title_repeats + terms(text)

    def refresh(self) -> bool:
        """Writers: make the saved index current (load it if it is, else build and save it); True if it was built."""
        with self._lock:
            generation = self._catalog.generation
            if self.problem is None and self._generation == generation and self._seen == self._manifest_stamp():
                return False  # this process built or loaded the current index and nobody has saved since
            try:
                loaded = _read(self._folder)
                if self._fits(loaded.manifest, generation):
                    self._install_loaded(loaded)
                    return False
            except Exception as exc:  # noqa: BLE001 - any failure to read means: build it again
                log.info("rebuilding the BM25 index (%s)", type(exc).__name__)
            self._build(generation)
            return True

    def rebuild(self) -> None:
        """Writers: build and save the index from the catalog as it is now."""
        with self._lock:
            self._build(self._catalog.generation)

    def _fits(self, manifest: dict, generation: int) -> bool:
        return manifest["generation"] == generation and manifest["title_repeats"] == self._title_repeats

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
        files = {p.name: _sha256(p) for p in sorted(staging.iterdir()) if p.is_file()}
        manifest = {"generation": generation, "title_repeats": self._title_repeats, "has_model": model is not None,
                    "files": files, "chunk_ids": chunk_ids, "paper_ids": paper_ids}
        (staging / _MANIFEST).write_text(json.dumps(manifest))
        retired = self._folder.with_name(self._folder.name + ".old")
        shutil.rmtree(retired, ignore_errors=True)
        if self._folder.exists():
            self._folder.rename(retired)
        staging.rename(self._folder)
        shutil.rmtree(retired, ignore_errors=True)

    def _install_loaded(self, loaded: _Loaded) -> None:
        m = loaded.manifest
        self._install(loaded.model, m["chunk_ids"], m["paper_ids"], m["generation"])

    def _install(self, model, chunk_ids: list[str], paper_ids: list[str], generation: int) -> None:
        self._model = model
        self._chunk_ids = chunk_ids
        self._paper_ids = np.asarray(paper_ids, dtype=object)
        self._vocabulary = set(model.vocab_dict) if model is not None else set()
        self._generation = generation
        self.problem = None
        self._seen = self._manifest_stamp()

    # --- loading (readers) --------------------------------------------------------------------------------------
    def ensure_fresh(self) -> None:
        """Readers: use the newest complete index on disk; never build one (see the class docstring)."""
        if self.problem is None and self._seen is not None and self._generation == self._catalog.generation:
            return
        with self._lock:
            seen = self._manifest_stamp()
            if seen is not None and seen == self._seen:
                return  # no writer has saved since the last look: keep what is installed (stale, or the problem)
            self._load_newest(self._catalog.generation)
            self._seen = seen

    def _manifest_stamp(self) -> tuple[int, int] | None:
        try:
            info = (self._folder / _MANIFEST).stat()
        except OSError:
            return (-1, -1)
        return (info.st_ino, info.st_mtime_ns)

    def _load_newest(self, generation: int) -> None:
        deadline = time.monotonic() + _LOAD_RETRY_SECONDS
        while True:
            try:
                loaded = _read(self._folder)
                break
            except (FileNotFoundError, DamagedIndexError) as exc:
                # Mid-swap by a writer, or really missing / damaged: only time tells them apart.
                if time.monotonic() >= deadline:
                    self._unusable("missing" if isinstance(exc, FileNotFoundError) and not self._folder.exists()
                                   else f"damaged ({exc})")
                    return
                time.sleep(0.05)
            except Exception as exc:  # noqa: BLE001 - a damaged file fails inside json, numpy or bm25s in many ways
                self._unusable(f"unreadable ({type(exc).__name__}: {exc})")
                return
        if loaded.manifest["title_repeats"] != self._title_repeats:
            self._unusable(f"built with title weight {loaded.manifest['title_repeats']}, "
                           f"{self._title_repeats} is configured")
            return
        if loaded.manifest["generation"] != generation:
            # A writer has changed the catalog and not yet saved the index (or was killed before it could): the
            # previous complete index still finds every older paper; the writer's own save replaces it.
            log.info("using the BM25 index of catalog generation %s (catalog at %s)",
                     loaded.manifest["generation"], generation)
        self._install_loaded(loaded)

    def _unusable(self, why: str) -> None:
        self._model, self._chunk_ids, self._paper_ids, self._vocabulary = None, [], np.array([], dtype=object), set()
        self._generation = self._catalog.generation
        self.problem = f"the keyword (BM25) index {self._folder} is {why}; {REPAIR_HINT}"
        log.warning("%s", self.problem)

    # --- checking (paperbot doctor) -------------------------------------------------------------------------------
    def saved(self) -> SavedIndex:
        """What is on disk, checked (checksums and shapes), without loading it into this process or rebuilding it."""
        leftovers = tuple(str(p) for p in (self._folder.with_name(self._folder.name + ".new"),
                                           self._folder.with_name(self._folder.name + ".old")) if p.exists())
        try:
            loaded = _read(self._folder)
            generation, chunk_ids = int(loaded.manifest["generation"]), list(loaded.manifest["chunk_ids"])
        except FileNotFoundError:
            if self._folder.exists():
                return SavedIndex(str(self._folder), None, (), "unreadable (a file of the index is missing)", leftovers)
            return SavedIndex(str(self._folder), None, (), "missing", leftovers)
        except DamagedIndexError as exc:
            return SavedIndex(str(self._folder), None, (), f"damaged ({exc})", leftovers)
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
