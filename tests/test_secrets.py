"""A canary API key never shows: not in logs at any level (openai and httpx included), errors and their tracebacks,
reprs, CLI output (`--json` and `-v` included), the chat app's page, config, API replies, feedback and exports, or
eval reports. Every path runs against the real fake server with the canary as its only accepted key."""

from __future__ import annotations

import io
import json
import logging
import os
import secrets
import subprocess
import sys
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from paperbot.errors import PaperbotError
from tests.app_helpers import DRAFT_QUESTION, copy_store, start_app
from tests.conftest import SHARED
from tests.fake_openai import (
    FakeOpenAI,
    delay,
    drop_mid_stream,
    empty_choices,
    malformed_json,
    rate_limit,
    reset,
    status,
)
from tests.llm_replies import responder

pytestmark = pytest.mark.slow

MIDDLE = secrets.token_hex(12)  # the distinctive part: random per run, so no file could hold it by chance
CANARY = f"sk-canary-{MIDDLE}"
NEEDLES = (CANARY, MIDDLE, MIDDLE[6:18], CANARY[-8:])  # the key, its random part, a piece of it, its tail
H2O = "h2o-heavy-hitter-oracle-for-efficient-generative-cba233"
CHAT = "chat/completions"
REPO = Path(__file__).resolve().parents[1]
HTTP_LOGGERS = ("openai", "httpx", "httpx2", "httpcore", "httpcore2", "gradio", "gradio_client", "uvicorn")


def leaks(text: str) -> list[str]:
    return [needle for needle in NEEDLES if needle in text]


def shown(exc: BaseException) -> str:
    """Everything an error shows: message, repr, and the traceback as printed (causes and contexts included)."""
    return f"{exc}\n{exc!r}\n" + "".join(traceback.format_exception(exc))


class Everything(logging.Handler):
    """A root handler that formats every record, exception text included."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.stream = io.StringIO()
        self.names: set[str] = set()
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s %(args)r"))

    def emit(self, record: logging.LogRecord) -> None:
        self.names.add(record.name)
        self.stream.write(self.format(record) + "\n")


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI(responder=responder, api_key=CANARY) as server:
        yield server


@pytest.fixture(scope="module")
def store(tmp_path_factory, demo_store):
    return copy_store(demo_store, tmp_path_factory.mktemp("secrets") / "store")


@pytest.fixture(scope="module")
def bot(store, models_dir, embedder, fake):
    from paperbot.bot import PaperBot
    from paperbot.config import Settings

    return PaperBot(Settings(data_dir=store, models_dir=models_dir, OPENAI_API_KEY=CANARY,
                             OPENAI_BASE_URL=fake.base_url, chat_model="fake-chat", max_attempts=2,
                             retry_base_seconds=0.01, max_retry_seconds=3, request_timeout=1.0), embedder=embedder)


@pytest.fixture
def logs(caplog):
    """caplog at DEBUG plus a root handler; the HTTP libraries' loggers opened up to DEBUG too."""
    handler = Everything()
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in HTTP_LOGGERS}
    root.addHandler(handler)
    caplog.set_level(logging.DEBUG)
    for name in HTTP_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)

    def text() -> str:
        records = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
        return f"{caplog.text}\n{handler.stream.getvalue()}\n{records}"

    text.loggers = handler.names  # type: ignore[attr-defined]
    yield text
    root.removeHandler(handler)
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


@pytest.fixture
def reset_fake(fake):
    fake.clear_faults()
    fake.clear()
    fake.responder = responder
    fake.api_key = CANARY
    yield
    fake.clear_faults()
    fake.api_key = CANARY


