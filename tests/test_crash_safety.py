"""Ingests killed with SIGKILL at random points, then run again, end with exactly the right papers and chunks.

A store grows over many runs on a SciFact subset: each run ingests the next slice plus a few edited abstracts
(so updates, and updates that shrink a paper to fewer chunks, are killed too), is killed by SIGKILL, and is then
run again to completion. After every run the store must hold exactly the expected papers and chunk texts in
Chroma (records and dense index), the catalog and the BM25 index, `doctor` must report it healthy, and a third
ingest must change nothing. 20 runs in all: 17 embed through the OpenAI-compatible embedder against the fake
server, so kills land in Chroma, SQLite and BM25 writes rather than in model compute; 3 use the real MiniLM
model. A fresh process (as a user's rerun is) reads what the kill left with `doctor`, which tells the phase the
kill hit, then ingests again and checks; every fourth run is first repaired by `doctor --repair`, so the repair
is tested on real crash damage too.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from paperbot.bot import PaperBot
from paperbot.config import Settings
from paperbot.ingest.loaders import load_papers
from tests.corpus_files import write_jsonl

pytestmark = pytest.mark.slow

BATCH = 4  # papers per ingest batch: several Chroma + catalog writes per run, so kills land between and inside them
RESULTS: dict[str, Counter] = {}  # phase counts per embedder, printed at the end of each test


@pytest.fixture(scope="module")
def scifact_records(models_dir) -> list[dict]:
    corpus = models_dir.parent / "datasets" / "scifact" / "corpus.jsonl"
    if not corpus.is_file():
        pytest.skip(f"SciFact corpus not found at {corpus}")
    with corpus.open(encoding="utf-8") as lines:
        return [json.loads(next(lines)) for _ in range(400)]


def _generation(catalog: Path) -> int | None:
    """The catalog's write counter (one step per committed batch), read without disturbing the writer."""
    if not catalog.exists():
        return None
    try:
        with sqlite3.connect(f"file:{catalog}?mode=ro", uri=True, timeout=1) as db:
            row = db.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()
            return int(row[0]) if row else None
    except sqlite3.Error:
        return None


