"""BM25 lexical index over the catalog's chunks, kept as immutable segments beside the catalog: writers (ingest,
reindex, doctor --repair, under the store lock) add the changed papers as a new segment, readers only load."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from paperbot.store import segments
from paperbot.store.catalog import Catalog
from paperbot.store.lexical_manifest import FORMAT as _FORMAT
from paperbot.store.lexical_manifest import MANIFEST as _MANIFEST
from paperbot.store.lexical_manifest import outside_index, read_manifest, title_repeats
from paperbot.store.segments import DamagedIndexError, Segment
from paperbot.text.terms import terms

__all__ = ["REPAIR_HINT", "DamagedIndexError", "LexicalIndex", "SavedIndex"]

log = logging.getLogger(__name__)
# A writer replaces the manifest with a rename and deletes segments no manifest names; a reader that read the
# manifest just before may find a segment gone and tries again, for up to this long before calling it unusable.
_LOAD_RETRY_SECONDS = 2.0
# Merge policy (tiered, as Lucene's log merge policy): a segment's level is log4 of its live chunks; when the newest
# 4 segments share a level they merge into one of a higher level. A chunk is merged once per level, O(log n) times
# in its life; an add costs its own chunks plus, now and then, a merge bounded by the segments merged; at most 3
# segments per level stay, so a search visits O(log n) segments.
_MERGE_FACTOR = 4
_MAX_SEGMENTS = 24  # beyond this (many deletions can leave odd sizes) the smallest neighbours merge
_PURGE_SHARE = 0.25  # a segment with this share of its chunks deleted is rewritten without them
K1, B = 1.5, 0.75  # BM25, Lucene variant (the scores bm25s gave with method="lucene")
REPAIR_HINT = "`paperbot doctor --repair` (or `paperbot reindex`) rebuilds it"


@dataclass(frozen=True)
class SavedIndex:
    """The BM25 index as saved: its catalog generation and chunk ids, or why it cannot be read."""

    path: str
    generation: int | None
    chunk_ids: tuple[str, ...]
    problem: str | None  # None, "missing", "unreadable (...)" or "damaged (...)"
    leftovers: tuple[str, ...]  # files and folders a killed save left behind


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


@dataclass(eq=False)
class _Part:
    """A loaded segment as one manifest uses it: its chunks deleted since it was written, and where its chunk
    numbers start in the index."""

    name: str
    segment: Segment
    deleted: np.ndarray  # sorted int32 chunk numbers
    offset: int = 0
    live: np.ndarray | None = None  # bool per chunk; None when nothing is deleted
    norm: np.ndarray | None = None  # K1 * (1 - B + B * length / mean length), per chunk (float64)

    @property
    def live_count(self) -> int:
        return self.segment.size - len(self.deleted)

    def live_mask(self) -> np.ndarray:
        if self.live is not None:
            return self.live
        # A part made by a writer (not yet part of a view) has no mask cached: derive it from its deletions.
        live = np.ones(self.segment.size, dtype=bool)
        live[self.deleted] = False
        return live


@dataclass(eq=False)
class _View:
    """Everything a search reads, replaced in one assignment so a query never sees half of two versions."""

    parts: list[_Part]
    generation: int
    chunk_ids: list[str]  # every chunk number's id, deleted ones included
    paper_ids: np.ndarray  # object, the same
    live: np.ndarray | None  # bool per chunk number; None when nothing is deleted
    n_live: int

    @classmethod
    def of(cls, parts: list[_Part], generation: int) -> _View:
        offset, total_length, n_live = 0, 0, 0
        for part in parts:
            part.offset = offset
            offset += part.segment.size
            if len(part.deleted):
                part.live = np.ones(part.segment.size, dtype=bool)
                part.live[part.deleted] = False
            total_length += int(part.segment.lengths[part.live_mask()].sum())
            n_live += part.live_count
        # An index whose live chunks have no terms at all has no mean length; any positive value scores them all 0.
        mean = total_length / n_live if n_live and total_length else 1.0
        for part in parts:
            # float64, as bm25s computes it at build time: per-term scores then round to float32 exactly as its did.
            part.norm = K1 * ((1 - B) + B * part.segment.lengths / mean)
        chunk_ids = [c for part in parts for c in part.segment.chunk_ids]
        paper_ids = np.asarray([p for part in parts for p in part.segment.paper_ids], dtype=object)
        deleted = any(len(part.deleted) for part in parts)
        live = np.concatenate([part.live_mask() for part in parts]) if deleted else None
        return cls(parts, generation, chunk_ids, paper_ids, live, n_live)

    def live_chunk_ids(self) -> list[str]:
        if self.live is None:
            return list(self.chunk_ids)
        return [c for c, alive in zip(self.chunk_ids, self.live) if alive]


class LexicalIndex:
    """Chunk-level BM25 (Lucene variant, k1=1.5, b=0.75) on Snowball-stemmed content words.

    Saved as immutable segment files plus a manifest naming them, the chunks deleted from each, and the catalog
    generation they reflect. Scores use the document frequencies and mean chunk length of all live chunks in all
    segments, computed at query time, so they equal a full rebuild's. Readers (`ensure_fresh`, `search`) load the
    newest manifest a writer saved and never build: when no usable index is on disk, `problem` says why and search
    returns nothing, so a caller can fall back to dense search and say so. Writers (`refresh`, `update`,
    `rebuild`) hold the store lock (the caller takes it).
    """

    def __init__(self, folder: Path, catalog: Catalog, *, title_weight: float = 1.0) -> None:
        self._folder = folder
        self._catalog = catalog
        self._title_repeats = title_repeats(title_weight)
        self._lock = threading.Lock()
        self._view = _View.of([], -1)
        # Segment files are immutable: each is loaded once per name, and read again only if its file changed (the
        # (inode, mtime, size) kept beside it), which is damage to be found, not a cache to trust.
        self._loaded: dict[str, Segment] = {}
        self._stamps: dict[str, tuple[int, int, int]] = {}
        self._seen: tuple[int, int] | None = None  # (inode, mtime) of the manifest last loaded; None: never looked
        self.problem: str | None = None  # why no index is in use, when none is

    @property
    def generation(self) -> int:
        """The catalog generation the index in use reflects (-1: none loaded)."""
        return self._view.generation

    # --- writing (writers, under the store lock) ----------------------------------------------------------------
    def _document(self, title: str, text: str) -> list[str]:
        return terms(title) * self._title_repeats + terms(text)

    def _segment(self, rows) -> Segment:
        return segments.build((cid, pid, self._document(title, text)) for cid, pid, title, text in rows)

    def refresh(self) -> bool:
        """Writers: bring the saved index up to the catalog, adding only what changed since its generation (a full
        build when the catalog's change log cannot say, or the saved index is unusable); True if it wrote."""
        with self._lock:
            try:
                view = self._read_view()
            except Exception as exc:  # noqa: BLE001 - any failure to read means: build it again
                log.info("rebuilding the BM25 index (%s: %s)", type(exc).__name__, exc)
                self._build()
                return True
            changes = self._catalog.changes_since(view.generation)
            if changes is None:
                log.info("rebuilding the BM25 index (the catalog's change log does not reach generation %s)",
                         view.generation)
                self._build()
                return True
            generation, changed = changes
            if generation == view.generation and not changed:
                self._install(view)
                return False
            self._apply(view, changed, generation)
            return True

    def update(self, paper_ids: Sequence[str], generation: int) -> None:
        """Writers: re-index these papers as the catalog holds them now (added, changed or deleted alike) and save
        the index as reflecting `generation`."""
        with self._lock:
            self._apply(self._read_view(), list(paper_ids), generation)

    def rebuild(self) -> None:
        """Writers: build and save the index from the catalog as it is now, as one segment."""
        with self._lock:
            self._build()

    def _build(self) -> None:
        generation = self._catalog.generation  # read first: rows written after it are applied again, harmlessly
        part = self._write_segment(self._segment(self._catalog.lexical_rows()))
        self._save([part] if part is not None else [], generation)

    def _apply(self, view: _View, changed: list[str], generation: int) -> None:
        parts = []
        wanted = set(changed)
        gone = np.fromiter(map(wanted.__contains__, view.paper_ids), dtype=bool, count=len(view.paper_ids)) \
            if changed else None
        for old in view.parts:  # new _Part objects: the view in use (maybe a reader's) is never changed
            deleted = old.deleted
            if gone is not None:
                mine = np.flatnonzero(gone[old.offset: old.offset + old.segment.size])
                deleted = np.union1d(deleted, mine).astype(np.int32)
            parts.append(_Part(old.name, old.segment, deleted))
        if changed:
            new = self._write_segment(self._segment(self._catalog.lexical_rows_of(changed)))
            if new is not None:
                parts.append(new)
        self._save(self._merged(parts), generation)

    def _merged(self, parts: list[_Part]) -> list[_Part]:
        """The merge policy (see _MERGE_FACTOR); merging costs the merged segments' postings, never the text."""
        parts = [p for p in parts if p.live_count]  # wholly deleted segments are just dropped
        for i, part in enumerate(parts):
            if len(part.deleted) >= _PURGE_SHARE * part.segment.size:
                parts[i] = self._merge_parts([part])
        while len(parts) >= _MERGE_FACTOR and len({_level(p.live_count) for p in parts[-_MERGE_FACTOR:]}) == 1:
            parts[-_MERGE_FACTOR:] = [self._merge_parts(parts[-_MERGE_FACTOR:])]
        while len(parts) > _MAX_SEGMENTS:
            i = min(range(len(parts) - 1), key=lambda j: parts[j].live_count + parts[j + 1].live_count)
            parts[i:i + 2] = [self._merge_parts(parts[i:i + 2])]
        return parts

    def _merge_parts(self, parts: list[_Part]) -> _Part:
        merged = segments.merge([(p.segment, p.live_mask() if len(p.deleted) else
                                  np.ones(p.segment.size, dtype=bool)) for p in parts])
        return self._write_segment(merged)

    def _write_segment(self, segment: Segment) -> _Part | None:
        if segment.size == 0:
            return None
        self._folder.mkdir(parents=True, exist_ok=True)
        name = f"segment-{uuid.uuid4().hex}.npz"
        segments.save(segment, self._folder / name)
        self._loaded[name] = segment
        self._stamps[name] = _file_stamp(self._folder / name)
        return _Part(name, segment, np.zeros(0, dtype=np.int32))

    def _save(self, parts: list[_Part], generation: int) -> None:
        """Replace the manifest with a rename (a kill leaves the old one or the new one), then delete segment files
        neither it nor the one before it names: a reader that just read the previous manifest can still load."""
        self._folder.mkdir(parents=True, exist_ok=True)
        manifest_path = self._folder / _MANIFEST
        try:
            previous = [s["name"] for s in json.loads(manifest_path.read_text()).get("segments", [])]
        except Exception:  # noqa: BLE001 - no readable previous manifest: nothing of it to keep
            previous = []
        manifest = {
            "format": _FORMAT, "generation": generation, "title_repeats": self._title_repeats,
            "segments": [{"name": p.name, "sha256": _sha256(self._folder / p.name), "chunks": p.segment.size,
                          "deleted": p.deleted.tolist()} for p in parts],
        }
        temporary = manifest_path.with_name(_MANIFEST + ".tmp")
        temporary.write_text(json.dumps(manifest))
        temporary.replace(manifest_path)
        keep = {p.name for p in parts} | set(previous) | {_MANIFEST}
        for path in self._folder.iterdir():
            if path.name not in keep:
                path.unlink(missing_ok=True)
        for name in list(self._loaded):
            if name not in keep:
                del self._loaded[name]
                self._stamps.pop(name, None)
        for leftover in self._legacy_leftovers():
            shutil.rmtree(leftover, ignore_errors=True)
        self._install(_View.of(parts, generation))
        self._catalog.forget_changes(generation)

    def _install(self, view: _View) -> None:
        self._view = view
        self.problem = None
        self._seen = self._manifest_stamp()

    # --- loading --------------------------------------------------------------------------------------------------
    def _read_view(self, *, verify: bool = True) -> _View:
        """The saved index, checked; FileNotFoundError when (part of) it is missing, DamagedIndexError when it fails
        a check, ValueError when it is of another format or title weight, other errors when a file does not parse."""
        manifest = read_manifest(self._folder, self._title_repeats)
        parts = []
        for entry in manifest["segments"]:
            name = entry["name"]
            if outside_index(name):
                raise DamagedIndexError(f"the manifest names a file {name!r} outside the index")
            path = self._folder / name
            stamp = _file_stamp(path)
            segment = self._loaded.get(name) if self._stamps.get(name) == stamp else None
            if segment is None:
                if verify and entry.get("sha256") is not None and _sha256(path) != entry["sha256"]:
                    raise DamagedIndexError(f"{name} does not match its checksum")
                segment = segments.load(path)
            if segment.size != entry["chunks"]:
                raise DamagedIndexError(f"{name} holds {segment.size} chunks, the manifest says {entry['chunks']}")
            deleted = np.unique(np.asarray(entry["deleted"], dtype=np.int64))
            if len(deleted) and (deleted[0] < 0 or deleted[-1] >= segment.size):
                raise DamagedIndexError(f"{name}: deleted chunk numbers outside 0..{segment.size - 1}")
            parts.append(_Part(name, segment, deleted.astype(np.int32)))
            self._stamps[name] = stamp
        for part in parts:
            self._loaded[part.name] = part.segment
        return _View.of(parts, int(manifest["generation"]))

    def ensure_fresh(self) -> None:
        """Readers: use the newest complete index on disk; never build one (see the class docstring)."""
        if self.problem is None and self._seen is not None and self._view.generation == self._catalog.generation:
            return
        with self._lock:
            seen = self._manifest_stamp()
            if seen is not None and seen == self._seen:
                return  # no writer has saved since the last look: keep what is installed (stale, or the problem)
            self._load_newest()

    def _manifest_stamp(self) -> tuple[int, int]:
        try:
            info = (self._folder / _MANIFEST).stat()
        except OSError:
            return (-1, -1)
        return (info.st_ino, info.st_mtime_ns)

    def _load_newest(self) -> None:
        deadline = time.monotonic() + _LOAD_RETRY_SECONDS
        while True:
            seen = self._manifest_stamp()
            try:
                view = self._read_view()
                break
            except (FileNotFoundError, DamagedIndexError) as exc:
                # A segment deleted after a newer manifest replaced the one read, or really missing / damaged:
                # only time tells them apart.
                if time.monotonic() >= deadline:
                    self._unusable("missing" if isinstance(exc, FileNotFoundError) and not self._folder.exists()
                                   else f"damaged ({exc})")
                    self._seen = seen
                    return
                time.sleep(0.05)
            except Exception as exc:  # noqa: BLE001 - a damaged file fails inside json, numpy or zipfile in many ways
                self._unusable(f"unreadable ({type(exc).__name__}: {exc})")
                self._seen = seen
                return
        if view.generation != self._catalog.generation:
            # A writer has changed the catalog and not yet saved the index (or was killed before it could): the
            # index it saved before still finds every older paper; the writer's own save brings the new ones.
            log.info("using the BM25 index of catalog generation %s (catalog at %s)", view.generation,
                     self._catalog.generation)
        self._view = view
        self.problem = None
        self._seen = seen

    def _unusable(self, why: str) -> None:
        self._view = _View.of([], self._catalog.generation)
        self.problem = f"the keyword (BM25) index {self._folder} is {why}; {REPAIR_HINT}"
        log.warning("%s", self.problem)

    # --- checking (paperbot doctor) -------------------------------------------------------------------------------
    def _legacy_leftovers(self) -> list[Path]:
        # Staging folders of the format-1 save (a killed save could leave them).
        return [p for p in (self._folder.with_name(self._folder.name + ".new"),
                            self._folder.with_name(self._folder.name + ".old")) if p.exists()]

    def saved(self) -> SavedIndex:
        """What is on disk, checked (checksums and shapes), without loading it into this process or rebuilding it."""
        leftovers = [str(p) for p in self._legacy_leftovers()]
        checker = LexicalIndex(self._folder, self._catalog, title_weight=self._title_repeats)
        try:
            view = checker._read_view()
        except FileNotFoundError:
            problem = "unreadable (a file of the index is missing)" if self._folder.exists() else "missing"
            return SavedIndex(str(self._folder), None, (), problem, tuple(leftovers))
        except DamagedIndexError as exc:
            return SavedIndex(str(self._folder), None, (), f"damaged ({exc})", tuple(leftovers))
        except Exception as exc:  # noqa: BLE001 - a damaged file fails inside json, numpy or zipfile in many ways
            return SavedIndex(str(self._folder), None, (), f"unreadable ({type(exc).__name__}: {exc})",
                              tuple(leftovers))
        named = {p.name for p in view.parts} | {_MANIFEST}
        # Files no manifest names: temporary files of a killed save, or segments it wrote before its manifest.
        # (Segments of the previous manifest are kept on purpose until the next save.)
        leftovers += [str(p) for p in sorted(self._folder.iterdir()) if p.name not in named and p.suffix == ".tmp"]
        return SavedIndex(str(self._folder), view.generation, tuple(view.live_chunk_ids()), None, tuple(leftovers))

    # --- reading --------------------------------------------------------------------------------------------------
    def chunk_ids(self) -> set[str]:
        self.ensure_fresh()
        return set(self._view.live_chunk_ids())

    def search(self, query: str, n: int, paper_ids: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """(chunk id, BM25 score) best first, ties by chunk id; only chunks that share a term with the query."""
        self.ensure_fresh()
        view = self._view
        if not view.n_live or n <= 0 or (paper_ids is not None and not paper_ids):
            return []
        scores = _scores(view, list(dict.fromkeys(terms(query))))
        if scores is None:
            return []
        if paper_ids is not None:
            scores *= np.isin(view.paper_ids, list(paper_ids))
        return _top(scores, view.chunk_ids, n)


def _file_stamp(path: Path) -> tuple[int, int, int]:
    info = path.stat()  # FileNotFoundError when a newer save has deleted it: the caller reads the manifest again
    return (info.st_ino, info.st_mtime_ns, info.st_size)


def _level(chunks: int) -> int:
    return (max(chunks, 1).bit_length() - 1) // 2  # floor(log4), exactly (no float rounding at 4**k)


def _scores(view: _View, tokens: list[str]) -> np.ndarray | None:
    """BM25 of every chunk number (0 for deleted ones), or None when no query term is in the index.

    IDF is log(1 + (N - df + 0.5) / (df + 0.5)) over the live chunks of all segments, and each posting adds
    idf * tf / (tf + norm): the formulas bm25s's Lucene variant precomputes at build time.
    """
    scores = None
    for token in tokens:
        postings, df = [], 0
        for part in view.parts:
            local = part.segment.vocab.get(token)
            if local is None:
                continue
            start, end = part.segment.indptr[local], part.segment.indptr[local + 1]
            docs = part.segment.docs[start:end]
            df += (end - start) if part.live is None else int(np.count_nonzero(part.live[docs]))
            postings.append((part, docs, part.segment.tf[start:end]))
        if df == 0:
            continue
        idf = np.float32(math.log(1 + (view.n_live - df + 0.5) / (df + 0.5)))
        if scores is None:
            scores = np.zeros(len(view.chunk_ids), dtype=np.float32)
        for part, docs, tf in postings:
            # A term lists each chunk at most once, so a fancy-index += is exact (no np.add.at needed). float64
            # products rounded to float32, summed in float32 in query-term order: bm25s's arithmetic, bit for bit.
            tf64 = tf.astype(np.float64)
            scores[part.offset + docs] += (np.float64(idf) * (tf64 / (part.norm[docs] + tf64))).astype(np.float32)
    if scores is not None and view.live is not None:
        scores *= view.live
    return scores


def _top(scores: np.ndarray, chunk_ids: list[str], n: int) -> list[tuple[str, float]]:
    """The n best positive scores, ties broken by chunk id (a full build numbers chunks in id order, so this is
    the order it gave too)."""
    positive = np.flatnonzero(scores > 0)
    if len(positive) > n:
        cut = np.partition(scores[positive], len(positive) - n)[len(positive) - n]
        positive = positive[scores[positive] >= cut]  # every chunk tied at the cut stays in, for the tie-break
    ranked = sorted(positive.tolist(), key=lambda d: (-scores[d], chunk_ids[d]))[:n]
    return [(chunk_ids[d], float(scores[d])) for d in ranked]