def test_logs_and_errors_of_every_path_hold_no_key(bot, fake, logs, reset_fake, tmp_path):
    """Success and every error path, in process, with DEBUG logging of paperbot, openai, httpx and httpcore."""
    assert bot.ask(DRAFT_QUESTION).citations
    assert [p for p in bot.ask_stream(DRAFT_QUESTION)]
    assert bot.summarize(H2O, mode="llm").tldr.stated
    ids = [p.id for p in bot.papers() if p.title.startswith(("Online Speculative Decoding", "H₂O"))]
    assert bot.digest(ids, mode="llm").themes
    assert bot.compare(ids, ["task"], mode="llm").rows
    echo = {"error": {"message": f"Invalid request from key {CANARY} ({MIDDLE})", "type": "invalid_request_error"}}
    scenarios = {
        "a server that echoes the key in a 400": [status(400, body=echo)],
        "echoed in a 500 on every attempt": [status(500, body=echo)] * 2,
        "429 on every attempt": [rate_limit(retry_after=0.05)] * 2,
        "reset on every attempt": [reset()] * 2,
        "slow on every attempt": [delay(5)] * 2,
        "malformed JSON": [malformed_json()],
        "empty choices": [empty_choices()],
        "dropped mid-stream": [drop_mid_stream(after_chunks=4)],
    }
    errors: list[BaseException] = []
    for faults in scenarios.values():
        fake.script(*faults)
        with pytest.raises(PaperbotError) as caught:
            bot.ask(DRAFT_QUESTION)
        errors.append(caught.value)
        fake.clear_faults()
    fake.api_key = "sk-the-server-wants-another-key"  # 401: the key itself is wrong
    for call in (lambda: bot.ask(DRAFT_QUESTION), lambda: bot.summarize(H2O, mode="llm"),
                 lambda: bot.compare(ids, ["task"], mode="llm")):
        bot.summary_cache.clear()
        with pytest.raises(PaperbotError, match="OPENAI_API_KEY") as caught:
            call()
        errors.append(caught.value)
    assert len(errors) == len(scenarios) + 3
    for error in errors:
        assert leaks(shown(error)) == [], shown(error)
    text = logs()
    assert "retry 1 of 1" in text, "the retry warnings were captured"
    http = {name for name in logs.loggers if name.startswith(("openai", "httpx", "httpcore"))}
    assert http, f"the HTTP libraries' DEBUG logs were captured: {sorted(logs.loggers)}"
    assert leaks(text) == []


def test_reprs_and_dumps_hold_no_key(bot):
    settings = bot.settings
    for text in (repr(settings), str(settings), str(settings.model_dump()), settings.model_dump_json(), repr(bot),
                 repr(bot.chat), repr(bot.answerer()), repr(bot.summarizer(mode="llm"))):
        assert leaks(text) == [], text


def _cli_env(store: Path, models_dir: Path, fake: FakeOpenAI) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PAPERBOT_", "OPENAI_"))}
    return {**env, "OPENAI_API_KEY": CANARY, "OPENAI_BASE_URL": fake.base_url, "PAPERBOT_CHAT_MODEL": "fake-chat",
            "PAPERBOT_DATA_DIR": str(store), "PAPERBOT_MODELS_DIR": str(models_dir), "PAPERBOT_MAX_ATTEMPTS": "2",
            "PAPERBOT_RETRY_BASE_SECONDS": "0.01", "PAPERBOT_MAX_RETRY_SECONDS": "5", "COLUMNS": "200"}


def _paperbot(args: tuple[str, ...], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "paperbot", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=300, check=False)


def test_cli_output_holds_no_key(store, models_dir, fake, reset_fake):
    env = _cli_env(store, models_dir, fake)
    healthy = [  # no faults: run side by side
        ("ask", DRAFT_QUESTION),
        ("ask", DRAFT_QUESTION, "--json"),
        ("ask", DRAFT_QUESTION, "--dry-run"),
        ("summarize", H2O, "--json"),
        ("digest", "--paper-id", H2O, "--mode", "llm"),
        ("compare", H2O, "online-speculative-decoding-cab1a6", "--aspects", "task", "--format", "json"),
        ("stats", "--json"),
    ]
    with ThreadPoolExecutor(max_workers=3) as pool:
        done = list(pool.map(lambda args: _paperbot(args, env), healthy))
    fake.script(rate_limit(retry_after=0.05))  # -v logs the retry
    done.append(retried := _paperbot(("-v", "ask", DRAFT_QUESTION, "--json"), env))
    echo = {"error": {"message": f"Invalid request from key {CANARY}", "type": "server_error"}}
    fake.script(*[status(500, body=echo)] * 2)  # every attempt fails, the server echoing the key
    failed = _paperbot(("-v", "ask", DRAFT_QUESTION), env)
    for args, result in zip([*healthy, "-v ask (429 once)"], done, strict=True):
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"{args}: {output[-2000:]}"
        assert leaks(output) == [], f"{args}: {output[-2000:]}"
    assert json.loads(done[1].stdout)["citations"], "ask --json printed the answer"
    assert "retry 1 of 1" in retried.stderr, "-v shows the retry warning"
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0 and "HTTP 500" in output and "Traceback" not in output, output[-2000:]
    assert leaks(output) == [], output[-2000:]


