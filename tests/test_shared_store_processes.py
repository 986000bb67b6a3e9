"""Several processes over one store: two `paperbot chat` apps on their own data dirs and a CLI ingest from a third,
all over one real `chroma run` server; the writer lease against a second and a crashed writer; and an embedded
store read by a long-running process while another process ingests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import asdict
from pathlib import Path

import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client  # noqa: E402

from tests.app_helpers import free_port  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.server]

OLD = [
    {"id": "old-1", "title": "Speculative decoding with draft models",
     "abstract": "A small draft model proposes tokens that the large model verifies in parallel, cutting latency."},
    {"id": "old-2", "title": "Four-bit weight quantization",
     "abstract": "Weights stored in four bits halve memory traffic with little loss in accuracy."},
]
NEW = [
    {"id": "new-1", "title": "Zebrafish retinal regeneration after optic nerve crush",
     "abstract": "Muller glia in zebrafish re-enter the cell cycle and regenerate retinal neurons after injury."},
    {"id": "new-2", "title": "Glacier meltwater and fjord phytoplankton",
     "abstract": "Meltwater plumes from tidewater glaciers raise nutrient supply and phytoplankton blooms in fjords."},
]
QUERY = "zebrafish Muller glia regenerate retinal neurons"


def _write(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _env(models_dir: Path, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "PAPERBOT_DATA_DIR": str(data_dir), "PAPERBOT_MODELS_DIR": str(models_dir),
           "ANONYMIZED_TELEMETRY": "False", "GRADIO_ANALYTICS_ENABLED": "False", "OPENAI_API_KEY": "",
           "OPENAI_BASE_URL": "", "PAPERBOT_STORE_POLL_SECONDS": "1", **extra}
    env.pop("PAPERBOT_LOCAL_MODEL", None)
    return env


def _paperbot(args: list[str], env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "paperbot", *args], check=False, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _new_paper_hit(hits: list[dict]) -> dict | None:
    """The new paper's hit when it is there with a passage found by both retrievers."""
    for hit in hits:
        if hit["paper_id"] == "new-1" and any(c["dense_rank"] and c["lexical_rank"] for c in hit["chunks"]):
            return hit
    return None


@pytest.fixture
def server_env(chroma_server, models_dir, tmp_path):
    collection = f"shared-{uuid.uuid4().hex[:12]}"  # the server may outlive this run (PAPERBOT_TEST_CHROMA_URL)

    def make(name: str, **extra: str) -> dict[str, str]:
        return _env(models_dir, tmp_path / name, PAPERBOT_CHROMA_URL=chroma_server, PAPERBOT_COLLECTION=collection,
                    **extra)

    return make


def test_two_chat_apps_on_their_own_data_dirs_answer_from_a_third_data_dirs_ingest(server_env, tmp_path):
    first = _paperbot(["ingest", str(_write(tmp_path / "old.jsonl", OLD))], server_env("writer"))
    assert first.returncode == 0, first.stderr
    apps, clients = [], []
    try:
        for name in ("reader-a", "reader-b"):
            port = free_port()
            apps.append(subprocess.Popen([sys.executable, "-m", "paperbot", "chat", "--port", str(port)],
                                         env=server_env(name), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True))
            clients.append(port)
        for app, port in zip(apps, clients):
            assert "is running at" in app.stdout.readline(), app.stderr.read() if app.poll() is not None else ""
        clients = [Client(f"http://127.0.0.1:{port}/", verbose=False, analytics_enabled=False,
                          download_files=str(tmp_path)) for port in clients]
        for client in clients:  # each reader has built its catalog and BM25 index from the server: old papers only
            assert {h["paper_id"] for h in client.predict(QUERY, 10, api_name="/search")} <= {"old-1", "old-2"}

        ingest = _paperbot(["ingest", str(_write(tmp_path / "new.jsonl", NEW))], server_env("writer"))
        assert ingest.returncode == 0, ingest.stderr
        done = time.monotonic()
        seen: dict[int, float] = {}
        while len(seen) < len(clients) and time.monotonic() - done < 10:
            for number, client in enumerate(clients):
                if number not in seen and _new_paper_hit(client.predict(QUERY, 10, api_name="/search")):
                    seen[number] = time.monotonic() - done
            time.sleep(0.2)
        assert len(seen) == len(clients), f"within 10 s of the ingest only readers {sorted(seen)} found the new paper"
        print(f"seconds from the ingest's exit to each reader finding the new paper: {seen}")
        for client in clients:  # and answer from it
            answer = client.predict(QUERY, api_name="/ask", mode="extractive")
            assert "new-1" in {c["paper_id"] for c in answer["citations"]}, answer["text"]
        # A third data dir, never used before, sees every paper from its first command.
        found = _paperbot(["search", QUERY, "--json"], server_env("newcomer"))
        assert found.returncode == 0 and "new-1" in found.stdout, found.stderr
    finally:
        for app in apps:
            app.terminate()
            app.communicate(timeout=30)


