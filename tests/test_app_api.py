"""The chat app's named endpoints through gradio_client, against the real app serving a copy of the demo store."""

from __future__ import annotations

import re
import threading

import httpx
import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from tests.app_helpers import DRAFT_QUESTION, copy_store, llm_app, start_app  # noqa: E402
from tests.fake_openai import status  # noqa: E402

pytestmark = pytest.mark.slow  # each module starts a real server and embeds queries


def _client(url: str, tmp_path, **kwargs) -> Client:
    return Client(url, verbose=False, analytics_enabled=False, download_files=str(tmp_path), **kwargs)


@pytest.fixture(scope="module")
def extractive_app(tmp_path_factory, demo_store, models_dir, embedder):
    from paperbot.bot import PaperBot
    from paperbot.config import Settings

    root = tmp_path_factory.mktemp("api-app")
    store = copy_store(demo_store, root / "store")
    bot = PaperBot(Settings(data_dir=store, models_dir=models_dir, openai_api_key=None, openai_base_url=None),
                   embedder=embedder)
    running = start_app(bot, root)
    yield running
    running.close()


@pytest.fixture(scope="module")
def client(extractive_app, tmp_path_factory):
    return _client(extractive_app.url, tmp_path_factory.mktemp("downloads"))


@pytest.fixture(scope="module")
def llm(tmp_path_factory, demo_store, models_dir, embedder):
    """The app with an LLM: a real OpenAI-compatible fake server, two attempts per call, short backoff."""
    root = tmp_path_factory.mktemp("api-llm-app")
    with llm_app(root, demo_store, models_dir, embedder) as (fake, running):
        yield fake, running, root


def test_api_lists_the_named_endpoints_and_hides_the_ui_events(client):
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/ask", "/search", "/summarize", "/digest", "/compare"} == set(endpoints)
    ask = {p["parameter_name"] for p in endpoints["/ask"]["parameters"]}
    assert {"question", "history", "mode", "k"} <= ask


def test_ask_returns_a_cited_extractive_answer(client):
    answer = client.predict(DRAFT_QUESTION, api_name="/ask", mode="extractive")
    assert answer["mode"] == "extractive" and not answer["abstained"]
    keys = set(re.findall(r"P\d+", answer["text"]))
    cited = {c["key"]: c for c in answer["citations"]}
    assert keys and keys == set(cited), "every key in the text maps to a citation and back"
    titles = " ".join(c["title"] for c in answer["citations"]).lower()
    assert "speculative" in titles
    assert all(s["supported"] for s in answer["sentences"]), "extractive sentences are quoted, hence supported"


def test_extractive_follow_up_answers_what_it_newly_asks(client):
    kv = "Which papers reduce KV cache memory, and by how much?"
    first = client.predict(kv, api_name="/ask", mode="extractive")
    history = [{"role": "user", "content": kv}, {"role": "assistant", "content": first["text"]}]
    second = client.predict("How much faster is it?", history, api_name="/ask", mode="extractive")
    assert not second["abstained"] and second["text"] != first["text"], "the follow-up is not the first answer again"
    assert not {s["sentence"] for s in second["sentences"]} & {s["sentence"] for s in first["sentences"]}
    assert re.search(r"(throughput|latency|speed-?up|faster)[^\n]*\d|\d[^\n]*(throughput|latency|faster)",
                     second["text"], re.IGNORECASE), second["text"]
    assert {c["paper_id"] for c in first["citations"]} & {c["paper_id"] for c in second["citations"]}
    keys = re.findall(r"\[(P\d+)\]", second["text"])
    assert list(dict.fromkeys(keys)) == [f"P{i}" for i in range(1, len(set(keys)) + 1)], "numbered 1..n, no gaps"


def test_ask_without_an_answer_lists_the_nearest_papers(client):
    answer = client.predict("What does the Zorblax-9 protocol say about quantum knitting?", api_name="/ask",
                            mode="extractive")
    assert answer["abstained"] and answer["citations"] == []
    assert answer["nearest_papers"], "a refusal still points at the closest papers"


def test_search_ranks_draft_model_papers_first(client):
    hits = client.predict("small draft model proposes tokens that the large model verifies", 5, api_name="/search")
    assert [h["rank"] for h in hits] == [1, 2, 3, 4, 5]
    assert any("speculative" in h["title"].lower() for h in hits[:3])
    assert all(h["chunks"] and h["chunks"][0]["text"] for h in hits), "each hit carries its matching passage"


