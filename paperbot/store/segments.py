"""Immutable BM25 segments: each term's postings (chunk number, term frequency) and every chunk's length, one file."""

from __future__ import annotations

import json
from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class DamagedIndexError(Exception):
    """The saved index fails its checksums or its shapes: it must be rebuilt, never searched."""


@dataclass(eq=False)
class Segment:
    """Raw statistics, not scores: BM25 needs the collection's document frequencies and mean length, which change
    with every add, so scores are computed at query time from these (see LexicalIndex.search)."""

    terms: list[str]  # local term number -> term
    indptr: np.ndarray  # int64, len(terms) + 1: term t's postings are [indptr[t], indptr[t+1])
    docs: np.ndarray  # int32 chunk numbers, ascending within each term
    tf: np.ndarray  # float32 term frequencies
    lengths: np.ndarray  # int32 terms per chunk (stopwords out, title repeats in)
    chunk_ids: list[str]
    paper_ids: list[str]
    vocab: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.vocab = {t: i for i, t in enumerate(self.terms)}

    @property
    def size(self) -> int:
        return len(self.chunk_ids)


def build(documents: Iterable[tuple[str, str, list[str]]]) -> Segment:
    """A segment of (chunk id, paper id, terms) documents, in the order given."""
    vocab: dict[str, int] = {}
    term_of, doc_of, tf_of, lengths = array("i"), array("i"), array("f"), array("i")
    chunk_ids, paper_ids = [], []
    for number, (chunk_id, paper_id, words) in enumerate(documents):
        chunk_ids.append(chunk_id)
        paper_ids.append(paper_id)
        lengths.append(len(words))
        for term, count in Counter(words).items():
            term_of.append(vocab.setdefault(term, len(vocab)))
            doc_of.append(number)
            tf_of.append(count)
    terms = np.asarray(term_of, dtype=np.int32)
    order = np.argsort(terms, kind="stable")  # by term; chunk numbers stay ascending within a term
    indptr = np.zeros(len(vocab) + 1, dtype=np.int64)
    np.cumsum(np.bincount(terms, minlength=len(vocab)), out=indptr[1:])
    return Segment(list(vocab), indptr, np.asarray(doc_of, dtype=np.int32)[order],
                   np.asarray(tf_of, dtype=np.float32)[order], np.asarray(lengths, dtype=np.int32), chunk_ids, paper_ids)


def merge(parts: Sequence[tuple[Segment, np.ndarray]]) -> Segment:
    """One segment of the live chunks of `parts` ((segment, live mask) each), in order; deleted chunks and terms
    left without postings are dropped. Postings are concatenated and re-sorted by term: no text is re-read."""
    union = sorted(set().union(*(s.terms for s, _ in parts)))
    number = {t: i for i, t in enumerate(union)}
    term_parts, doc_parts, tf_parts, lengths, chunk_ids, paper_ids = [], [], [], [], [], []
    offset = 0
    for segment, live in parts:
        renumber = np.cumsum(live, dtype=np.int64) - 1 + offset  # old chunk number -> new, for live chunks
        local = np.fromiter((number[t] for t in segment.terms), dtype=np.int32, count=len(segment.terms))
        term_of = np.repeat(local, np.diff(segment.indptr))
        keep = live[segment.docs]
        term_parts.append(term_of[keep])
        doc_parts.append(renumber[segment.docs[keep]].astype(np.int32))
        tf_parts.append(segment.tf[keep])
        lengths.append(segment.lengths[live])
        chunk_ids += [c for c, alive in zip(segment.chunk_ids, live) if alive]
        paper_ids += [p for p, alive in zip(segment.paper_ids, live) if alive]
        offset += int(live.sum())
    term_of = np.concatenate(term_parts) if term_parts else np.zeros(0, dtype=np.int32)
    order = np.argsort(term_of, kind="stable")  # parts are in order, so chunk numbers stay ascending per term
    counts = np.bincount(term_of, minlength=len(union))
    used = counts > 0
    renumber_terms = np.cumsum(used) - 1
    term_of = renumber_terms[term_of]
    indptr = np.zeros(int(used.sum()) + 1, dtype=np.int64)
    np.cumsum(counts[used], out=indptr[1:])
    return Segment([t for t, u in zip(union, used) if u], indptr, np.concatenate(doc_parts)[order] if doc_parts else
                   np.zeros(0, dtype=np.int32), np.concatenate(tf_parts)[order] if tf_parts else
                   np.zeros(0, dtype=np.float32), np.concatenate(lengths) if lengths else np.zeros(0, dtype=np.int32),
                   chunk_ids, paper_ids)


def _text_array(value) -> np.ndarray:
    return np.frombuffer(json.dumps(value, ensure_ascii=False).encode(), dtype=np.uint8)


def save(segment: Segment, path: Path) -> None:
    """Write to a temporary name, then rename: a file under a segment's name is whole (its checksum in the manifest
    catches what a power cut could still do to it)."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("wb") as handle:
        np.savez(handle, indptr=segment.indptr, docs=segment.docs, tf=segment.tf, lengths=segment.lengths,
                 terms=_text_array(segment.terms), ids=_text_array([segment.chunk_ids, segment.paper_ids]))
    temporary.replace(path)


def load(path: Path) -> Segment:
    """The segment in `path`, its shapes checked; FileNotFoundError, DamagedIndexError, or a parse error."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in ("indptr", "docs", "tf", "lengths", "terms", "ids")}
    terms = json.loads(arrays["terms"].tobytes().decode())
    chunk_ids, paper_ids = json.loads(arrays["ids"].tobytes().decode())
    segment = Segment(terms, arrays["indptr"].astype(np.int64, copy=False), arrays["docs"].astype(np.int32, copy=False),
                      arrays["tf"].astype(np.float32, copy=False), arrays["lengths"].astype(np.int32, copy=False),
                      chunk_ids, paper_ids)
    check(segment)
    return segment


def check(segment: Segment) -> None:
    """Every array the search indexes into agrees with the others: a damaged file that still parses (the cause of
    `IndexError: index 27276353 is out of bounds`) is caught here, not in a query."""
    s = segment
    if not all(isinstance(x, str) for x in s.terms) or len(s.vocab) != len(s.terms):
        raise DamagedIndexError("the term list is not a list of distinct strings")
    if len(s.chunk_ids) != len(s.paper_ids) or len(s.lengths) != len(s.chunk_ids):
        raise DamagedIndexError("chunk ids, paper ids and chunk lengths differ in number")
    indptr = s.indptr
    if indptr.ndim != 1 or len(indptr) != len(s.terms) + 1 or indptr[0] != 0 or np.any(np.diff(indptr) < 0):
        raise DamagedIndexError("posting offsets (indptr) are not an increasing list from 0, one per term")
    if not (indptr[-1] == len(s.docs) == len(s.tf)):
        raise DamagedIndexError(f"{indptr[-1]} postings announced, {len(s.docs)} chunk numbers and {len(s.tf)} "
                                "frequencies found")
    if len(s.docs) and (s.docs.min() < 0 or s.docs.max() >= s.size):
        raise DamagedIndexError(f"document numbers outside 0..{s.size - 1}")
    if len(s.tf) and (not np.all(np.isfinite(s.tf)) or s.tf.min() < 1):
        raise DamagedIndexError("term frequencies that are not counts")
    if len(s.lengths) and s.lengths.min() < 0:
        raise DamagedIndexError("negative chunk lengths")
