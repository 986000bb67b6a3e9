"""Two `paperbot ingest` processes on one store at once take turns (the store lock); a writer that cannot get the
lock in time fails with a message naming it, and writes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from paperbot.bot import PaperBot
from paperbot.ingest.loaders import load_papers
from tests.corpus_files import demo_records, write_jsonl

pytestmark = pytest.mark.slow


def _env(settings, fake, **extra) -> dict:
    env = {**os.environ, "PAPERBOT_DATA_DIR": str(settings.data_dir), "PAPERBOT_MODELS_DIR": str(settings.models_dir),
           "PAPERBOT_COLLECTION": settings.collection, "PAPERBOT_EMBEDDER": "openai",
           "PAPERBOT_OPENAI_EMBEDDING_MODEL": "fake-embed", "PAPERBOT_INGEST_BATCH_SIZE": "5", **fake.env, **extra}
    if settings.chroma_url:
        env["PAPERBOT_CHROMA_URL"] = settings.chroma_url
    return env


def _ingest(corpus, env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "paperbot", "ingest", str(corpus), "--json"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def openai_settings(tmp_path, make_settings, fake_openai, store_kind):
    return make_settings(embedder="openai", openai_embedding_model="fake-embed", openai_api_key=fake_openai.api_key,
                         openai_base_url=fake_openai.base_url, ingest_batch_size=5,
                         collection=f"conc-{tmp_path.name[-20:].replace('_', '-')}", **store_kind)


def test_two_ingests_at_once_take_turns(tmp_path, demo_corpus, openai_settings, fake_openai):
    records = demo_records(demo_corpus, 40)
    first = write_jsonl(tmp_path / "first.jsonl", records[:25])
    second = write_jsonl(tmp_path / "second.jsonl", records[15:])  # 10 papers in both files
    fake_openai.latency = 0.05  # each process spends a while writing, so the two would overlap without the lock
    env = _env(openai_settings, fake_openai)
    processes = [_ingest(first, env), _ingest(second, env)]
    reports = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        reports.append(json.loads(out))

    # Taking turns: every embedding request of one process comes before every request of the other.
    titles = [{p.title[:60] for p in load_papers([f]).papers} for f in (first, second)]
    only = [titles[0] - titles[1], titles[1] - titles[0]]
    owners = []
    for request in fake_openai.requests_to("embeddings"):
        texts = request.body["input"]
        owners.append({i for i, titles in enumerate(only) for t in texts if t.split("\n\n")[0][:60] in titles})
    sequence = [next(iter(o)) for o in owners if len(o) == 1]
    assert len(set(sequence)) == 2 and sequence in (sorted(sequence), sorted(sequence, reverse=True)), sequence

    # Whichever went second found the shared papers already stored.
    assert sorted(len(r["added"]) for r in reports) == [15, 25]
    assert sorted(len(r["unchanged"]) for r in reports) == [0, 10]
    bot = PaperBot(openai_settings)
    papers = load_papers([first, second]).papers
    expected = {c.id for cl in bot.chunker.chunk_many(list({p.id: p for p in papers}.values())) for c in cl}
    assert len(bot.papers()) == 40
    assert {s.chunk.id for s in bot.vectors.iter_chunks()} == bot.lexical.chunk_ids() == expected
    assert bot.doctor().healthy
    bot.close()


_HOLD_LOCK = """
import sys, time
from pathlib import Path
from paperbot.store.lock import store_lock
with store_lock(Path(sys.argv[1]), 5):
    print("held", flush=True)
    time.sleep(120)
"""


def test_lock_timeout_is_a_clear_error_and_writes_nothing(tmp_path, demo_corpus, make_settings, fake_openai):
    settings = make_settings(embedder="openai", openai_embedding_model="fake-embed",
                             openai_api_key=fake_openai.api_key, openai_base_url=fake_openai.base_url)
    records = demo_records(demo_corpus, 5)
    bot = PaperBot(settings)
    bot.ingest([write_jsonl(tmp_path / "first.jsonl", records[:3])])
    bot.close()
    more = write_jsonl(tmp_path / "more.jsonl", records)
    lock = settings.data_dir / "papers.lock"
    env = _env(settings, fake_openai, PAPERBOT_LOCK_TIMEOUT="0.5")

    def paperbot(*args):
        return subprocess.run([sys.executable, "-m", "paperbot", *args], env=env, capture_output=True, text=True,
                              timeout=300, check=False)

    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(lock)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        blocked = paperbot("ingest", str(more))
        assert blocked.returncode == 1
        message = " ".join(blocked.stderr.split())
        assert f"lock {lock}" in message and "PAPERBOT_LOCK_TIMEOUT" in message and "nothing was written" in message
        assert "Traceback" not in blocked.stderr

        checked = paperbot("doctor", "--json")  # checking reads only: it does not wait for the lock
        assert checked.returncode == 1
        lock_finding = next(f for f in json.loads(checked.stdout)["findings"] if f["check"] == "lock")
        assert not lock_finding["ok"] and "wait for it to finish" in lock_finding["advice"]

        repair = paperbot("doctor", "--repair")  # repairing writes: it waits for the lock like an ingest
        assert repair.returncode == 1 and f"lock {lock}" in " ".join(repair.stderr.split())
    finally:
        holder.kill()
        holder.wait(timeout=30)

    # The holder was killed (as a crashed ingest would be): the OS released its lock, and nothing was written.
    bot = PaperBot(settings)
    assert len(bot.papers()) == 3 and bot.doctor().healthy
    assert len(bot.ingest([more]).added) == 2
    assert bot.doctor().healthy
    bot.close()
