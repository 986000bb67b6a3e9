"""Read a Chroma collection in a child process: damaged vector files can crash the reader (a segfault), and
`paperbot doctor` must report that instead of dying with it."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys

PROBE_SECONDS = 300.0  # imports and a load of a large collection on a busy machine; a hang is reported, not waited on


def probe_collection(chroma_url: str | None, persist_dir: str, collection: str,
                     timeout: float = PROBE_SECONDS) -> str | None:
    """None when the collection opens, counts, reads a vector and answers a query in a child process; else what
    went wrong there (the signal that killed it, its error, or the time it ran out of)."""
    command = [sys.executable, "-m", "paperbot.store.probe", "--collection", collection,
               *(["--url", chroma_url] if chroma_url else ["--path", persist_dir])]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"reading it did not finish within {timeout:g} s"
    if done.returncode == 0:
        return None
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        return f"reading it crashed the process ({name})"
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return f"reading it failed: {lines[-1][:300] if lines else f'exit code {done.returncode}'}"


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--collection", required=True)
    parser.add_argument("--path")
    parser.add_argument("--url")
    args = parser.parse_args()
    from pathlib import Path

    import numpy as np

    from paperbot.store.vectors import connect

    client, _ = connect(args.url, Path(args.path) if args.path else Path("."))
    found = client.get_collection(args.collection, embedding_function=None)
    count = found.count()
    if count:
        # The metadata (SQLite) and the vector index (HNSW files) are separate: read one vector, then search with it.
        vector = np.asarray(found.get(limit=1, include=["embeddings"])["embeddings"][:1])
        found.query(query_embeddings=vector, n_results=min(count, 10), include=["distances"])
    print(f"ok: {count} chunks")


if __name__ == "__main__":
    _main()
