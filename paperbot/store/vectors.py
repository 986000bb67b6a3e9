"""Chroma adapter: one collection of chunk vectors, embedded (PersistentClient) or on a server (HttpClient)."""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from paperbot.errors import EmbedderMismatchError, StoreError
from paperbot.store.lock import opening_lock
from paperbot.types import Chunk, Paper

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import chromadb  # noqa: E402 - telemetry must be off before chromadb reads its settings
import chromadb.errors  # noqa: E402
from chromadb.config import Settings as ChromaSettings  # noqa: E402

SCHEMA_VERSION = 1
_PAGE = 2000
LOG_SUFFIX = "__log"  # a collection's change log and writer lease (store/changes.py), not a collection of papers


@dataclass(frozen=True)
class StoredChunk:
    """A chunk as Chroma holds it, with the paper fields needed to rebuild the catalog."""

    chunk: Chunk
    paper_fields: dict[str, Any]
    content_hash: str
    paper_chunks: int | None = None  # how many chunks the paper's version has (None: written before this was kept)


def collection_names(client: Any) -> list[str]:
    """The collections of papers this Chroma store holds, sorted (their change logs left out)."""
    with _chroma_errors(""):
        names = (getattr(c, "name", c) for c in client.list_collections())
        return sorted(name for name in names if not name.endswith(LOG_SUFFIX))


@contextmanager
def _chroma_errors(location: str) -> Iterator[None]:
    """Chroma's failures as a StoreError that says what happened and what to do, never a transport traceback."""
    try:
        yield
    except StoreError:
        raise
    except Exception as exc:  # noqa: BLE001 - sorted by kind below; anything else is re-raised as it was
        kind = type(exc).__module__.split(".")[0]
        if kind in ("httpx", "httpcore") or isinstance(exc, ConnectionError):
            raise StoreError(
                f"cannot reach the Chroma server at {location} ({type(exc).__name__}); it may have stopped. Start it "
                "again (`chroma run --host 127.0.0.1 --port PORT --path DIR`) and run the command again; an "
                "interrupted ingest resumes where it stopped"
            ) from exc
        if isinstance(exc, chromadb.errors.ChromaError) or "disk" in str(exc).lower():
            full = any(word in str(exc).lower() for word in ("disk is full", "no space", "file too large", "quota",
                                                             "disk i/o error"))
            raise StoreError(
                f"Chroma failed at {location or 'the store'}: {type(exc).__name__}: {str(exc)[:300]}"
                + (". The disk is full or cannot be written: free space and run the command again (an interrupted "
                   "ingest resumes where it stopped; `paperbot doctor` checks the store)" if full else
                   ". `paperbot doctor` checks the store")
            ) from exc
        raise


class _Gate:
    """Many calls at once, or one swap of the collection handle with no call in flight (a readers-writer lock)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._calls = 0
        self._swapping = False

    @contextmanager
    def call(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: not self._swapping)
            self._calls += 1
        try:
            yield
        finally:
            with self._changed:
                self._calls -= 1
                self._changed.notify_all()

    @contextmanager
    def swap(self) -> Iterator[None]:
        with self._changed:
            self._changed.wait_for(lambda: not self._swapping)
            self._swapping = True
            self._changed.wait_for(lambda: self._calls == 0)
        try:
            yield
        finally:
            with self._changed:
                self._swapping = False
                self._changed.notify_all()


class _Guarded:
    """A Chroma collection whose every call goes through _chroma_errors, and whose handle can be swapped for one
    from a reopened client while other threads use it (they wait for the swap; it waits for their calls)."""

    def __init__(self, collection: Any, location: str) -> None:
        self._collection = collection
        self._location = location
        self._gate = _Gate()

    def __getattr__(self, name: str) -> Any:
        if not callable(getattr(self._collection, name)):
            return getattr(self._collection, name)

        def call(*args, **kwargs):
            with self._gate.call(), _chroma_errors(self._location):
                return getattr(self._collection, name)(*args, **kwargs)

        return call

    def swap(self, reopen: Callable[[], Any]) -> None:
        """Replace the handle with `reopen()`'s, which may close the old client: no call is using it then."""
        with self._gate.swap(), _chroma_errors(self._location):
            self._collection = reopen()


