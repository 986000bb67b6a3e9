"""Chat app test helpers: a copied store, the app on a free port, a fake LLM that cites and streams slowly."""

from __future__ import annotations

import html
import os
import re
import shutil
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.fake_openai import FakeOpenAI

CHROMIUM = os.environ.get("PAPERBOT_TEST_CHROMIUM", "/usr/bin/chromium")


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never a downloaded browser); skips the tests when it is missing.
    The background-networking flags matter: without them Chromium keeps dialling out on this closed network."""
    import pytest
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            yield browser
        finally:
            browser.close()

DRAFT_QUESTION = "Which papers speed up decoding with a small draft model?"
_SOURCE = re.compile(r'<source key="(P\d+)" title="([^"]*)"[^>]*>\n(.*?)\n</source>', re.DOTALL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def copy_store(source: Path, target: Path) -> Path:
    """A private copy of a store, so a test may add papers or summaries without touching the shared one."""
    shutil.copytree(source, target)
    return target


def start_app(bot, out: Path, **kwargs: Any):
    """The real app, served by Gradio on 127.0.0.1 in this process; `.url`, `.close()`."""
    from paperbot.app import AppOptions, start

    options = kwargs.pop("options", None) or AppOptions(out_dir=out / "files")  # feedback: in the store's data dir
    return start(bot, host="127.0.0.1", port=free_port(), options=options, **kwargs)


@contextmanager
def serving(bot, out: Path, **kwargs: Any) -> Iterator[Any]:
    """start_app for the length of a with-block: the app is closed even when the test inside fails."""
    running = start_app(bot, out, **kwargs)
    try:
        yield running
    finally:
        running.close()


def citing_responder(body: dict) -> str:
    """Answer from the first sentence of the first two sources, citing their keys (so support checks pass); a
    condense request gets a standalone query instead."""
    last = body["messages"][-1]["content"]
    if "Standalone query:" in last:
        return "speculative decoding with a small draft model: how much faster"
    found = _SOURCE.findall(last)
    if not found:
        return "I cannot answer this from the provided papers."
    sentences = []
    for key, _title, text in found[:2]:
        first = html.unescape(text).split(". ")[0].rstrip(".")
        sentences.append(f"{first} [{key}].")
    return " ".join(sentences)


class SlowStreamOpenAI(FakeOpenAI):
    """FakeOpenAI that pauses before each streamed event, so a browser can see an answer grow word by word."""

    event_delay = 0.06

    def _write_event(self, h, data: str) -> None:  # noqa: ANN001 - the fake's own handler type
        if data != "[DONE]":
            time.sleep(self.event_delay)
        super()._write_event(h, data)


@contextmanager
def llm_app(root: Path, demo_store: Path, models_dir: Path, embedder, fake_class: type[FakeOpenAI] = FakeOpenAI):
    """The app over a copy of the demo store, answering with an LLM (a fake that cites what it is shown): two
    attempts per call, short backoff. Yields (fake, running app)."""
    from paperbot.bot import PaperBot
    from paperbot.config import Settings

    store = copy_store(demo_store, root / "store")
    with fake_class(responder=citing_responder) as fake:
        bot = PaperBot(Settings(
            data_dir=store, models_dir=models_dir, openai_api_key=fake.api_key, openai_base_url=fake.base_url,
            chat_model="fake-chat", max_attempts=2, retry_base_seconds=0.01, max_retry_seconds=5,
            request_timeout=10,
        ), embedder=embedder)
        with serving(bot, root) as running:
            yield fake, running