def test_bad_key_on_the_cli_says_which_setting_and_hides_it(store, models_dir, fake, reset_fake):
    fake.api_key = "sk-the-server-wants-another-key"
    done = _paperbot(("-v", "ask", DRAFT_QUESTION, "--json"), _cli_env(store, models_dir, fake))
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "OPENAI_API_KEY" in output
    assert leaks(output) == []


def test_app_page_config_api_feedback_and_exports_hold_no_key(bot, fake, store, tmp_path, reset_fake, logs):
    import gradio as gr
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    from paperbot.app.chat import Chat
    from paperbot.app.conversation import FeedbackLog
    from paperbot.app.tab_settings import TabSettings

    running = start_app(bot, tmp_path)
    try:
        base = running.url.rstrip("/")
        served = [httpx.get(f"{base}{path}", timeout=60).text for path in ("/", "/config", "/gradio_api/info")]
        assert "127.0.0.1" in served[1], "the settings show the base URL (and only that)"
        client = Client(running.url, verbose=False, analytics_enabled=False, download_files=str(tmp_path))
        replies = [json.dumps(client.predict(DRAFT_QUESTION, api_name="/ask", mode="llm")),
                   json.dumps(client.predict(H2O, api_name="/summarize", mode="llm"))]
        echo = {"error": {"message": f"Invalid request from key {CANARY}", "type": "server_error"}}
        fake.script(*[status(500, body=echo)] * 2)
        with pytest.raises(AppError) as caught:
            client.predict(DRAFT_QUESTION, api_name="/ask", mode="llm")
        replies.append(shown(caught.value))
        fake.clear_faults()
    finally:
        running.close()

    # The chat tab's own handlers: an answer, a failed answer, thumbs on both, and the Markdown export.
    feedback = tmp_path / "feedback.jsonl"
    chat = Chat(bot, FeedbackLog(feedback), tmp_path / "exports")
    tab = TabSettings.defaults(bot)
    *_, (_, _, turns, _) = chat.ask(DRAFT_QUESTION, [], tab)
    fake.script(*[status(500, body=echo)] * 2)
    *_, (messages, _, turns, panel) = chat.ask("How much faster is it?", turns, tab)
    fake.clear_faults()
    assert turns[0].answer is not None and turns[1].error
    chat.like(turns, gr.LikeData(None, {"index": 1, "value": "", "liked": True}))
    chat.like(turns, gr.LikeData(None, {"index": 3, "value": "", "liked": False}))
    exported = Path(chat.export(turns)["value"]).read_text(encoding="utf-8")
    written = feedback.read_text(encoding="utf-8")
    assert len(written.splitlines()) == 2 and "The language model did not answer" in written
    for text in (*served, *replies, written, exported, json.dumps(messages), panel, logs()):
        assert leaks(text) == [], text[:2000]
    on_disk = [p for p in (*store.rglob("*"), *tmp_path.rglob("*")) if p.is_file() and p.stat().st_size < 5_000_000]
    assert all(leaks(p.read_text(errors="replace")) == [] for p in on_disk)


def test_eval_report_holds_no_key(store, models_dir, fake, reset_fake, tmp_path):
    """`paperbot eval` with the canary against the fake server: nothing in its report folder (results.json records
    the configuration) holds the key."""
    env = _cli_env(store, models_dir, fake)
    help_text = _paperbot(("eval", "--help"), env)
    if help_text.returncode != 0 or "--limit" not in help_text.stdout:
        pytest.skip("`paperbot eval` (evals/run.py, evals/report.py) is not there yet: this case waits for it")
    out = tmp_path / "report"
    # The demo set over the copy of the demo store (its papers are already there: nothing to embed), LLM answers
    # and the LLM judge both against the fake server.
    done = _paperbot(("eval", "--dataset", "demo", "--demo-corpus", str(SHARED / "corpus" / "inference-cost-papers.txt"),
                      "--work-dir", str(store), "--collection", "papers", "--configs", "hybrid", "--mode", "llm",
                      "--limit", "2", "--out", str(out)), env)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert leaks(output) == []
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.name == "results.json" for p in files), [p.name for p in files]
    for path in files:
        assert leaks(path.read_text(errors="replace")) == [], path
    assert len(fake.requests_to(CHAT)) > 0, "the eval used the LLM"
