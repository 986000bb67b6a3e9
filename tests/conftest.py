"""Shared fixtures: offline model files, a real embedder, demo-corpus stores, and a real Chroma server."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# ranx (the eval metrics) compiles its numba kernels in every process, ~10 CPU seconds each, for the few queries a
# test scores; run as plain Python they give the same values (tests/test_eval_harness.py checks them by hand).
# The eval gates in .ci/run are not under pytest and keep the compiled path.
os.environ.setdefault("NUMBA_DISABLE_JIT", "1")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PAPERBOT_SHARED_DIR", REPO.parent / "shared"))
DEMO_CORPUS = SHARED / "corpus" / "inference-cost-papers.txt"


def pytest_xdist_auto_num_workers(config):
    """`-n auto` (pyproject's addopts) spreads the suite or a folder over every core; a run that names test files
    or node ids stays in one process, where starting workers would cost more than they save."""
    if config.args and all(arg.endswith(".py") or "::" in arg for arg in config.args):
        return 0
    return None  # xdist's own count: the usable cores


def _models_dir() -> Path | None:
    configured = os.environ.get("PAPERBOT_MODELS_DIR")
    if configured:
        return Path(configured).resolve()  # tests hand it to processes running in other folders
    return SHARED / "models" if (SHARED / "models").is_dir() else None


@pytest.fixture(scope="session")
def models_dir() -> Path:
    found = _models_dir()
    if found is None:
        pytest.skip("no offline models: set PAPERBOT_MODELS_DIR or place shared/ beside the repo")
    return found


@pytest.fixture(scope="session")
def demo_corpus() -> Path:
    if not DEMO_CORPUS.is_file():
        pytest.skip(f"demo corpus not found at {DEMO_CORPUS}")
    return DEMO_CORPUS


@pytest.fixture(scope="session")
def embedder(models_dir, tmp_path_factory):
    """One real MiniLM per test session, behind a cache of its own vectors (tests/embedding_cache.py): the same demo
    abstracts are embedded once, not in every test that stores them."""
    from paperbot.store.minilm import MiniLMEmbedder
    from tests.embedding_cache import CachingEmbedder, cache_file

    cached = CachingEmbedder(MiniLMEmbedder(models_dir / "all-MiniLM-L6-v2", stamp_dir=tmp_path_factory.mktemp("stamp")),
                             cache_file())
    yield cached
    cached.save()


@pytest.fixture
def make_settings(tmp_path, models_dir):
    from paperbot.config import Settings

    def make(**overrides):
        values = {"data_dir": tmp_path / "store", "models_dir": models_dir, **overrides}
        return Settings(**values)

    return make


@pytest.fixture
def make_bot(make_settings, embedder):
    from paperbot.bot import PaperBot

    def make(**overrides):
        return PaperBot(make_settings(**overrides), embedder=embedder)

    return make


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory, models_dir, embedder, demo_corpus):
    """The 115 demo papers ingested once (embedded Chroma); tests copy it before changing it."""
    from paperbot.bot import PaperBot
    from paperbot.config import Settings

    folder = tmp_path_factory.mktemp("demo-store")
    bot = PaperBot(Settings(data_dir=folder, models_dir=models_dir), embedder=embedder)
    report = bot.ingest([demo_corpus])
    assert len(report.added) == 115
    return folder


@pytest.fixture
def demo_bot(demo_store, models_dir, embedder):
    from paperbot.bot import PaperBot
    from paperbot.config import Settings

    return PaperBot(Settings(data_dir=demo_store, models_dir=models_dir), embedder=embedder)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory):
    """URL of a real Chroma server: the one .ci/run started (PAPERBOT_TEST_CHROMA_URL), or one started here."""
    given = os.environ.get("PAPERBOT_TEST_CHROMA_URL")
    if given:
        yield given
        return
    beside_python = Path(sys.executable).parent / "chroma"
    chroma = str(beside_python) if beside_python.exists() else shutil.which("chroma")
    if chroma is None:
        pytest.fail("the `chroma` command (from the chromadb package) is not on PATH")
    port = _free_port()
    folder = tmp_path_factory.mktemp("chroma-server")
    log = (folder / "server.log").open("w")
    process = subprocess.Popen(
        [chroma, "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(folder / "data")],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"chroma run exited with {process.returncode}; see {folder / 'server.log'}")
            time.sleep(0.2)
    else:
        process.kill()
        pytest.fail("chroma run did not listen within 60 s")
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(params=["embedded", "server"])
def store_kind(request):
    """Run a store test against embedded Chroma and against a real Chroma server."""
    if request.param == "server":
        request.applymarker(pytest.mark.server)
        return {"chroma_url": request.getfixturevalue("chroma_server")}
    return {}


@pytest.fixture
def fake_openai():
    """A running FakeOpenAI (tests/fake_openai.py): a real OpenAI-compatible HTTP server on 127.0.0.1."""
    from tests.fake_openai import FakeOpenAI

    with FakeOpenAI() as server:
        yield server

# gradio_client builds huggingface_hub headers, which fetch an "agent registry" from the Hub unless offline;
# the chat app's tests must not contact anything beyond 127.0.0.1.
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium for the browser tests of one module (see tests/app_helpers.chromium)."""
    from tests.app_helpers import chromium

    with chromium() as launched:
        yield launched