def test_summarize_cites_abstract_sentences_and_is_cached(client):
    paper_id = client.predict("H2O heavy hitter oracle", 1, api_name="/search")[0]["paper_id"]
    first = client.predict(paper_id, api_name="/summarize", mode="extractive")
    assert first["paper_id"] == paper_id and first["tldr"]["sentences"], "the TL;DR cites its sentence"
    second = client.predict(paper_id, api_name="/summarize", mode="extractive")
    assert second["cached"] and second["tldr"] == first["tldr"]


def test_digest_puts_every_paper_in_exactly_one_theme(client):
    digest = client.predict("KV cache compression", api_name="/digest", mode="extractive", k=12)
    keys = [key for theme in digest["themes"] for key in theme["paper_keys"]]
    assert sorted(keys) == sorted(p["key"] for p in digest["papers"]) and len(keys) == 12
    assert digest["markdown"].startswith("# Digest: 12 papers matching")


def test_compare_gives_a_row_per_paper_as_markdown_and_csv(client):
    ids = [h["paper_id"] for h in client.predict("speculative decoding", 2, api_name="/search")]
    table = client.predict(ids, ["task", "efficiency gain"], api_name="/compare", mode="extractive")
    assert [r["paper_id"] for r in table["rows"]] == ids
    assert table["csv"].splitlines()[0].startswith("paper_id,title,task,task sentence")
    assert table["markdown"].startswith("| paper | task | efficiency gain |")


def test_endpoint_errors_are_readable_messages(client):
    with pytest.raises(AppError, match="two or more paper ids"):
        client.predict(["only-one"], api_name="/compare")
    with pytest.raises(AppError, match="no paper with id 'nope'"):
        client.predict("nope", api_name="/summarize")
    with pytest.raises(AppError, match="unknown mode"):
        client.predict("anything", api_name="/ask", mode="poetry")


