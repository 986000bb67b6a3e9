"""Web safety of the chat app: markup in paper data stays text in every tab (real Chromium), uploads beyond the size
limit or of unknown type are refused before parsing (UI and HTTP), --auth guards the page's data, the config, the
API and file routes (HTTP), and the server binds 127.0.0.1 unless told otherwise, warning when exposed without auth.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.app_helpers import citing_responder, free_port, serving, start_app
from tests.fake_openai import FakeOpenAI

TIMEOUT = 120_000  # ms: a shared 2-core machine can be slow; waiting is not what these tests measure

# Each payload would set window.__pwned (or open a dialog) if the browser ever treated it as markup.
PAYLOADS = [
    "<script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=2">',
    '<a href="javascript:window.__pwned=3">click me</a>',
    '<svg onload="window.__pwned=4"></svg>',
    '<iframe srcdoc="<script>parent.__pwned=5</script>"></iframe>',
    "[click](javascript:window.__pwned=6)",
    '<details open ontoggle="window.__pwned=7">x</details>',
    '"><img src=x onerror=window.__pwned=8>',
    "<img src=x onerror=alert(9)>",
]
TITLE = f"Sparse Lattice Decoding {PAYLOADS[0]}"
RECORDS = [
    {"id": "xss-title", "year": 2025, "title": TITLE, "authors": [PAYLOADS[1], "Ann Lee"],
     "abstract": f"We propose sparse lattice decoding for tiny devices {PAYLOADS[2]}. It reduces lattice decoding "
                 f"energy by 41% on microcontrollers {PAYLOADS[3]}. Accuracy drops by less than one point."},
    {"id": "xss-abstract", "year": 2024, "title": f"Pruned Lattices for Speech {PAYLOADS[4]}",
     "authors": [PAYLOADS[7]],
     "abstract": f"Lattice pruning keeps the best paths {PAYLOADS[5]}. Pruned lattice decoding runs 3x faster on "
                 f"phones {PAYLOADS[6]}. Word error rate is unchanged {PAYLOADS[8]}."},
    {"id": "plain-1", "year": 2023, "title": "Lattice Rescoring with Small Models",
     "abstract": "Lattice rescoring with a small model cuts decoding cost. It keeps accuracy on speech benchmarks."},
    {"id": "plain-2", "year": 2022, "title": "Beam Search Versus Lattice Decoding",
     "abstract": "Beam search and lattice decoding trade memory for accuracy. Lattices use 2x more memory."},
]
UPLOAD_TITLE = f"Uploaded Lattice Survey {PAYLOADS[1]}"
LIMIT_BYTES = 1024 * 1024  # the test app's upload limit: 1 MB


def _write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _bot(store: Path, models_dir: Path, embedder, fake: FakeOpenAI | None = None):
    from paperbot.bot import PaperBot
    from paperbot.config import Settings

    llm = {"openai_api_key": fake.api_key, "openai_base_url": fake.base_url, "chat_model": "fake-chat",
           "max_attempts": 1, "request_timeout": 10} if fake else {"openai_api_key": None, "openai_base_url": None}
    return PaperBot(Settings(data_dir=store, models_dir=models_dir, **llm), embedder=embedder)


@pytest.fixture(scope="module")
def xss_app(tmp_path_factory, models_dir, embedder):
    """The app over a small store whose papers carry script payloads in titles, authors and abstracts; its LLM
    (a local fake) echoes source sentences, payloads included, into its answers."""
    from paperbot.app import AppOptions, UploadLimits

    root = tmp_path_factory.mktemp("xss-app")
    with FakeOpenAI(responder=citing_responder) as fake:
        bot = _bot(root / "store", models_dir, embedder, fake)
        bot.ingest([_write_jsonl(root / "xss.jsonl", RECORDS)])
        options = AppOptions(limits=UploadLimits(max_file_bytes=LIMIT_BYTES), out_dir=root / "files")
        running = start_app(bot, root, options=options)
        yield {"url": running.url, "bot": bot, "root": root, "fake": fake}
        running.close()


# --- in the browser --------------------------------------------------------------------------------------------
@pytest.fixture
def page(browser, xss_app):
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    dialogs: list[str] = []
    requests: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.on("request", lambda request: requests.append(request.url))
    expect.set_options(timeout=TIMEOUT)  # answers, summaries and digests take seconds on a busy machine
    page.goto(xss_app["url"])
    expect(page.locator("#pb-question textarea")).to_be_visible()
    page.dialogs = dialogs
    yield page
    expect.set_options(timeout=5_000)  # Playwright's default, for the other modules
    context.close()
    assert dialogs == [], f"a payload opened a dialog: {dialogs}"
    outside = {urlsplit(u).hostname for u in requests if urlsplit(u).scheme in ("http", "https", "ws", "wss")}
    assert outside <= {"127.0.0.1"}, f"a payload made the browser fetch from {outside}"


_INERT = """() => {
  const all = [...document.querySelectorAll('*')];
  return {
    pwned: window.__pwned === undefined ? null : String(window.__pwned),
    scripts: [...document.scripts].filter(s => s.textContent.includes('__pwned')).length,
    handlers: all.filter(e => [...e.attributes].some(a => a.name.startsWith('on')
                                                          && /__pwned|alert/.test(a.value))).length,
    js_urls: all.filter(e => ['href', 'src', 'action', 'formaction'].some(n =>
                 /^\\s*javascript:/i.test(e.getAttribute(n) || ''))).length,
    srcdoc: all.filter(e => (e.getAttribute('srcdoc') || '').includes('__pwned')).length,
    broken_img: all.filter(e => e.tagName === 'IMG' && e.getAttribute('src') === 'x').length,
  };
}"""
_CLEAN = {"pwned": None, "scripts": 0, "handlers": 0, "js_urls": 0, "srcdoc": 0, "broken_img": 0}


def _assert_inert(page, where: str) -> None:
    state = page.evaluate(_INERT)
    assert state == _CLEAN, f"{where}: markup from the data became live: {state}"
    assert page.dialogs == [], f"{where}: a dialog opened: {page.dialogs}"


@pytest.mark.browser
@pytest.mark.slow
def test_script_payloads_in_paper_data_render_as_text_in_every_tab(page, xss_app, tmp_path) -> None:
    from playwright.sync_api import expect

    # Chat, answered by the LLM, which echoes source sentences payloads and all: answer and sources panel.
    box = page.locator("#pb-question textarea")
    box.fill("Which paper makes lattice decoding use less energy on microcontrollers?")
    box.press("Enter")
    answer = page.locator("#pb-chat [data-testid='bot']").last
    expect(answer.locator("sub")).to_be_visible()  # the footer: the stream is over
    expect(answer).to_contain_text(PAYLOADS[2])
    sources = page.locator("#pb-sources-panel")
    expect(sources).to_contain_text(TITLE)
    _assert_inert(page, "chat")

    # The same question answered extractively (this tab only), quoting the abstracts verbatim.
    page.get_by_role("tab", name="Settings").click()
    page.get_by_label("Extractive (no LLM)").check()
    page.get_by_role("tab", name="Chat").click()
    box.fill("Which paper makes pruned lattice decoding faster on phones?")
    box.press("Enter")
    expect(page.locator("#pb-chat [data-testid='bot']")).to_have_count(2)
    answer = page.locator("#pb-chat [data-testid='bot']").last
    expect(answer.locator("sub")).to_be_visible()
    expect(answer).to_contain_text(PAYLOADS[6])
    expect(sources).to_contain_text(PAYLOADS[4])
    _assert_inert(page, "extractive chat")

    # Papers: the table, a paper (title, authors, abstract) and its summary.
    page.get_by_role("tab", name="Papers").click()
    table = page.locator("#pb-papers")
    expect(table).to_contain_text(TITLE)
    _assert_inert(page, "papers table")
    table.get_by_text(TITLE).filter(visible=True).first.click()
    paper = page.locator("#pb-paper")
    expect(paper).to_contain_text(TITLE)
    expect(paper).to_contain_text(PAYLOADS[1])  # an author
    expect(page.locator("#pb-summary")).to_contain_text(PAYLOADS[3])  # the abstract, shown under its summary
    expect(page.locator("#pb-summary")).to_contain_text("TL;DR")
    _assert_inert(page, "paper and summary")
    table.get_by_text(RECORDS[1]["title"]).filter(visible=True).first.click()
    expect(page.locator("#pb-summary")).to_contain_text(PAYLOADS[5])
    expect(page.locator("#pb-summary")).to_contain_text(PAYLOADS[8])
    expect(page.locator("#pb-summary")).to_contain_text("TL;DR")
    _assert_inert(page, "second paper and summary")

    # Digest and comparison of all four papers, and the titles offered in the picker.
    page.get_by_role("tab", name="Digest & compare").click()
    page.locator("#pb-picks input").fill("Sparse Lattice")
    expect(page.get_by_role("option", name=f"{TITLE} (2025)")).to_be_visible()
    page.keyboard.press("Escape")
    _assert_inert(page, "paper picker")
    page.locator("#pb-topic input, #pb-topic textarea").first.fill("lattice decoding")
    page.locator("#pb-digest").click()
    result = page.locator("#pb-result")
    expect(result.locator(".pb-theme").first).to_be_visible()
    expect(result).to_contain_text(TITLE)
    _assert_inert(page, "digest")
    page.locator("#pb-compare").click()
    expect(result.locator("table")).to_be_visible()
    expect(result).to_contain_text("Pruned Lattices for Speech " + PAYLOADS[4])
    _assert_inert(page, "comparison")

    # Ingest: the report lists an uploaded title with a payload, and a skipped record whose id carries one.
    upload = _write_jsonl(tmp_path / "lattice-upload.jsonl", [
        {"id": "up-1", "title": UPLOAD_TITLE, "abstract": "A survey of lattice decoding. It covers 40 papers."},
        {"id": PAYLOADS[0], "title": PAYLOADS[8]},  # no abstract: skipped
    ])
    page.get_by_role("tab", name="Ingest").click()
    page.locator("#pb-upload input[type=file]").set_input_files(str(upload))
    page.locator("#pb-ingest").click()
    report = page.locator("#pb-report")
    expect(report).to_contain_text("1 added")
    expect(report).to_contain_text(UPLOAD_TITLE)
    expect(report).to_contain_text("1 skipped")
    _assert_inert(page, "ingest report")


@pytest.mark.browser
@pytest.mark.slow
def test_uploads_over_the_limit_or_of_unknown_type_are_refused_before_parsing_in_the_ui(page, xss_app,
                                                                                        tmp_path) -> None:
    from playwright.sync_api import expect

    bot = xss_app["bot"]
    before = len(bot.papers())
    # Both files would parse, and add a paper, if a loader ever saw them.
    good = {"id": "would-load", "title": "A Paper That Must Not Be Added", "abstract": "It would load. Fine."}
    big = tmp_path / "big.jsonl"
    big.write_text(json.dumps(good) + "\n" + json.dumps({**good, "id": "pad", "abstract": "x " * LIMIT_BYTES})
                   + "\n")
    odd = _write_jsonl(tmp_path / "papers.html", [good])
    page.get_by_role("tab", name="Ingest").click()
    upload = page.locator("#pb-upload input[type=file]")
    report = page.locator("#pb-report")

    upload.set_input_files(str(big))
    # The browser refuses the file before sending it (Gradio's max_file_size); nothing reaches the server.
    expect(page.get_by_text(re.compile("exceed the maximum allowed size", re.IGNORECASE)).first).to_be_visible()
    page.locator("#pb-ingest").click()
    expect(report).to_contain_text("Choose one or more files")

    upload.set_input_files(str(odd))
    # The browser refuses the type (the upload widget's file_types); the server's own check, for clients that
    # skip the widget, is test_check_uploads_refuses_by_size_and_type_without_opening_a_parser.
    expect(page.get_by_text(re.compile(r"Invalid file type: papers\.html", re.IGNORECASE)).first).to_be_visible()
    page.locator("#pb-ingest").click()
    expect(report).to_contain_text("Choose one or more files")
    assert len(bot.papers()) == before
    assert not any(p.id == "would-load" for p in bot.papers())
    _assert_inert(page, "refused uploads")


# --- over HTTP -------------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_uploads_over_the_limit_are_refused_over_http_and_no_endpoint_ingests(xss_app, tmp_path) -> None:
    base = xss_app["url"].rstrip("/")
    big = b'{"title": "T", "abstract": "' + b"x" * (LIMIT_BYTES + 10) + b'"}\n'
    with httpx.Client(base_url=base, timeout=60) as client:
        refused = client.post("/gradio_api/upload", files={"files": ("big.jsonl", big, "application/json")})
        assert refused.status_code == 413, refused.text[:200]
        small = client.post("/gradio_api/upload", files={"files": ("small.jsonl", b"{}\n", "application/json")})
        assert small.status_code == 200
        info = client.get("/gradio_api/info").json()
    # An uploaded file can only be ingested through the Ingest tab, which checks it first: no API endpoint ingests.
    assert info["named_endpoints"] and not [name for name in info["named_endpoints"]
                                            if re.search("ingest|upload|load|add", name)]


def test_check_uploads_refuses_by_size_and_type_without_opening_a_parser(tmp_path) -> None:
    from paperbot.app.uploads import UploadLimits, check_uploads

    good = {"title": "Would Load", "abstract": "It would load."}
    big = _write_jsonl(tmp_path / "big.jsonl", [good, {**good, "abstract": "y " * 2000}])
    odd = _write_jsonl(tmp_path / "notes.html", [good])
    # A .pdf that is really JSON: a parser would say "not a PDF"; the check says so before any parser runs.
    fake = _write_jsonl(tmp_path / "paper.pdf", [good])
    checked = check_uploads([big, odd, fake], UploadLimits(max_file_bytes=1024))
    reasons = dict(checked.rejected)
    assert checked.accepted == []
    assert "over the" in reasons["big.jsonl"] and "limit" in reasons["big.jsonl"]
    assert "unsupported file type .html" in reasons["notes.html"]
    assert reasons["paper.pdf"] == "named .pdf but is not a PDF"


@pytest.fixture(scope="module")
def auth_app(tmp_path_factory, models_dir, embedder):
    with _auth_app(tmp_path_factory.mktemp("auth-app"), models_dir, embedder) as running:
        yield running.url.rstrip("/")


@pytest.mark.slow
def test_with_auth_every_route_with_data_refuses_unauthenticated_requests(auth_app) -> None:
    title = RECORDS[2]["title"]
    payload = {"data": ["lattice rescoring", 2]}
    guarded = [("GET", "/config"), ("GET", "/gradio_api/info"), ("GET", "/gradio_api/openapi.json"),
               ("POST", "/gradio_api/call/search"), ("POST", "/gradio_api/call/ask"),
               ("POST", "/gradio_api/run/search"), ("POST", "/gradio_api/queue/join"),
               ("GET", "/gradio_api/queue/data?session_hash=x"), ("POST", "/gradio_api/upload"),
               ("GET", "/gradio_api/file=/etc/passwd"), ("GET", "/monitoring")]
    with httpx.Client(base_url=auth_app, timeout=60) as anonymous:
        for method, path in guarded:
            response = anonymous.request(method, path, json=payload if method == "POST" else None)
            assert response.status_code == 401, (method, path, response.status_code, response.text[:200])
        # The page itself is the login screen: no components, no events, no paper.
        page = anonymous.get("/")
        assert page.status_code == 200 and '"auth_required":true' in page.text
        assert '"components":[]' in page.text and "pb-question" not in page.text and title not in page.text
        assert anonymous.post("/login", data={"username": "reader", "password": "wrong"}).status_code in (400, 401)
        assert anonymous.get("/config").status_code == 401

    with httpx.Client(base_url=auth_app, timeout=60) as reader:
        assert reader.post("/login", data={"username": "reader", "password": "s3cret:pw"}).status_code == 200
        config = reader.get("/config")
        assert config.status_code == 200 and "pb-question" in config.text
        assert "/search" in reader.get("/gradio_api/info").json()["named_endpoints"]
        event = reader.post("/gradio_api/call/search", json=payload)
        assert event.status_code == 200
        stream = reader.get(f"/gradio_api/call/search/{event.json()['event_id']}")
        assert stream.status_code == 200 and title in stream.text


def _routes(routes, prefix: str = "") -> list[tuple[str, str]]:
    """(method, path) of every route the app serves, included routers walked (FastAPI nests Gradio's API router)."""
    found = []
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            found += _routes(original.routes, prefix + route.include_context.prefix)
            continue
        path = getattr(route, "path", None)
        if path is None:
            continue
        methods = sorted(getattr(route, "methods", None) or {"GET"})
        found += [(method, prefix + path) for method in methods if method != "HEAD"]
    return found


# The login page and the files it is drawn with: the only routes open without a session (paperbot/app/auth_gate.py).
LOGIN_PAGE = {("GET", "/"), ("POST", "/login"), ("POST", "/login/"), ("GET", "/favicon.ico"), ("GET", "/theme.css"),
              ("GET", "/manifest.json"), ("GET", "/robots.txt"), ("GET", "/gradio_api/login_check"),
              ("GET", "/gradio_api/login_check/")}
LOGIN_ASSETS = ("/assets/", "/static/", "/svelte/", "/pwa_icon")


@contextmanager
def _auth_app(root: Path, models_dir: Path, embedder) -> Iterator[Any]:
    """The app over the plain records, behind --auth reader:s3cret:pw, while the with-block lasts."""
    bot = _bot(root / "store", models_dir, embedder)
    bot.ingest([_write_jsonl(root / "c.jsonl", RECORDS[2:])])
    with serving(bot, root, auth=("reader", "s3cret:pw")) as running:
        yield running


@pytest.fixture(scope="module")
def auth_running(tmp_path_factory, models_dir, embedder):
    with _auth_app(tmp_path_factory.mktemp("auth-routes"), models_dir, embedder) as running:
        yield running


@pytest.mark.slow
def test_with_auth_every_route_but_the_login_page_needs_a_session(auth_running) -> None:
    """Every route the FastAPI app object holds, enumerated (so a route added later cannot slip through), answers
    401/403 or a redirect to anonymous requests, unless it is the login page or one of its static assets."""
    app = auth_running.blocks.server_app
    routes = sorted(set(_routes(app.routes)))
    assert len(routes) > 40 and ("POST", "/gradio_api/reset") in routes  # the enumeration reached Gradio's API
    closed, checked = {401, 403, 302, 303, 307}, []
    url = auth_running.url.rstrip("/")
    with httpx.Client(base_url=url, timeout=60, follow_redirects=False) as anonymous:
        for method, path in routes:
            concrete = re.sub(r"\{[^}]+\}", "x", path)
            if (method, path) in LOGIN_PAGE or path.startswith(LOGIN_ASSETS):
                continue
            # Streamed and not read: an open event stream (a heartbeat) would otherwise never end.
            with anonymous.stream(method, concrete, json={} if method in ("POST", "PUT", "PATCH") else None) as response:
                checked.append((method, path, response.status_code))
    leaks = [c for c in checked if c[2] not in closed]
    assert leaks == [], leaks
    named = {path for _, path, _ in checked}
    for path in ("/openapi.json", "/gradio_api/heartbeat/{session_hash}", "/gradio_api/reset", "/gradio_api/cancel",
                 "/gradio_api/app_id", "/gradio_api/token", "/gradio_api/user", "/gradio_api/startup-events",
                 "/config", "/monitoring"):
        assert path in named, path  # the routes the issue found open are among those checked
    assert any("/runs" in p for p in named)

    # Signed in, the same client reaches them.
    with httpx.Client(base_url=url, timeout=60) as reader:
        assert reader.post("/login", data={"username": "reader", "password": "s3cret:pw"}).status_code == 200
        assert reader.get("/openapi.json").status_code == 200
        assert reader.get("/gradio_api/app_id").status_code == 200


@pytest.mark.slow
def test_failed_logins_are_limited_per_client(auth_running) -> None:
    url = auth_running.url.rstrip("/")
    with httpx.Client(base_url=url, timeout=60) as attacker:
        codes = [attacker.post("/login", data={"username": "reader", "password": f"guess{i}"}).status_code
                 for i in range(8)]
        assert codes[:5] == [400] * 5 and codes[5:] == [429] * 3, codes
        refused = attacker.post("/login", data={"username": "reader", "password": "s3cret:pw"})
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1  # even the right password
        assert "too many failed logins" in refused.text


def _listening(port: int) -> set[str]:
    """Local addresses with a socket listening on `port`, from /proc/net/tcp and tcp6 (Linux)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            if len(address) == 8:
                found.add(".".join(str(b) for b in reversed(bytes.fromhex(address))))
            else:
                found.add("::" if set(address) == {"0"} else address)
    return found


def _chat(tmp_path: Path, models_dir: Path, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PAPERBOT_AUTH"))}
    env.update(PAPERBOT_DATA_DIR=str(tmp_path / "store"), PAPERBOT_MODELS_DIR=str(models_dir),
               GRADIO_ANALYTICS_ENABLED="False")
    return subprocess.Popen([sys.executable, "-m", "paperbot", "chat", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_chat_binds_loopback_by_default_and_warns_when_exposed_without_auth(tmp_path, models_dir) -> None:
    if not Path("/proc/net/tcp").exists():
        pytest.skip("reads listening sockets from /proc/net/tcp (Linux)")
    # Both at once: each start costs seconds of imports. The exposed one lives only as long as this test.
    local_port, exposed_port = free_port(), free_port()
    local = _chat(tmp_path, models_dir, "--port", str(local_port))
    exposed = _chat(tmp_path, models_dir, "--host", "0.0.0.0", "--port", str(exposed_port))
    try:
        assert local.stdout.readline().strip() == (f"paperbot chat is running at http://127.0.0.1:{local_port}/ "
                                                   "(Ctrl+C to stop)")
        assert _listening(local_port) == {"127.0.0.1"}
        line = exposed.stdout.readline()
        assert f":{exposed_port}" in line, line
        assert _listening(exposed_port) == {"0.0.0.0"}
    finally:
        for process in (exposed, local):
            process.terminate()
        local_errors = local.communicate(timeout=60)[1]
        exposed_errors = " ".join(exposed.communicate(timeout=60)[1].split())  # the console wraps long lines
    assert "without --auth" not in local_errors
    assert "warning: serving on 0.0.0.0 without --auth" in exposed_errors and "--auth user:password" in exposed_errors
    assert _listening(exposed_port) == set(), "the exposed server is gone"


@pytest.fixture(scope="module")
def auth_browser_app(tmp_path_factory, models_dir, embedder):
    # Its own app: the login limit counts failures per client, and every test here comes from 127.0.0.1.
    with _auth_app(tmp_path_factory.mktemp("auth-browser"), models_dir, embedder) as running:
        yield running


@pytest.mark.browser
@pytest.mark.slow
def test_a_reader_signs_in_through_the_login_page_and_is_answered(browser, auth_browser_app) -> None:
    """The route gate (paperbot/app/auth_gate.py) leaves the login page working in a real browser: a wrong
    password is refused on the page, the right one opens the app, and a question is answered."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(auth_browser_app.url)
        user = page.locator("input[type='text']").first
        password = page.locator("input[type='password']")
        expect(password).to_be_visible(timeout=60_000)
        user.fill("reader")
        password.fill("wrong")
        page.get_by_role("button", name=re.compile("login", re.I)).click()
        expect(page.get_by_text(re.compile("incorrect", re.I))).to_be_visible(timeout=30_000)
        expect(page.locator("#pb-question")).to_have_count(0)

        user.fill("reader")  # the form clears itself after a refusal
        password.fill("s3cret:pw")
        page.get_by_role("button", name=re.compile("login", re.I)).click()
        box = page.locator("#pb-question textarea")
        expect(box).to_be_visible(timeout=60_000)
        box.fill("How much more memory do lattices use than beam search?")
        box.press("Enter")
        answer = page.locator("#pb-chat [data-testid='bot']").last
        expect(answer.locator("sub")).to_be_visible(timeout=120_000)  # the footer: the answer is complete
        expect(answer).to_contain_text("[P1]")
    finally:
        context.close()