def connect(chroma_url: str | None, persist_dir: Path, *, open_timeout: float = 600.0) -> tuple[Any, str]:
    """A Chroma client and a human-readable location; the server case fails now, not at first query. An embedded
    store is opened by one process at a time (waiting up to `open_timeout` s), so two cannot both create it."""
    settings = ChromaSettings(anonymized_telemetry=False)
    if chroma_url:
        parsed = urlparse(chroma_url if "://" in chroma_url else f"http://{chroma_url}")
        if not parsed.hostname:
            raise StoreError(f"cannot read Chroma URL {chroma_url!r}; expected http://host:port")
        port = parsed.port or (443 if parsed.scheme == "https" else 8000)
        try:
            client = chromadb.HttpClient(
                host=parsed.hostname, port=port, ssl=parsed.scheme == "https", settings=settings
            )
            client.heartbeat()
        except Exception as exc:  # noqa: BLE001 - chromadb raises many transport types; all mean "cannot reach"
            raise StoreError(
                f"cannot reach the Chroma server at {parsed.scheme}://{parsed.hostname}:{port} ({type(exc).__name__}). "
                "Start it with `chroma run --host 127.0.0.1 --port 8000 --path DIR`, or unset PAPERBOT_CHROMA_URL "
                "to use the embedded store"
            ) from exc
        return client, f"{parsed.scheme}://{parsed.hostname}:{port}"
    persist_dir.mkdir(parents=True, exist_ok=True)
    with opening_lock(persist_dir.with_name(f"{persist_dir.name}.opening.lock"), open_timeout, store=persist_dir):
        try:
            return chromadb.PersistentClient(path=str(persist_dir), settings=settings), str(persist_dir)
        except Exception as exc:  # noqa: BLE001 - a damaged chroma.sqlite3 fails in Rust, as InternalError or others
            raise StoreError(
                f"the Chroma store at {persist_dir} cannot be opened ({type(exc).__name__}: {str(exc)[:200]}). If its "
                f"files are damaged, move the folder aside (mv {persist_dir} {persist_dir}.damaged) and re-embed each "
                "collection from its catalog into a new one: `paperbot --collection NAME-2 reindex --from-catalog NAME`"
            ) from exc