def test_twenty_simultaneous_users_are_all_answered(client, extractive_app, tmp_path):
    """The queue serves 20 clients asking at once in turn: every one gets its cited answer, none an error."""
    results: list[object] = [None] * 20
    # Answerable questions the abstention check accepts: this test is about the queue, not abstention (the
    # learned check declines some very short questions, e.g. "How is attention made cheaper?": see issue 12).
    questions = [DRAFT_QUESTION, "Which papers reduce KV cache memory?",
                 "Which papers make attention cheaper to compute?", "Which methods quantize weights to 4 bits?"]

    def user(number: int) -> None:
        try:
            own = _client(extractive_app.url, tmp_path / str(number))
            results[number] = own.predict(questions[number % 4], api_name="/ask", mode="extractive")
        except Exception as exc:  # noqa: BLE001 - collected and asserted on below
            results[number] = exc

    threads = [threading.Thread(target=user, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    errors = [r for r in results if not isinstance(r, dict)]
    assert errors == []
    assert all(r["citations"] for r in results)


def test_follow_up_history_reaches_the_model(llm, tmp_path):
    fake, running, _ = llm
    client = _client(running.url, tmp_path)
    first = client.predict(DRAFT_QUESTION, api_name="/ask", mode="llm")
    assert first["mode"] == "llm" and first["citations"]
    history = [{"role": "user", "content": DRAFT_QUESTION}, {"role": "assistant", "content": first["text"]}]
    before = len(fake.requests)
    client.predict("How much faster is it?", history, api_name="/ask", mode="llm")
    sent = " ".join(m["content"] for r in fake.requests[before:] for m in r.messages)
    assert DRAFT_QUESTION in sent, "the earlier question was sent with the follow-up"


def test_llm_failure_is_a_readable_error_and_the_app_keeps_working(llm, tmp_path):
    fake, running, _ = llm
    client = _client(running.url, tmp_path)
    fake.script(*[status(500, path="chat/completions")] * 2)  # both attempts fail
    with pytest.raises(AppError) as failed:
        client.predict(DRAFT_QUESTION, api_name="/ask", mode="llm")
    message = str(failed.value)
    assert "language model" in message.lower() and "Traceback" not in message and fake.api_key not in message
    answer = client.predict(DRAFT_QUESTION, api_name="/ask", mode="llm")
    assert answer["citations"], "the next question is answered as usual"


def test_the_api_key_is_nowhere_in_the_served_page_or_config(llm):
    fake, running, root = llm
    page = httpx.get(running.url, timeout=30).text
    config = httpx.get(running.url.rstrip("/") + "/config", timeout=30).text
    assert fake.api_key not in page and fake.api_key not in config
    assert "127.0.0.1" in config, "the settings show the LLM base URL"
    written = [p.read_text(errors="replace") for p in root.rglob("*") if p.is_file() and p.suffix in (".md", ".jsonl")]
    assert all(fake.api_key not in text for text in written)


def test_login_is_required_when_auth_is_given(demo_store, models_dir, embedder, tmp_path):
    from paperbot.bot import PaperBot
    from paperbot.config import Settings

    store = copy_store(demo_store, tmp_path / "store")
    bot = PaperBot(Settings(data_dir=store, models_dir=models_dir, openai_api_key=None, openai_base_url=None),
                   embedder=embedder)
    running = start_app(bot, tmp_path, auth=("reader", "s3cret:with-colon"))
    try:
        with pytest.raises(Exception):  # noqa: B017 - the client refuses to connect without credentials
            _client(running.url, tmp_path).predict("x", 1, api_name="/search")
        hits = _client(running.url, tmp_path, auth=("reader", "s3cret:with-colon")).predict(
            "speculative decoding", 1, api_name="/search")
        assert len(hits) == 1
    finally:
        running.close()


def _run_chat(args: list[str], env: dict[str, str]):
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-m", "paperbot", "chat", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_paperbot_chat_prints_its_url_serves_the_store_and_takes_auth_from_the_environment(
        demo_store, models_dir, tmp_path):
    import os

    from tests.app_helpers import free_port

    store = copy_store(demo_store, tmp_path / "store")
    env = {**os.environ, "PAPERBOT_DATA_DIR": str(store), "PAPERBOT_MODELS_DIR": str(models_dir),
           "PAPERBOT_AUTH": "ann:pw", "GRADIO_ANALYTICS_ENABLED": "False", "OPENAI_API_KEY": "",
           "OPENAI_BASE_URL": ""}
    port = free_port()
    process = _run_chat(["--port", str(port)], env)
    try:
        line = process.stdout.readline()
        assert line.strip() == f"paperbot chat is running at http://127.0.0.1:{port}/ (Ctrl+C to stop)"
        with pytest.raises(Exception):  # noqa: B017 - no credentials, no API
            _client(f"http://127.0.0.1:{port}/", tmp_path).predict("x", 1, api_name="/search")
        answer = _client(f"http://127.0.0.1:{port}/", tmp_path, auth=("ann", "pw")).predict(
            DRAFT_QUESTION, api_name="/ask")
        assert answer["mode"] == "extractive" and answer["citations"], "no LLM configured: extractive by default"
    finally:
        process.terminate()
        _, errors = process.communicate(timeout=30)
    assert "without --auth" not in errors, "loopback with auth: no exposure warning"


def test_paperbot_chat_refuses_a_malformed_auth_before_serving(tmp_path, models_dir):
    import os

    env = {**os.environ, "PAPERBOT_DATA_DIR": str(tmp_path), "PAPERBOT_MODELS_DIR": str(models_dir)}
    process = _run_chat(["--port", "1", "--auth", "no-colon"], env)
    out, errors = process.communicate(timeout=120)
    assert process.returncode == 1 and "user:password" in errors and "Traceback" not in errors and out == ""


def test_no_connection_leaves_the_machine(demo_store, models_dir, embedder, tmp_path, monkeypatch):
    """Starting the app, loading its page and calling it opens sockets to 127.0.0.1 only (no analytics, no
    version check, nothing fetched)."""
    import ipaddress
    import socket

    from paperbot.bot import PaperBot
    from paperbot.config import Settings

    contacted: list[str] = []
    real_connect, real_lookup = socket.socket.connect, socket.getaddrinfo

    def connect(sock, address):
        contacted.append(str(address[0]) if isinstance(address, tuple) else str(address))
        return real_connect(sock, address)

    def lookup(host, *args, **kwargs):
        contacted.append(str(host))
        return real_lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    store = copy_store(demo_store, tmp_path / "store")
    bot = PaperBot(Settings(data_dir=store, models_dir=models_dir, openai_api_key=None, openai_base_url=None),
                   embedder=embedder)
    running = start_app(bot, tmp_path)
    try:
        assert httpx.get(running.url, timeout=30).status_code == 200
        assert _client(running.url, tmp_path).predict(DRAFT_QUESTION, api_name="/ask")["citations"]
    finally:
        running.close()

    def local(host: str) -> bool:
        if host in ("localhost", "", "None"):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return host.startswith("/")  # a Unix socket path

    assert contacted and all(local(h) for h in contacted), sorted(set(contacted))
