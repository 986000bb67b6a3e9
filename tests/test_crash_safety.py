"""An ingest killed with SIGKILL and run again ends with exactly the right papers and chunks."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from tests.corpus_files import demo_records, write_jsonl

pytestmark = pytest.mark.slow


def _catalog_papers(path) -> int:
    if not path.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT count(*) FROM papers").fetchone()[0]
    except sqlite3.Error:
        return 0


def _ingest_command(corpus, data_dir, models_dir):
    env = {**os.environ, "PAPERBOT_DATA_DIR": str(data_dir), "PAPERBOT_MODELS_DIR": str(models_dir),
           "PAPERBOT_INGEST_BATCH_SIZE": "3"}
    return [sys.executable, "-m", "paperbot", "ingest", str(corpus)], env


def test_sigkill_during_ingest_then_rerun(tmp_path, demo_corpus, models_dir, make_bot):
    records = demo_records(demo_corpus, 18)
    corpus = write_jsonl(tmp_path / "papers.jsonl", records)
    data_dir = tmp_path / "store"
    catalog = data_dir / "papers.sqlite3"
    rng = random.Random(2026)
    kills = 0
    for target in (3, 9, 15):
        command, env = _ingest_command(corpus, data_dir, models_dir)
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while _catalog_papers(catalog) < target and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.8))  # land anywhere inside the next batch: embedding, Chroma or SQLite
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(timeout=30)
    assert kills >= 2, "the ingest finished before it could be killed; use a bigger corpus"

    command, env = _ingest_command(corpus, data_dir, models_dir)
    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr

    bot = make_bot(data_dir=data_dir)
    expected_papers = {p.id for p in bot.papers()}
    assert len(expected_papers) == 18
    expected_chunks = {c.id for p in bot.papers() for c in bot.chunker.chunk(p)}
    chroma_chunks = {s.chunk.id for s in bot.vectors.iter_chunks()}
    lexical_chunks = bot.lexical.chunk_ids()
    catalog_chunks = {r[0] for r in bot.catalog._db.execute("SELECT id FROM chunks")}
    assert chroma_chunks == lexical_chunks == catalog_chunks == expected_chunks
    again = bot.ingest([corpus])
    assert (len(again.added), len(again.updated), len(again.unchanged)) == (0, 0, 18)
