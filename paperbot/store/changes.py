"""The shared change log: a companion Chroma collection `<name>__log` saying which papers each write batch touched."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from paperbot.errors import StoreError
from paperbot.store.vectors import LOG_SUFFIX, _chroma_errors, _Guarded
from paperbot.text.terminal import one_line

# Chroma stores vectors for every record; log records carry this one-number placeholder, never searched.
_PLACEHOLDER = [[1.0]]
_PAGE = 500


@dataclass(frozen=True)
class Change:
    """One logged write batch: its generation (1, 2, ... per collection), the papers it added, changed or
    deleted, and who wrote it when."""

    generation: int
    paper_ids: tuple[str, ...]
    owner: str
    time: float


def _change_id(generation: int) -> str:
    return f"change:{generation:012d}"


class ChangeLog:
    """Lives in Chroma beside the collection, so every data dir (host) reading one server sees the same log.

    Records are written with `add`, which Chroma applies in order and ignores for an id it already holds: the
    first write of a generation wins and reading it back says who won. That is the only compare-and-set Chroma
    offers (no conditional update); the writer lease (store/lease.py) is built on it too.
    """

    def __init__(self, client: Any, collection: str, location: str = "") -> None:
        self.name = collection + LOG_SUFFIX
        with _chroma_errors(location):
            raw = client.get_or_create_collection(self.name, embedding_function=None,
                                                  metadata={"paperbot_log_of": collection})
        self.collection = _Guarded(raw, location)
        # A log dropped and made again (collection re-created) has a new id: markers of the old one mean nothing.
        self.epoch = str(raw.id)

    def add(self, record_id: str, metadata: dict[str, Any], document: str | None = None) -> dict[str, Any] | None:
        """Add a record unless one with that id exists; returns the record's metadata as stored (the winner's)."""
        self.collection.add(ids=[record_id], embeddings=_PLACEHOLDER, metadatas=[metadata],
                            documents=[document] if document is not None else None)
        got = self.collection.get(ids=[record_id], include=["metadatas"])
        return got["metadatas"][0] if got["ids"] else None

    def head(self) -> int:
        """The newest logged generation (0: none); reads ids only."""
        got = self.collection.get(where={"kind": "change"}, include=[])
        return max((int(i.split(":", 1)[1]) for i in got["ids"]), default=0)

    def since(self, generation: int) -> list[Change]:
        """Every batch logged after `generation`, oldest first; an empty answer costs one small request."""
        changes: list[Change] = []
        offset = 0
        where = {"$and": [{"kind": "change"}, {"generation": {"$gt": generation}}]}
        while True:
            got = self.collection.get(where=where, include=["metadatas", "documents"], limit=_PAGE, offset=offset)
            for meta, document in zip(got["metadatas"], got["documents"]):
                changes.append(Change(int(meta["generation"]), tuple(json.loads(document or "[]")),
                                      str(meta.get("owner", "")), float(meta.get("time", 0.0))))
            if len(got["ids"]) < _PAGE:
                return sorted(changes, key=lambda c: c.generation)
            offset += len(got["ids"])

    def append(self, paper_ids: Sequence[str], owner: str, token: str) -> int:
        """Log one batch as the next generation; the caller holds the writer lease (token). Returns the generation.

        Without the lease two writers could pick the same number: the second add is then ignored, and this says so
        instead of losing the batch silently."""
        generation = self.head() + 1
        stored = self.add(_change_id(generation),
                          {"kind": "change", "generation": generation, "owner": owner, "token": token,
                           "time": time.time()},
                          json.dumps(sorted(set(paper_ids)), ensure_ascii=False))
        if stored is None or stored.get("token") != token:
            other = one_line(stored.get("owner"))[:300] if stored else "another writer"
            raise StoreError(
                f"the store's change log already has generation {generation}, written by {other}: two writers "
                "interleaved (the write lease was lost). The papers of this batch are in Chroma; run the same "
                "`paperbot ingest` again to log them"
            )
        return generation
