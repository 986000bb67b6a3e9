"""`paperbot doctor`: each kind of damage is made for real, detected, and repaired (or explained when it cannot be)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from tests.corpus_files import demo_records, write_jsonl


@pytest.fixture
def corpus(tmp_path, demo_corpus):
    return write_jsonl(tmp_path / "papers.jsonl", demo_records(demo_corpus, 6))


def _open_store(tmp_path, make_bot, corpus, kind: dict):
    settings = {"collection": f"doc-{tmp_path.name[-20:].replace('_', '-')}", **kind}
    bot = make_bot(**settings)
    bot.ingest([corpus])
    return bot, settings


@pytest.fixture
def store(tmp_path, make_bot, corpus, store_kind):
    """A bot over six ingested demo papers (one of them with several chunks), embedded and on a Chroma server:
    for damage done through Chroma, where the two kinds of client differ."""
    bot, settings = _open_store(tmp_path, make_bot, corpus, store_kind)
    yield bot, settings
    bot.close()


@pytest.fixture
def local_store(tmp_path, make_bot, corpus):
    """The same on embedded Chroma only: for damage to the local files (catalog, BM25), the same for both kinds."""
    bot, settings = _open_store(tmp_path, make_bot, corpus, {})
    yield bot, settings
    bot.close()


def _failed(report) -> dict:
    return {f.check: f for f in report.problems}


def _snapshot(bot) -> tuple[dict, dict]:
    return ({p.id: p.abstract for p in bot.papers()},
            {s.chunk.id: s.chunk.text for s in bot.vectors.iter_chunks()})


def _multi_chunk_paper(bot) -> str:
    return next(p.id for p in bot.papers() if len(bot.catalog.chunks_of(p.id)) >= 2)


def _repair_then_healthy(bot):
    repaired = bot.doctor(repair=True)
    assert repaired.healthy, repaired.problems
    assert repaired.repairs
    assert bot.doctor().healthy  # a second run agrees
    return repaired


def test_fresh_store_is_healthy(local_store):
    bot, _ = local_store
    report = bot.doctor()
    assert report.healthy, report.problems
    checks = {f.check for f in report.findings}
    assert {"embedder", "catalog-file", "chroma-vs-catalog", "orphan-chunks", "bm25-file", "bm25-vs-catalog",
            "lock"} <= checks
    repaired = bot.doctor(repair=True)
    assert repaired.healthy and repaired.repairs == []


@pytest.mark.slow  # every doctor() run probes Chroma in a child process (seconds of CPU): the fast tier keeps
# test_fresh_store_is_healthy and test_one_bm25_damage_is_detected_and_rebuilt
def test_catalog_rows_deleted_are_restored_from_chroma(store):
    bot, _ = store
    before = _snapshot(bot)
    victim = _multi_chunk_paper(bot)
    other = next(p.id for p in bot.papers() if p.id != victim)
    with sqlite3.connect(bot.catalog.path) as db:  # damage made outside paperbot, as a user or a crash would
        db.execute("DELETE FROM chunks WHERE paper_id = ?", (victim,))
        db.execute("DELETE FROM papers WHERE id = ?", (victim,))
        db.execute("DELETE FROM chunks WHERE id = ?", (f"{other}#0",))
    failed = _failed(bot.doctor(examples=50))
    assert {"orphan-chunks", "chroma-vs-catalog", "bm25-vs-catalog"} <= set(failed)
    assert failed["orphan-chunks"].examples == tuple(sorted(c for c in before[1] if c.startswith(f"{victim}#")))
    assert failed["chunk-versions"].examples == (f"{other}#0",)  # a chunk Chroma has, its catalog paper lacks
    repaired = _repair_then_healthy(bot)
    assert any("re-synced 2 papers" in r for r in repaired.repairs)
    assert _snapshot(bot) == before
    assert bot.search(bot.paper(victim).title, k=1)[0].paper_id == victim


@pytest.mark.slow  # every doctor() run probes Chroma in a child process (seconds of CPU): the fast tier keeps
# test_fresh_store_is_healthy and test_one_bm25_damage_is_detected_and_rebuilt
def test_chroma_chunks_deleted_are_removed_and_reingest_restores_them(store, corpus):
    bot, _ = store
    before = _snapshot(bot)
    victim = _multi_chunk_paper(bot)
    emptied = next(p.id for p in bot.papers() if p.id != victim)
    bot.vectors.delete([f"{victim}#1"] + sorted(c.id for c in bot.catalog.chunks_of(emptied)))
    failed = _failed(bot.doctor())
    assert failed["incomplete-papers"].examples == (victim,)
    assert failed["papers-without-chunks"].examples == (emptied,)
    assert "re-ingest" in failed["incomplete-papers"].advice
    repaired = _repair_then_healthy(bot)
    assert sorted(r.split(" ")[0] for r in repaired.reingest) == sorted([victim, emptied])
    assert all(f"({corpus}:" in r for r in repaired.reingest)  # names the file to ingest again
    assert not {victim, emptied} & set(_snapshot(bot)[0])
    report = bot.ingest([corpus])
    assert (sorted(report.added), len(report.unchanged)) == (sorted([victim, emptied]), 4)
    assert _snapshot(bot) == before
    assert bot.doctor().healthy


@pytest.mark.slow  # every doctor() run probes Chroma in a child process (seconds of CPU): the fast tier keeps
# test_fresh_store_is_healthy and test_one_bm25_damage_is_detected_and_rebuilt
def test_embedder_mismatch_is_reported_not_repaired(store, make_bot, models_dir):
    bot, settings = store
    collection = bot._client.get_collection(settings["collection"])
    collection.modify(metadata={**collection.metadata, "paperbot_embedder": "openai/text-embedding-3-large"})
    bot.close()
    other = make_bot(**settings)
    report = other.doctor()
    embedder = _failed(report)["embedder"]
    assert "openai/text-embedding-3-large" in embedder.message and not embedder.repairable
    assert "PAPERBOT_EMBEDDER=openai PAPERBOT_OPENAI_EMBEDDING_MODEL=text-embedding-3-large" in embedder.advice
    assert "--collection NEW" in embedder.advice
    assert set(_failed(report)) == {"embedder"}  # everything else was still checked, and is fine
    repaired = other.doctor(repair=True)
    assert set(_failed(repaired)) == {"embedder"} and repaired.repairs == []
    other.close()


@pytest.mark.slow  # every doctor() run probes Chroma in a child process (seconds of CPU): the fast tier keeps
# test_fresh_store_is_healthy and test_one_bm25_damage_is_detected_and_rebuilt
def test_bm25_damage_is_detected_and_rebuilt(local_store):
    bot, _ = local_store
    hits = [h.paper_id for h in bot.search("KV cache memory", k=3, mode="lexical")]
    folder = bot.catalog.path.with_suffix(".bm25")

    def garbage_manifest():
        (folder / "paperbot-manifest.json").write_bytes(b"\x00not json")

    def truncated_matrix():
        matrix = next(folder.glob("segment-*.npz"))
        matrix.write_bytes(matrix.read_bytes()[:40])

    def missing():
        for part in folder.iterdir():
            part.unlink()
        folder.rmdir()

    def stale():
        with sqlite3.connect(bot.catalog.path) as db:
            db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")

    def leftover():
        folder.with_name(folder.name + ".new").mkdir()

    for damage, check in ((garbage_manifest, "bm25-file"), (truncated_matrix, "bm25-file"), (missing, "bm25-file"),
                          (stale, "bm25-file"), (leftover, "bm25-leftovers")):
        damage()
        failed = _failed(bot.doctor())
        assert check in failed and failed[check].repairable, damage.__name__
        _repair_then_healthy(bot)
        assert not folder.with_name(folder.name + ".new").exists()
        assert [h.paper_id for h in bot.search("KV cache memory", k=3, mode="lexical")] == hits, damage.__name__


def test_one_bm25_damage_is_detected_and_rebuilt(local_store):
    """The fast tier's doctor check: one kind of damage found, repaired, and the same search results after."""
    bot, _ = local_store
    hits = [h.paper_id for h in bot.search("KV cache memory", k=3, mode="lexical")]
    (bot.catalog.path.with_suffix(".bm25") / "paperbot-manifest.json").write_bytes(b"\x00not json")
    failed = _failed(bot.doctor())
    assert "bm25-file" in failed and failed["bm25-file"].repairable
    _repair_then_healthy(bot)
    assert [h.paper_id for h in bot.search("KV cache memory", k=3, mode="lexical")] == hits