class VectorStore:
    """Chunk vectors plus the paper fields they came from; refuses to mix embedders or chunkers."""

    def __init__(self, client: Any, name: str, *, embedder_id: str, chunker_version: str, create: bool = True,
                 verify: bool = True, location: str = "") -> None:
        self._client = client
        self.name = name
        self.location = location
        wanted = {
            "paperbot_schema": SCHEMA_VERSION,
            "paperbot_embedder": embedder_id,
            "paperbot_chunker": chunker_version,
        }
        existing = self._existing(name)
        if existing is None:
            if not create:
                raise StoreError(f"no collection {name!r} in this store; run `paperbot ingest PATH` first")
            with _chroma_errors(location):
                created = client.get_or_create_collection(
                    name, metadata=wanted, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
                )
            self._collection = _Guarded(created, location)
        else:
            self._collection = _Guarded(existing, location)
            recorded = existing.metadata or {}
            for key, label in (("paperbot_embedder", "embedder"), ("paperbot_chunker", "chunker")):
                if verify and recorded.get(key) != wanted[key]:
                    raise EmbedderMismatchError(
                        f"collection {name!r} was built with {label} {recorded.get(key)!r}, but {wanted[key]!r} is "
                        f"configured. Vectors from different {label}s cannot be compared: configure "
                        f"{recorded.get(key)!r} again, or use another collection (--collection NEW) and re-ingest"
                    )
        self.embedder_id = embedder_id
        self.chunker_version = chunker_version

    def _existing(self, name: str) -> Any | None:
        try:
            return self._client.get_collection(name, embedding_function=None)
        except Exception as exc:  # noqa: BLE001 - chromadb's "not found" type differs between client kinds
            if "does not exist" in str(exc) or "not found" in str(exc).lower():
                return None
            raise StoreError(f"cannot open collection {name!r}: {exc}") from exc

    def count(self) -> int:
        return self._collection.count()

    def reopen(self, reconnect: Callable[[], Any]) -> None:
        """Use a new client from `reconnect()` (which closes the old one): an embedded client does not see vectors
        other processes wrote after it opened. Calls in flight finish first; calls meanwhile wait."""
        def swap() -> Any:
            self._client = reconnect()
            return self._client.get_collection(self.name, embedding_function=None)

        self._collection.swap(swap)

    @property
    def recorded(self) -> dict[str, Any]:
        """The collection's metadata: the embedder and chunker that built it."""
        return dict(self._collection.metadata or {})

    def upsert(self, chunks: Sequence[Chunk], embeddings: np.ndarray, papers: dict[str, tuple[Paper, str]]) -> None:
        """Write chunks with their vectors; `papers` maps paper id to (paper, content hash)."""
        if not chunks:
            return
        metadatas = []
        per_paper = Counter(c.paper_id for c in chunks)  # ingest writes all of a paper's chunks in one call
        for chunk in chunks:
            paper, content_hash = papers[chunk.paper_id]
            metadatas.append({
                "paper_id": chunk.paper_id, "chunk_index": chunk.index,
                "char_start": chunk.char_start, "char_end": chunk.char_end,
                "embed_tokens": chunk.embed_tokens, "tiktoken_tokens": chunk.tiktoken_tokens,
                "title": paper.title, "chunk_title": chunk.title, "year": paper.year if paper.year is not None else -1,
                "content_hash": content_hash, "paper_chunks": per_paper[chunk.paper_id],
                # Everything else about the paper, so the catalog can be rebuilt from Chroma alone.
                "paper_json": json.dumps(_paper_fields(paper), ensure_ascii=False),
            })
        self._collection.upsert(
            ids=[c.id for c in chunks], embeddings=embeddings, documents=[c.text for c in chunks], metadatas=metadatas
        )

    def chunk_ids_of(self, paper_ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(paper_ids), 500):
            result = self._collection.get(where={"paper_id": {"$in": list(paper_ids[start : start + 500])}}, include=[])
            found.update(result["ids"])
        return found

    def delete(self, chunk_ids: Sequence[str]) -> None:
        for start in range(0, len(chunk_ids), 1000):
            self._collection.delete(ids=list(chunk_ids[start : start + 1000]))

    def query(self, embedding: np.ndarray, n: int, paper_ids: Sequence[str] | None = None) -> list[tuple[str, float]]:
        """(chunk id, cosine similarity) best first."""
        if paper_ids is not None and not paper_ids:
            return []
        where = {"paper_id": {"$in": list(paper_ids)}} if paper_ids is not None else None
        result = self._collection.query(
            query_embeddings=embedding.reshape(1, -1), n_results=n, where=where, include=["distances"]
        )
        return [(cid, 1.0 - float(d)) for cid, d in zip(result["ids"][0], result["distances"][0])]

    def iter_chunks(self) -> Iterator[StoredChunk]:
        """Every stored chunk, paged, for rebuilding the catalog and checking consistency."""
        offset = 0
        while True:
            page = self._collection.get(limit=_PAGE, offset=offset, include=["documents", "metadatas"])
            if not page["ids"]:
                return
            yield from _stored_chunks(page)
            offset += len(page["ids"])

    def stored_chunks_of(self, paper_ids: Sequence[str]) -> list[StoredChunk]:
        """These papers' chunks as Chroma holds them (none for a deleted paper), to catch a catalog up."""
        found: list[StoredChunk] = []
        for start in range(0, len(paper_ids), 500):
            page = self._collection.get(where={"paper_id": {"$in": list(paper_ids[start : start + 500])}},
                                        include=["documents", "metadatas"])
            found.extend(_stored_chunks(page))
        return found

    def iter_embeddings(self, page: int = _PAGE) -> Iterator[tuple[list[str], list[str], np.ndarray]]:
        """(chunk ids, chunk texts, float32 vectors) a page at a time, so stored vectors can be reused, not re-embedded."""
        offset = 0
        while True:
            result = self._collection.get(limit=page, offset=offset, include=["documents", "embeddings"])
            if not result["ids"]:
                return
            yield list(result["ids"]), list(result["documents"]), np.asarray(result["embeddings"], dtype=np.float32)
            offset += len(result["ids"])

    def searchable_ids(self, limit: int = 20_000) -> set[str] | None:
        """The chunk ids a dense query can return (the vector index, not the metadata), by asking for every
        chunk; None when the collection is empty or larger than `limit` (too costly to ask for all)."""
        count = self.count()
        if count == 0 or count > limit:
            return None
        probe = self._collection.get(limit=1, include=["embeddings"])["embeddings"]
        result = self._collection.query(query_embeddings=np.asarray(probe[:1]), n_results=count, include=[])
        return set(result["ids"][0])

    def rewrite(self, chunk_ids: Sequence[str]) -> None:
        """Write chunks again with their own stored vectors, documents and metadata (re-indexes them)."""
        for start in range(0, len(chunk_ids), 500):
            got = self._collection.get(ids=list(chunk_ids[start : start + 500]),
                                       include=["embeddings", "documents", "metadatas"])
            if got["ids"]:
                self._collection.upsert(ids=got["ids"], embeddings=np.asarray(got["embeddings"]),
                                        documents=got["documents"], metadatas=got["metadatas"])

    def paper_vectors(self, paper_ids: Sequence[str]) -> dict[str, np.ndarray]:
        """Each paper's vector: the mean of its chunk vectors, L2-normalised; papers with no chunks are left out."""
        sums: dict[str, np.ndarray] = {}
        counts: dict[str, int] = {}
        for start in range(0, len(paper_ids), 500):
            result = self._collection.get(where={"paper_id": {"$in": list(paper_ids[start : start + 500])}},
                                          include=["embeddings", "metadatas"])
            for vector, meta in zip(result["embeddings"], result["metadatas"]):
                pid = meta["paper_id"]
                sums[pid] = sums.get(pid, 0.0) + np.asarray(vector, dtype=np.float64)
                counts[pid] = counts.get(pid, 0) + 1
        out = {}
        for pid, total in sums.items():
            mean = total / counts[pid]
            out[pid] = (mean / (np.linalg.norm(mean) or 1.0)).astype(np.float32)
        return out

    def drop(self) -> None:
        self._client.delete_collection(self.name)


def _stored_chunks(page: dict[str, Any]) -> Iterator[StoredChunk]:
    for cid, text, meta in zip(page["ids"], page["documents"], page["metadatas"]):
        chunk = Chunk(
            id=cid, paper_id=meta["paper_id"], title=meta.get("chunk_title", meta["title"]),
            index=int(meta["chunk_index"]), text=text, char_start=int(meta["char_start"]),
            char_end=int(meta["char_end"]), embed_tokens=int(meta["embed_tokens"]),
            tiktoken_tokens=int(meta["tiktoken_tokens"]),
        )
        yield StoredChunk(chunk, json.loads(meta["paper_json"]), meta["content_hash"], meta.get("paper_chunks"))


def _paper_fields(paper: Paper) -> dict[str, Any]:
    return {
        "id": paper.id, "title": paper.title, "authors": list(paper.authors), "year": paper.year, "date": paper.date,
        "url": paper.url, "arxiv_id": paper.arxiv_id, "doi": paper.doi, "source": paper.source,
    }