def test_a_second_writer_is_refused_naming_the_holder_until_a_crashed_writers_lease_lapses(server_env, tmp_path):
    holder_env = server_env("crashed", PAPERBOT_LEASE_SECONDS="25")
    # A writer on another host (as its lease says) that takes the lease and is then killed (kill -9: no release,
    # no renewal); a killed writer of this host would not be waited for (tests/test_shared_store.py).
    script = ("from paperbot.bot import PaperBot; from paperbot.store.lease import WriterLease; import time\n"
              "bot = PaperBot()\n"
              "lease = WriterLease(bot.change_log, owner='crashed-host pid 4242 data dir /crashed', seconds=25,\n"
              "                    host='crashed-host', pid=4242)\n"
              "lease.acquire(5); print('held', flush=True); time.sleep(600)\n")
    crashed = subprocess.Popen([sys.executable, "-c", script], env=holder_env, stdout=subprocess.PIPE, text=True)
    try:
        assert crashed.stdout.readline().strip() == "held"
        crashed.send_signal(signal.SIGKILL)
        crashed.wait(timeout=10)
        killed_at = time.monotonic()
        corpus = _write(tmp_path / "new.jsonl", NEW)
        refused = _paperbot(["ingest", str(corpus)], server_env("second", PAPERBOT_LOCK_TIMEOUT="0"))
        assert refused.returncode != 0
        message = " ".join(refused.stderr.split())
        assert "crashed-host pid 4242 data dir /crashed" in message and "expires at" in message, message
        assert "Traceback" not in refused.stderr
        if time.monotonic() - killed_at < 25:
            stats = _paperbot(["papers"], server_env("second"))
            assert "new-1" not in stats.stdout, "the refused writer wrote nothing"
        # A writer that waits gets in once the dead writer's lease lapses.
        waited = _paperbot(["ingest", str(corpus)], server_env("second", PAPERBOT_LOCK_TIMEOUT="60"))
        assert waited.returncode == 0, waited.stderr
        assert time.monotonic() - killed_at >= 25 - 1  # it had to wait for the expiry, not for nothing
        listed = _paperbot(["papers"], server_env("third"))
        assert "new-1" in listed.stdout and "new-2" in listed.stdout, listed.stderr
    finally:
        if crashed.poll() is None:
            crashed.kill()


def test_a_long_running_reader_of_an_embedded_store_sees_another_processs_ingest(models_dir, embedder, tmp_path):
    from paperbot.bot import PaperBot
    from paperbot.config import Settings

    store = tmp_path / "store"
    env = _env(models_dir, store)
    assert _paperbot(["ingest", str(_write(tmp_path / "old.jsonl", OLD))], env).returncode == 0
    reader = PaperBot(Settings(data_dir=store, models_dir=models_dir, store_poll_seconds=0), embedder=embedder)
    try:
        assert not _new_paper_hit([asdict(h) for h in reader.search(QUERY)])
        ingest = _paperbot(["ingest", str(_write(tmp_path / "new.jsonl", NEW))], env)
        assert ingest.returncode == 0, ingest.stderr
        hits = reader.search(QUERY)
        hit = _new_paper_hit([asdict(h) for h in hits])
        assert hit is not None, [(h.paper_id, [(c.dense_rank, c.lexical_rank) for c in h.chunks]) for h in hits]
    finally:
        reader.close()