@pytest.mark.slow  # every doctor() run probes Chroma in a child process (seconds of CPU): the fast tier keeps
# test_fresh_store_is_healthy and test_one_bm25_damage_is_detected_and_rebuilt
def test_damaged_catalog_file_is_set_aside_and_rebuilt(tmp_path, make_bot, corpus):
    bot = make_bot(collection="damaged")
    bot.ingest([corpus])
    before = _snapshot(bot)
    path = bot.catalog.path
    bot.close()
    size = path.stat().st_size
    with path.open("r+b") as db:  # keep the header, overwrite the pages after it
        db.seek(4096)
        db.write(os.urandom(size - 4096))
    bot = make_bot(collection="damaged")
    assert "catalog-file" in _failed(bot.doctor())
    repaired = _repair_then_healthy(bot)
    assert any("rebuilt the catalog from Chroma" in r for r in repaired.repairs)
    assert list(tmp_path.glob("store/damaged.sqlite3.damaged-*"))  # the damaged file is kept, not deleted
    assert _snapshot(bot)[1] == before[1] and set(_snapshot(bot)[0]) == set(before[0])
    bot.close()


@pytest.mark.slow
def test_cli_exit_codes_and_json(tmp_path, make_bot, corpus, models_dir):
    bot = make_bot()
    bot.ingest([corpus])
    victim = _multi_chunk_paper(bot)
    bot.close()
    env = {**os.environ, "PAPERBOT_DATA_DIR": str(tmp_path / "store"), "PAPERBOT_MODELS_DIR": str(models_dir)}

    def doctor(*args):
        return subprocess.run([sys.executable, "-m", "paperbot", "doctor", *args], env=env, capture_output=True,
                              text=True, timeout=300, check=False)

    healthy = doctor()
    assert healthy.returncode == 0 and "healthy" in healthy.stdout, healthy.stderr
    with sqlite3.connect(tmp_path / "store" / "papers.sqlite3") as db:
        db.execute("DELETE FROM papers WHERE id = ?", (victim,))
    found = doctor("--json")
    assert found.returncode == 1, found.stderr
    report = json.loads(found.stdout)
    assert report["healthy"] is False
    assert {f["check"] for f in report["findings"] if not f["ok"]} >= {"orphan-chunks", "dangling-catalog-chunks"}
    fixed = doctor("--repair")
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "repaired" in fixed.stdout and "healthy" in fixed.stdout