def _edit(record: dict, run: int, rng: random.Random) -> dict:
    """A changed abstract: a sentence added, or (fewer chunks) cut to its first half."""
    text = record["text"]
    if rng.random() < 0.5 and len(text) > 400:
        text = text[: len(text) // 2].rsplit(". ", 1)[0] + "."
    else:
        text += f" In run {run} the authors added one more sentence to this abstract."
    return {**record, "text": text}


def _phase(report, complete: bool, committed_any: bool, finished: bool) -> str:
    """Which part of the ingest the kill interrupted, from what the killed process left behind."""
    failed = {f.check for f in report.problems}
    if finished:
        return "finished before the kill"
    if failed & {"orphan-chunks", "chunk-versions", "chroma-vs-catalog", "incomplete-papers", "papers-without-chunks"}:
        return "between a Chroma write and its catalog commit"
    if "catalog-file" in failed:
        return "catalog write (file damaged)"
    if "bm25-leftovers" in failed:
        return "BM25 save"
    if complete:
        return "BM25 build (every batch committed)" if failed else "after the BM25 save (exiting)"
    if not committed_any:
        return "start-up, loading, or the first batch's chunking/embedding"
    return "a later batch's chunking/embedding"


def _expected(bot: PaperBot, corpus: Path):
    papers = load_papers([corpus]).papers
    chunks = {c.id: c.text for chunk_list in bot.chunker.chunk_many(papers) for c in chunk_list}
    return {p.id: p.abstract for p in papers}, chunks


def _assert_exact(bot: PaperBot, corpus: Path, papers: dict[str, str], chunks: dict[str, str]) -> None:
    """The full invariant: the same papers and chunk texts everywhere, doctor healthy, a third ingest a no-op."""
    assert {p.id: p.abstract for p in bot.papers()} == papers
    assert {s.chunk.id: s.chunk.text for s in bot.vectors.iter_chunks()} == chunks
    assert {row[0]: row[3] for row in bot.catalog.lexical_rows()} == chunks
    assert bot.lexical.chunk_ids() == set(chunks)
    report = bot.doctor()
    assert report.healthy, [f for f in report.problems]
    again = bot.ingest([corpus])
    assert (len(again.added), len(again.updated), len(again.unchanged)) == (0, 0, len(papers))


def _after_kill(corpus: str, before: str, finished: str, repair: str) -> None:
    """Run in a fresh process (as a user's rerun is): read what the kill left, optionally `doctor --repair` it,
    ingest again, check the full invariant, and print the phase the kill hit. The test process itself never
    opens the embedded store, so no client of it outlives another process's writes."""
    bot = PaperBot(Settings())
    catalog = bot.settings.data_dir / f"{bot.settings.collection}.sqlite3"
    report = bot.doctor()
    assert "lock" not in {f.check for f in report.problems}  # the kernel dropped the dead process's lock
    papers, chunks = _expected(bot, Path(corpus))
    complete = {p.id: p.abstract for p in bot.papers()} == papers
    committed_any = str(_generation(catalog)) != before
    phase = _phase(report, complete, committed_any, finished == "1")
    if repair == "1" and not report.healthy:
        repaired = bot.doctor(repair=True)
        assert repaired.healthy, (repaired.repairs, repaired.problems)
    bot.ingest([corpus])
    # Embedded Chroma can lose a vector from its HNSW index when killed mid-write while keeping the record (seen
    # about once in 60 kills): the rerun cannot tell, doctor finds it, and --repair rewrites it from the stored vector.
    unreachable = [f for f in bot.doctor().problems if f.check == "vector-index"]
    if unreachable:
        assert all(f.repairable for f in unreachable), unreachable
        repaired = bot.doctor(repair=True)
        assert repaired.healthy, (repaired.repairs, repaired.problems)
    _assert_exact(bot, Path(corpus), papers, chunks)
    print(json.dumps({"phase": phase, "problems": sorted(f.check for f in report.problems),
                      "vector_index_repaired": bool(unreachable)}))


def _kill_runs(tmp_path: Path, records: list[dict], settings: Settings, env: dict, *, runs: int, first: int,
               step: int, seed: int, label: str, max_wait: float, jitter: float, requests_seen=None,
               bm25_kills: bool = True) -> tuple[int, Counter]:
    """`requests_seen()` counts embedding requests (the fake server's log); without it, batches are counted
    by catalog commits. Returns (kills, phase counts)."""
    rng = random.Random(seed)
    catalog = settings.data_dir / f"{settings.collection}.sqlite3"
    repo = Path(__file__).resolve().parents[1]

    def after_kill(corpus: Path, before: int | None, finished: bool, repair: bool) -> dict:
        code = "import sys; from tests.test_crash_safety import _after_kill; _after_kill(*sys.argv[1:])"
        done = subprocess.run([sys.executable, "-c", code, str(corpus), str(before), str(int(finished)),
                               str(int(repair))], env=env, cwd=repo, capture_output=True, text=True, timeout=600,
                              check=False)
        assert done.returncode == 0, done.stderr[-4000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    current = {r["_id"]: r for r in records[:first]}
    corpus = write_jsonl(tmp_path / f"{label}-0.jsonl", list(current.values()))
    seeded = subprocess.run([sys.executable, "-m", "paperbot", "ingest", str(corpus)], env=env, capture_output=True,
                            text=True, timeout=600, check=False)
    assert seeded.returncode == 0, seeded.stderr
    after_kill(corpus, _generation(catalog), True, False)
    phases: Counter = Counter()
    kills = 0
    for run in range(1, runs + 1):
        fresh = records[first + (run - 1) * step : first + run * step]
        current.update((r["_id"], r) for r in fresh)
        edited = rng.sample(sorted(current), 2)
        for key in edited:
            current[key] = _edit(current[key], run, rng)
        corpus = write_jsonl(tmp_path / f"{label}-{run}.jsonl", list(current.values()))
        batches = -(-len({r["_id"] for r in fresh} | set(edited)) // BATCH)
        # Kill inside batch `target` (its chunking, embedding, Chroma upsert or catalog transaction), or, with
        # target = batches + 1, after the last commit: in the BM25 build and save.
        target = rng.randint(1, batches + 1 if bm25_kills else batches)
        before, requests_before = _generation(catalog), requests_seen() if requests_seen else 0
        process = subprocess.Popen([sys.executable, "-m", "paperbot", "ingest", str(corpus)], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + max_wait
        while process.poll() is None and time.monotonic() < deadline:
            committed = (_generation(catalog) or before) - before
            if target > batches:
                if committed >= batches:
                    break
            elif requests_seen:
                if requests_seen() - requests_before >= target:
                    break
            elif committed >= target - 1:
                break
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, jitter))
        finished = process.poll() is not None
        if not finished:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(timeout=30)
        if finished:
            assert process.returncode == 0, process.stderr.read().decode()
        # Every fourth run is repaired by `doctor --repair` before it is ingested again.
        outcome = after_kill(corpus, before, finished, run % 4 == 0)
        phases[outcome["phase"]] += 1
        phases["(dense index entry lost, repaired by doctor)"] += outcome["vector_index_repaired"]
    return kills, phases


def _env(settings: Settings, **extra: str) -> dict:
    env = {**os.environ, "PAPERBOT_DATA_DIR": str(settings.data_dir), "PAPERBOT_MODELS_DIR": str(settings.models_dir),
           "PAPERBOT_INGEST_BATCH_SIZE": str(BATCH), "PAPERBOT_EMBEDDER": settings.embedder, **extra}
    env.pop("PAPERBOT_CHROMA_URL", None)
    return env


def test_sigkill_openai_embedder(tmp_path, scifact_records, make_settings, fake_openai, capsys):
    """17 kills with a fast real HTTP embedder: the kills land in Chroma, SQLite and BM25 writes."""
    fake_openai.latency = 0.02  # a little time in the embedding request, as against a real endpoint
    settings = make_settings(embedder="openai", openai_embedding_model="fake-embed",
                             openai_api_key=fake_openai.api_key, openai_base_url=fake_openai.base_url,
                             ingest_batch_size=BATCH)
    env = _env(settings, PAPERBOT_OPENAI_EMBEDDING_MODEL="fake-embed", **fake_openai.env)
    kills, phases = _kill_runs(tmp_path, scifact_records, settings, env, runs=17, first=40, step=12, seed=7,
                               label="openai", max_wait=60, jitter=0.15,
                               requests_seen=lambda: len(fake_openai.requests_to("embeddings")))
    with capsys.disabled():
        print(f"\nSIGKILL, OpenAI-compatible embedder: 17/17 runs survived ({kills} killed mid-ingest); {dict(phases)}")
    assert kills >= 15, phases


def test_sigkill_minilm(tmp_path, scifact_records, make_settings, capsys):
    """A few kills with the real MiniLM model, where most of an ingest's time is model compute."""
    settings = make_settings(ingest_batch_size=BATCH)
    kills, phases = _kill_runs(tmp_path, scifact_records[300:], settings, _env(settings), runs=3, first=8, step=6,
                               seed=11, label="minilm", max_wait=120, jitter=0.4, bm25_kills=False)
    with capsys.disabled():
        print(f"\nSIGKILL, MiniLM: 3/3 runs survived ({kills} killed mid-ingest); {dict(phases)}")
    assert kills >= 2, phases
