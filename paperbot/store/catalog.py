"""SQLite catalog: paper and chunk records, the source the lexical index is built from."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from paperbot.errors import StoreError
from paperbot.text.ids import normalize_title
from paperbot.types import Chunk, Paper, SearchFilters

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS papers (
    id TEXT PRIMARY KEY, title TEXT NOT NULL, norm_title TEXT NOT NULL, abstract TEXT NOT NULL,
    authors TEXT NOT NULL, year INTEGER, date TEXT, url TEXT, arxiv_id TEXT, doi TEXT, source TEXT,
    content_hash TEXT NOT NULL, n_chunks INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS papers_norm_title ON papers(norm_title);
CREATE TABLE IF NOT EXISTS chunks (
    id TEXT PRIMARY KEY, paper_id TEXT NOT NULL REFERENCES papers(id) ON DELETE CASCADE, idx INTEGER NOT NULL,
    title TEXT NOT NULL, text TEXT NOT NULL, char_start INTEGER NOT NULL, char_end INTEGER NOT NULL,
    embed_tokens INTEGER NOT NULL, tiktoken_tokens INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_paper ON chunks(paper_id);
CREATE TABLE IF NOT EXISTS changes (generation INTEGER NOT NULL, paper_id TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS changes_generation ON changes(generation);
"""
class Catalog:
    """One SQLite file per collection; every write is one transaction, so a killed ingest leaves it consistent."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()  # one connection shared by the UI's worker threads
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
            # Generations start from the clock, so a re-created catalog never reuses a number a saved BM25 index has.
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('generation', ?)", (str(time.time_ns()),))
            # The change log covers every generation after this one (a catalog made before the log existed
            # starts it now); derived indexes older than that rebuild instead of catching up.
            self._db.execute("INSERT OR IGNORE INTO meta SELECT 'changes_since', value FROM meta "
                             "WHERE key = 'generation'")
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreError(
                f"the catalog {path} cannot be read ({exc}); `paperbot doctor --repair` rebuilds it from Chroma"
            ) from exc

    def close(self) -> None:
        self._db.close()

    @staticmethod
    def stored_generation(path: Path) -> int | None:
        """The generation of the catalog file at `path`, read without creating or changing it (None: no file)."""
        if not path.is_file():
            return None
        # mode=rw, not ro: a read-only reader of a WAL database leaves its -wal/-shm files behind, while the last
        # read-write connection to close removes them. Neither mode creates the file. ro is for a store we may
        # only read.
        for mode in ("rw", "ro"):
            try:
                db = sqlite3.connect(f"file:{path}?mode={mode}", uri=True)
                try:
                    row = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
                finally:
                    db.close()
            except sqlite3.Error:
                continue
            return int(row[0]) if row else None
        return None  # unreadable: opening the catalog says so

    def backup(self, target: Path) -> Path:
        """A consistent copy of the whole catalog at `target` (SQLite's online backup), e.g. before a repair
        deletes from it; a target that exists gets a numbered name instead of being overwritten."""
        number = 1
        while target.exists():
            target = target.with_name(f"{target.name.split('~')[0]}~{number}")
            number += 1
        copy = sqlite3.connect(target)
        try:
            with self._lock:
                self._db.backup(copy)
        finally:
            copy.close()
        return target

    def integrity_errors(self) -> list[str]:
        """What SQLite's own check finds wrong with the file; empty when it is sound."""
        try:
            rows = [r[0] for r in self._db.execute("PRAGMA integrity_check(20)")]
        except sqlite3.DatabaseError as exc:
            return [str(exc)]
        return [] if rows == ["ok"] else rows

    # --- meta -------------------------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # --- writes -----------------------------------------------------------------------------------------------
    def write(self, entries: Sequence[tuple[Paper, str, Sequence[Chunk]]]) -> None:
        """Replace each paper's record and chunks (vector store first, catalog last: see ingest)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for paper, content_hash, chunks in entries:
                    self._delete_paper(paper.id)
                    self._db.execute(
                        "INSERT INTO papers VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (paper.id, paper.title, normalize_title(paper.title), paper.abstract,
                         json.dumps(list(paper.authors), ensure_ascii=False), paper.year, paper.date, paper.url,
                         paper.arxiv_id, paper.doi, paper.source, content_hash, len(chunks)),
                    )
                    self._db.executemany(
                        "INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?)",
                        [(c.id, c.paper_id, c.index, c.title, c.text, c.char_start, c.char_end, c.embed_tokens,
                          c.tiktoken_tokens) for c in chunks],
                    )
                self._bump_generation([paper.id for paper, _, _ in entries])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def _bump_generation(self, changed: Sequence[str]) -> None:
        # Derived indexes (BM25) remember the generation they reflect, and catch up with the papers logged since.
        self._db.execute(
            "INSERT INTO meta VALUES ('generation', '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
        )
        self._db.executemany(
            "INSERT INTO changes SELECT CAST(value AS INTEGER), ? FROM meta WHERE key = 'generation'",
            [(paper_id,) for paper_id in dict.fromkeys(changed)],
        )

    def changes_since(self, generation: int) -> tuple[int, list[str]] | None:
        """(current generation, ids of the papers written or deleted after `generation`), read together; None when
        the change log does not reach back that far (the catalog was cleared or re-created since): rebuild then."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                current = self.generation
                since = int(self.get_meta("changes_since") or current)
                if not since <= generation <= current:
                    return None
                rows = self._db.execute("SELECT DISTINCT paper_id FROM changes WHERE generation > ?", (generation,))
                return current, [r[0] for r in rows]
            finally:
                self._db.execute("COMMIT")

    def forget_changes(self, through: int) -> None:
        """Drop the log up to a generation the derived indexes have caught up with (it would otherwise grow with
        every ingest); an index older than that rebuilds instead of catching up."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                since = int(self.get_meta("changes_since") or 0)
                if through > since:
                    self._db.execute("DELETE FROM changes WHERE generation <= ?", (through,))
                    self._db.execute("INSERT OR REPLACE INTO meta VALUES ('changes_since', ?)", (str(through),))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    @property
    def generation(self) -> int:
        return int(self.get_meta("generation") or 0)

    def _delete_paper(self, paper_id: str) -> None:
        self._db.execute("DELETE FROM chunks WHERE paper_id = ?", (paper_id,))
        self._db.execute("DELETE FROM papers WHERE id = ?", (paper_id,))

    def delete_papers(self, paper_ids: Sequence[str]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            for paper_id in paper_ids:
                self._delete_paper(paper_id)
            self._bump_generation(paper_ids)
            self._db.execute("COMMIT")

    def clear(self) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            for table in ("chunks", "papers"):
                self._db.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
            self._bump_generation(())
            # Everything changed: the log restarts here, so an index of an earlier generation rebuilds.
            self._db.execute("DELETE FROM changes")
            self._db.execute("INSERT OR REPLACE INTO meta SELECT 'changes_since', value FROM meta "
                             "WHERE key = 'generation'")
            self._db.execute("COMMIT")

    # --- reads ------------------------------------------------------------------------------------------------
    def _rows_where_in(self, select: str, column: str, values: Iterable[str]) -> Iterator[tuple]:
        """`SELECT ... WHERE column IN (values)`, in slices that stay under SQLite's parameter limit."""
        values = list(values)
        for start in range(0, len(values), 500):
            part = values[start : start + 500]
            yield from self._db.execute(f"{select} WHERE {column} IN ({','.join('?' * len(part))})", part)  # noqa: S608

    def content_hashes(self, paper_ids: Sequence[str]) -> dict[str, str]:
        return dict(self._rows_where_in("SELECT id, content_hash FROM papers", "id", paper_ids))

    def ids_by_norm_title(self, norm_titles: Sequence[str]) -> dict[str, str]:
        return dict(self._rows_where_in("SELECT norm_title, id FROM papers", "norm_title", norm_titles))

    def paper(self, paper_id: str) -> Paper | None:
        row = self._db.execute(f"SELECT {_PAPER_COLUMNS} FROM papers WHERE id = ?", (paper_id,)).fetchone()  # noqa: S608
        return _paper(row) if row else None

    def papers(self, grep: str | None = None) -> list[Paper]:
        sql = f"SELECT {_PAPER_COLUMNS} FROM papers"  # noqa: S608
        args: tuple = ()
        if grep:
            sql += " WHERE title LIKE ? OR abstract LIKE ? OR authors LIKE ? OR id LIKE ?"
            like = f"%{grep}%"
            args = (like, like, like, like)
        return [_paper(row) for row in self._db.execute(sql + " ORDER BY title COLLATE NOCASE", args)]

    def paper_ids(self, filters: SearchFilters) -> list[str]:
        clauses, args = [], []
        if filters.year_min is not None:
            clauses.append("year >= ?")
            args.append(filters.year_min)
        if filters.year_max is not None:
            clauses.append("year <= ?")
            args.append(filters.year_max)
        if filters.paper_ids:
            clauses.append(f"id IN ({','.join('?' * len(filters.paper_ids))})")
            args.extend(filters.paper_ids)
        if filters.authors:
            clauses.append("(" + " OR ".join("authors LIKE ?" for _ in filters.authors) + ")")
            args.extend(f"%{a}%" for a in filters.authors)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        return [r[0] for r in self._db.execute(f"SELECT id FROM papers{where}", args)]  # noqa: S608

    def chunks(self, chunk_ids: Iterable[str]) -> dict[str, Chunk]:
        rows = self._rows_where_in(f"SELECT {_CHUNK_COLUMNS} FROM chunks", "id", chunk_ids)
        return {row[0]: Chunk(*row) for row in rows}

    def chunks_of(self, paper_id: str) -> list[Chunk]:
        rows = self._db.execute(f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE paper_id = ? ORDER BY idx", (paper_id,))  # noqa: S608
        return [Chunk(*row) for row in rows]

    def lexical_rows(self) -> list[tuple[str, str, str, str]]:
        """(chunk id, paper id, title, text) of every chunk, in a stable order, for the BM25 index."""
        return list(self._db.execute("SELECT id, paper_id, title, text FROM chunks ORDER BY id"))

    def lexical_rows_of(self, paper_ids: Sequence[str]) -> list[tuple[str, str, str, str]]:
        """The same rows for these papers' current chunks only (none for a deleted paper), in chunk id order."""
        return sorted(self._rows_where_in("SELECT id, paper_id, title, text FROM chunks", "paper_id", paper_ids))

    def counts(self) -> tuple[int, int]:
        papers = self._db.execute("SELECT count(*) FROM papers").fetchone()[0]
        chunks = self._db.execute("SELECT count(*) FROM chunks").fetchone()[0]
        return papers, chunks

    def year_range(self) -> tuple[int, int] | None:
        low, high = self._db.execute("SELECT min(year), max(year) FROM papers").fetchone()
        return (low, high) if low is not None else None


_PAPER_COLUMNS = "id, title, abstract, authors, year, date, url, arxiv_id, doi, source"
_CHUNK_COLUMNS = "id, paper_id, title, idx, text, char_start, char_end, embed_tokens, tiktoken_tokens"


def _paper(row: tuple) -> Paper:
    pid, title, abstract, authors, year, date, url, arxiv_id, doi, source = row
    return Paper(
        id=pid, title=title, abstract=abstract, authors=tuple(json.loads(authors)), year=year, date=date, url=url,
        arxiv_id=arxiv_id, doi=doi, source=source or "",
    )