@pytest.mark.slow  # every doctor() run probes Chroma in a child process (seconds of CPU): the fast tier keeps
# test_fresh_store_is_healthy and test_one_bm25_damage_is_detected_and_rebuilt
def test_repair_backs_up_the_catalog_before_dropping_papers(local_store):
    bot, _ = local_store
    victim = _multi_chunk_paper(bot)
    title = bot.paper(victim).title
    bot.vectors.delete([f"{victim}#1"])  # stored incompletely: repair drops it from the catalog
    repaired = _repair_then_healthy(bot)
    backups = [r for r in repaired.repairs if r.startswith("backed up the catalog to ")]
    assert len(backups) == 1 and repaired.repairs.index(backups[0]) < next(
        i for i, r in enumerate(repaired.repairs) if r.startswith("removed 1 paper from the catalog"))
    copy = backups[0].removeprefix("backed up the catalog to ").split(" before ")[0]
    assert copy.startswith(f"{bot.catalog.path}.backup-")
    with sqlite3.connect(copy) as db:  # the copy still holds the paper the repair removed
        assert db.execute("SELECT title FROM papers WHERE id = ?", (victim,)).fetchone() == (title,)
    assert bot.catalog.paper(victim) is None


def _write_synthetic_chunks(bot, n: int) -> None:
    """n chunks with random vectors, written as ingest writes them: enough for Chroma to persist its HNSW files."""
    import numpy as np

    from paperbot.types import Chunk, Paper

    paper = Paper(id="synthetic", title="Synthetic", abstract="x")
    chunks = [Chunk(f"synthetic#{i}", "synthetic", "Synthetic", i, f"text {i}", 0, 1, 3, 2) for i in range(n)]
    vectors = np.random.default_rng(0).normal(size=(n, 384)).astype(np.float32)
    for start in range(0, n, 500):
        bot.vectors.upsert(chunks[start:start + 500], vectors[start:start + 500], {"synthetic": (paper, "h")})


