"""SQLite cache of paper summaries, keyed by (text hash, generator, prompt version), in a file beside the catalog."""

from __future__ import annotations

import json
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS summaries (
    text_hash TEXT NOT NULL, generator TEXT NOT NULL, prompt_version TEXT NOT NULL,
    paper_id TEXT NOT NULL, created TEXT NOT NULL, summary_json TEXT NOT NULL,
    PRIMARY KEY (text_hash, generator, prompt_version)
);
CREATE INDEX IF NOT EXISTS summaries_paper ON summaries(paper_id);
"""


class SummaryCache:
    """Its own file, not a catalog table: a cache write must never wait on an ingest's transaction, and deleting
    the file only costs recomputation. A changed abstract has a new hash, so stale entries are never read."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._lock = threading.RLock()
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def get(self, text_hash: str, generator: str, prompt_version: str) -> dict[str, Any] | None:
        row = self._db.execute(
            "SELECT summary_json FROM summaries WHERE text_hash = ? AND generator = ? AND prompt_version = ?",
            (text_hash, generator, prompt_version),
        ).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, text_hash: str, generator: str, prompt_version: str, paper_id: str, summary: dict[str, Any]) -> None:
        created = datetime.now(UTC).isoformat(timespec="seconds")
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO summaries VALUES (?, ?, ?, ?, ?, ?)",
                (text_hash, generator, prompt_version, paper_id, created, json.dumps(summary, ensure_ascii=False)),
            )

    def count(self) -> int:
        return self._db.execute("SELECT count(*) FROM summaries").fetchone()[0]

    def clear(self) -> int:
        with self._lock:
            return self._db.execute("DELETE FROM summaries").rowcount
