"""The BM25 index is checked before it is used and only writers build it (issue 14, items 5 and 6): a damaged index
that still parses is never searched (readers fall back to dense search and every answer says so; lexical-only
search is a clear error), doctor finds it and --repair or the next ingest rebuilds it; a reader never builds or
saves an index, and a reader running beside a real ingest process always finds a complete one."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.corpus_files import demo_records, write_jsonl

QUESTION = "KV cache memory"


@pytest.fixture
def store(tmp_path, make_bot, demo_corpus):
    bot = make_bot()
    bot.ingest([write_jsonl(tmp_path / "papers.jsonl", demo_records(demo_corpus, 8))])
    yield bot
    bot.close()


def _folder(bot):
    return bot.catalog.path.with_suffix(".bm25")


def _segment(bot):
    return next(_folder(bot).glob("segment-*.npz"))


def _damage_so_it_still_parses(bot) -> str:
    """Document numbers far out of range in a segment file that numpy still reads without complaint; its name."""
    path = _segment(bot)
    with np.load(path) as data:
        arrays = dict(data)
    arrays["docs"][len(arrays["docs"]) // 2] = 27_276_353
    with path.open("wb") as handle:
        np.savez(handle, **arrays)
    return path.name


def _reader(bot, make_bot):
    """A second bot on the same store, as another process's reader would be: nothing loaded yet."""
    return make_bot()


def test_a_damaged_index_is_never_searched_and_every_answer_says_so(store, make_bot):
    expected = [h.paper_id for h in store.search(QUESTION, k=3, mode="lexical")]
    dense = [h.paper_id for h in store.search(QUESTION, k=3, mode="dense")]
    damaged = _damage_so_it_still_parses(store)

    reader = _reader(store, make_bot)
    hits = reader.search(QUESTION, k=3)  # hybrid: falls back to dense, no IndexError
    assert [h.paper_id for h in hits] == dense
    answer = reader.ask(QUESTION, mode="extractive")
    assert len(answer.store_warnings) == 1 and "keyword (BM25) index" in answer.store_warnings[0]
    assert f"damaged ({damaged} does not match its checksum)" in answer.store_warnings[0]
    assert "`paperbot doctor --repair`" in answer.store_warnings[0]
    from paperbot.errors import StoreError

    with pytest.raises(StoreError, match="keyword \\(BM25\\) index .* is damaged"):
        reader.search(QUESTION, k=3, mode="lexical")

    failed = {f.check: f for f in reader.doctor(probe=False).problems}
    assert failed["bm25-file"].repairable and "damaged" in failed["bm25-file"].message
    assert reader.doctor(repair=True, probe=False).healthy
    assert [h.paper_id for h in reader.search(QUESTION, k=3, mode="lexical")] == expected
    assert reader.ask(QUESTION, mode="extractive").store_warnings == ()
    reader.close()


def test_shapes_are_checked_when_there_is_no_checksum(store, make_bot):
    # An index saved before checksums were kept: its shapes and ranges are still checked.
    import json

    manifest_path = _folder(store) / "paperbot-manifest.json"
    manifest = json.loads(manifest_path.read_text())
    for segment in manifest["segments"]:
        del segment["sha256"]
    manifest_path.write_text(json.dumps(manifest))
    _damage_so_it_still_parses(store)
    reader = _reader(store, make_bot)
    assert reader.search(QUESTION, k=3, mode="hybrid")
    assert "document numbers outside" in reader.store_warnings()[0]
    reader.close()


def test_the_next_ingest_rebuilds_a_damaged_index(store, make_bot, tmp_path, demo_corpus):
    _damage_so_it_still_parses(store)
    store.ingest([write_jsonl(tmp_path / "more.jsonl", demo_records(demo_corpus, 10)[8:])])
    reader = _reader(store, make_bot)
    assert reader.store_warnings() == ()
    assert len(reader.lexical.chunk_ids()) == reader.catalog.counts()[1]
    reader.close()


def test_a_reader_never_builds_or_saves_the_index(store, make_bot):
    """A catalog ahead of the saved index (a writer between its batch commits and its BM25 save): readers keep
    searching the previous complete index and write nothing."""
    expected = [h.paper_id for h in store.search(QUESTION, k=3, mode="lexical")]
    folder = _folder(store)
    with sqlite3.connect(store.catalog.path) as db:
        db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()}

    reader = _reader(store, make_bot)
    assert [h.paper_id for h in reader.search(QUESTION, k=3, mode="lexical")] == expected
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()} == before
    assert sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(folder.name)) == [folder.name]
    assert reader.store_warnings() == ()  # the previous complete index is fine: nothing to warn about
    reader.close()


def test_reindex_takes_the_store_lock(store):
    from paperbot.errors import StoreError
    from paperbot.store.lock import store_lock

    store.settings.lock_timeout = 0
    with store_lock(store._lock_path(), 0), pytest.raises(StoreError, match="reindex did not start"):
        store.rebuild_lexical_index()


@pytest.mark.slow
def test_readers_beside_a_real_ingest_process_always_find_a_complete_index(tmp_path, make_bot, models_dir,
                                                                          demo_corpus):
    first = make_bot()
    first.ingest([write_jsonl(tmp_path / "first.jsonl", demo_records(demo_corpus, 10))])
    first.close()
    records = demo_records(demo_corpus, 70)[10:]
    records[-1]["title"] = "Zebra Lattice Quokka Decoding"  # a word no other paper has: found once it is indexed
    later = write_jsonl(tmp_path / "later.jsonl", records)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PAPERBOT_"))}
    env.update(PAPERBOT_DATA_DIR=str(tmp_path / "store"), PAPERBOT_MODELS_DIR=str(models_dir),
               PAPERBOT_INGEST_BATCH_SIZE="4", ANONYMIZED_TELEMETRY="False")  # 15 catalog commits, then the BM25 build
    writer = subprocess.Popen([sys.executable, "-m", "paperbot", "ingest", str(later)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    failures, warnings, rounds = [], set(), 0
    try:
        while writer.poll() is None or rounds < 3:
            reader = make_bot()  # a fresh reader each round, as a new CLI process or app query would load
            for _ in range(5):
                try:
                    reader.search(QUESTION, k=3, mode="lexical")
                    warnings.update(reader.store_warnings())
                except Exception as exc:  # noqa: BLE001 - every failure is what this test looks for
                    failures.append(f"{type(exc).__name__}: {exc}")
            reader.close()
            rounds += 1
            time.sleep(0.05)
    finally:
        out, err = writer.communicate(timeout=600)
    assert writer.returncode == 0, err
    assert failures == [] and warnings == set(), (failures[:3], warnings)
    reader = make_bot()
    assert reader.search("zebra quokka", k=1, mode="lexical")[0].title == "Zebra Lattice Quokka Decoding"
    folder = reader.catalog.path.with_suffix(".bm25")
    assert not folder.with_name(folder.name + ".new").exists()
    reader.close()