@pytest.mark.slow
def test_unreadable_vector_files_are_reported_from_a_child_process_and_recovered_from_the_catalog(
        tmp_path, make_bot, corpus, models_dir):
    bot = make_bot(collection="hurt")
    bot.ingest([corpus])
    papers = {p.id: p.abstract for p in bot.papers()}
    _write_synthetic_chunks(bot, 1200)  # past Chroma's sync threshold (1000): the vector index is on disk
    bot.close()
    headers = list((tmp_path / "store" / "chroma").glob("*/header.bin"))
    assert len(headers) == 1
    headers[0].write_bytes(b"\xff" * len(headers[0].read_bytes()))  # the HNSW index header, damaged

    report = make_bot(collection="hurt").doctor()
    assert [f.check for f in report.problems] == ["vector-store"]
    finding = report.problems[0]
    assert finding.message.startswith("vector store unreadable: collection 'hurt'") and not finding.repairable
    assert "`paperbot --collection hurt-2 reindex --from-catalog hurt`" in finding.advice

    env = {**os.environ, "PAPERBOT_DATA_DIR": str(tmp_path / "store"), "PAPERBOT_MODELS_DIR": str(models_dir)}
    cli = subprocess.run([sys.executable, "-m", "paperbot", "--collection", "hurt", "doctor"], env=env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert cli.returncode == 1 and "vector store unreadable" in cli.stdout and "Traceback" not in cli.stderr
    recovered = subprocess.run([sys.executable, "-m", "paperbot", "--collection", "hurt-2", "reindex",
                                "--from-catalog", "hurt"], env=env, capture_output=True, text=True, timeout=600,
                               check=False)
    assert recovered.returncode == 0, recovered.stderr
    assert f"re-embedded {len(papers)} papers from the catalog of hurt" in recovered.stdout
    new = make_bot(collection="hurt-2")
    assert {p.id: p.abstract for p in new.papers()} == papers
    assert new.doctor().healthy
    new.close()


def test_a_store_whose_chroma_folder_was_deleted_says_so_on_every_answer(tmp_path, make_bot, corpus):
    import shutil

    bot = make_bot()
    bot.ingest([corpus])
    title = bot.papers()[0].title
    bot.close()
    shutil.rmtree(tmp_path / "store" / "chroma")

    lost = make_bot()
    for _ in range(2):  # every answer, not just the first
        answer = lost.ask(title, mode="extractive")
        assert len(answer.store_warnings) == 1
        assert "holds no chunks of collection 'papers', but the catalog lists 6 papers" in answer.store_warnings[0]
        assert "keyword (BM25) search only" in answer.store_warnings[0]
    assert lost.search(title, k=1)[0].title == title  # keyword search still answers
    lost.close()
    # Repaired by re-embedding the catalog into a new collection: its answers carry no warning.
    fresh = make_bot(collection="papers-2")
    assert fresh.reindex_from_catalog("papers").added
    assert fresh.ask(title, mode="extractive").store_warnings == ()
    fresh.close()
