"""Chroma failing under paperbot ends in one clear line, never a transport or database traceback (issue 14, item 7):
a Chroma server killed mid-ingest, and a disk that fills up during an ingest (reads after it too)."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from paperbot.errors import StoreError
from tests.corpus_files import demo_records, write_jsonl


def _start_chroma(folder: Path) -> tuple[subprocess.Popen, str]:
    beside_python = Path(sys.executable).parent / "chroma"
    chroma = str(beside_python) if beside_python.exists() else shutil.which("chroma")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([chroma, "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(folder)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.2)
    process.kill()
    pytest.fail("chroma run did not listen within 120 s")


@pytest.mark.slow
def test_a_chroma_server_killed_mid_ingest_is_one_clear_error(tmp_path, make_bot, demo_corpus):
    process, url = _start_chroma(tmp_path / "chroma-data")
    try:
        records = demo_records(demo_corpus, 8)
        bot = make_bot(chroma_url=url)
        bot.ingest([write_jsonl(tmp_path / "first.jsonl", records[:4])])
    finally:
        process.kill()
        process.wait(timeout=30)
    # The client connected while the server lived; every later call finds it gone.
    with pytest.raises(StoreError, match=f"^cannot reach the Chroma server at {url} .*Start it again"):
        bot.ingest([write_jsonl(tmp_path / "more.jsonl", records[4:])])
    with pytest.raises(StoreError, match=f"^cannot reach the Chroma server at {url}"):
        bot.search("KV cache memory", k=3, mode="dense")


@pytest.mark.slow
def test_a_full_disk_during_ingest_and_reads_after_it_are_clear_errors(tmp_path, make_bot, demo_corpus,
                                                                        models_dir):
    store = tmp_path / "store"
    bot = make_bot()
    bot.ingest([write_jsonl(tmp_path / "first.jsonl", demo_records(demo_corpus, 3))])
    bot.close()
    limit = (store / "chroma" / "chroma.sqlite3").stat().st_size + 20_000

    def small_disk() -> None:
        # Files may not grow past `limit` bytes: writes fail as on a full disk (EFBIG, not the default SIGXFSZ kill).
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PAPERBOT_"))}
    env.update(PAPERBOT_DATA_DIR=str(store), PAPERBOT_MODELS_DIR=str(models_dir), ANONYMIZED_TELEMETRY="False")
    more = write_jsonl(tmp_path / "more.jsonl", demo_records(demo_corpus, 40))
    done = subprocess.run([sys.executable, "-m", "paperbot", "ingest", str(more)], env=env, preexec_fn=small_disk,
                          capture_output=True, text=True, timeout=600, check=False)
    message = " ".join(done.stderr.split())
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert message.startswith("error: Chroma failed at ") and "free space and run the command again" in message
    # With space again, the same ingest completes: nothing half-done was kept.
    again = subprocess.run([sys.executable, "-m", "paperbot", "ingest", str(more)], env=env, capture_output=True,
                           text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stderr
    assert make_bot().doctor(probe=False).healthy
