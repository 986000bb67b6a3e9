"""Hostile OpenAI-compatible servers (tests/fake_openai.py): one that drips a word every 20 s, an endless stream, a
300 MB body, one huge token, HTML and terminal escapes, odd citation keys. Each exchange ends (paperbot stops
reading: the server sees the client go) within PAPERBOT_MAX_ANSWER_SECONDS + 2 s of the request, with bounded
memory (peak RSS of a `paperbot ask` process measured against a healthy answer's), and the answer comes back, cut
and marked so, or as a typed error: in the CLI, and in the app, where another user is still answered meanwhile.
(What paperbot does with the kept text afterwards, checking its sentences, is its own bounded work on at most
max_reply_chars characters, not the server's doing; it is not timed here.)"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.app_helpers import DRAFT_QUESTION, citing_responder, copy_store, start_app
from tests.fake_openai import FakeOpenAI, drip, endless, huge_body, huge_token

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
CHAT = "chat/completions"
MAX_ANSWER_SECONDS = 3.0
SLACK_SECONDS = 2.0  # the acceptance bound: the answer ends within PAPERBOT_MAX_ANSWER_SECONDS + 2 s
MAX_RSS_GROWTH_MB = 200
HANG_SECONDS = 90  # a child still running then is killed (and fails its time bound)
OTHER_QUESTION = "Which papers reduce KV cache memory, and by how much?"
ESCAPES = "\x1b[2J\x1b]0;pwned-title\x07\x1b[31m\u202e\x9b1m"
KEYS_ODD = ("[P1" + " " * 45 + "]", "[p2]", "【P1】", "［P2］", "[P99]", "[ P1 ; p2 ]")


def escapes_responder(body: dict) -> str:
    """A citing answer with HTML and terminal escape sequences in every sentence."""
    answer = citing_responder(body)
    return answer.replace(" [P", f" <script>alert(1)</script>{ESCAPES} [P")


def odd_keys_responder(body: dict) -> str:
    """A citing answer whose keys are written in every odd form a model produces."""
    answer = citing_responder(body)
    return answer.replace("[P1]", KEYS_ODD[0] + KEYS_ODD[4] + KEYS_ODD[2]).replace("[P2]", KEYS_ODD[1] + KEYS_ODD[3])


# name: (fault or None, responder, how the CLI ends: "cut" answer, "error", or a whole "answer")
HOSTILE = {
    "drip": (lambda: drip(20, sticky=True), citing_responder, "cut"),
    "endless stream": (lambda: endless(sticky=True), citing_responder, "cut"),
    "300 MB body": (lambda: huge_body(300, sticky=True), citing_responder, "cut"),
    "huge single token": (lambda: huge_token(300, sticky=True), citing_responder, "error"),
    "HTML and escapes": (None, escapes_responder, "answer"),
    "odd keys": (None, odd_keys_responder, "answer"),
}


@pytest.fixture(scope="module")
def fake():
    with FakeOpenAI(responder=citing_responder) as server:
        yield server


@pytest.fixture
def hostile(fake, request):
    """Sets the fake up as the named hostile server; leaves it healthy afterwards."""

    def arm(name: str, *, when: str | None = None) -> str:
        make, responder, outcome = HOSTILE[name]
        fake.clear_faults()
        fake.clear()
        fake.responder = responder
        if make is not None:
            fault = make()
            fake.script(dataclasses.replace(fault, when=when) if when else fault)
        return outcome

    yield arm
    fake.clear_faults()
    fake.responder = citing_responder


# --------------------------------------------------------------------------- the CLI, in a process of its own


def _run_measured(args: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run a child, reading its output on threads as it comes, and reap it with os.wait4 for its own peak RSS.
    Returns its output, that peak in MB, and when it printed its last line: the answer's end. (Interpreter
    shutdown after that, seconds on a loaded machine, is not the answer's time; a child that never exits is
    killed at HANG_SECONDS and fails.)"""
    process = subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killer = threading.Timer(HANG_SECONDS, process.kill)
    killer.start()
    lines: dict[str, list[bytes]] = {"out": [], "err": []}
    last = [time.monotonic()]

    def read(name: str, stream) -> None:
        for line in iter(stream.readline, b""):
            lines[name].append(line)
            last[0] = time.monotonic()

    readers = [threading.Thread(target=read, args=("out", process.stdout)),
               threading.Thread(target=read, args=("err", process.stderr))]
    for reader in readers:
        reader.start()
    _, status, usage = os.wait4(process.pid, 0)
    killer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    for reader in readers:
        reader.join(timeout=60)
    assert process.returncode != -9, f"killed after {HANG_SECONDS}s: it did not end by itself"
    completed = subprocess.CompletedProcess(args, process.returncode,
                                            b"".join(lines["out"]).decode("utf-8", "replace"),
                                            b"".join(lines["err"]).decode("utf-8", "replace"))
    return completed, usage.ru_maxrss / 1024, last[0]


def ask_cli(store: Path, fake: FakeOpenAI, models_dir: Path, *extra: str):
    env = {**os.environ, **fake.env, "PAPERBOT_MODELS_DIR": str(models_dir), "PAPERBOT_DATA_DIR": str(store),
           "PAPERBOT_CHAT_MODEL": "fake-chat", "PAPERBOT_MAX_ANSWER_SECONDS": str(MAX_ANSWER_SECONDS),
           "PAPERBOT_MAX_ATTEMPTS": "2", "PAPERBOT_RETRY_BASE_SECONDS": "0.01", "ANONYMIZED_TELEMETRY": "False",
           "PYTHONIOENCODING": "utf-8"}
    return _run_measured([sys.executable, "-m", "paperbot", "ask", DRAFT_QUESTION, *extra], env)


@pytest.fixture(scope="module")
def healthy_peak_mb(demo_store, fake, models_dir) -> float:
    """Peak RSS of the same command answered by a healthy server: the baseline growth is measured from."""
    fake.clear_faults()
    fake.responder = citing_responder
    result, peak, _ = ask_cli(demo_store, fake, models_dir)
    assert result.returncode == 0, result.stderr
    assert "[P1]" in result.stdout
    return peak


@pytest.mark.parametrize("name", list(HOSTILE))
def test_cli_ask_is_bounded_against_a_hostile_server(name, hostile, fake, demo_store, models_dir, healthy_peak_mb):
    outcome = hostile(name)
    result, peak, _ = ask_cli(demo_store, fake, models_dir)
    requests = fake.requests_to(CHAT)
    assert requests and all(r.ended is not None for r in requests), result.stderr
    stopped = max(r.ended for r in requests) - requests[0].time
    assert stopped <= MAX_ANSWER_SECONDS + SLACK_SECONDS, f"still reading the server {stopped:.1f}s after asking"
    assert peak - healthy_peak_mb < MAX_RSS_GROWTH_MB, f"peak RSS {peak:.0f} MB vs {healthy_peak_mb:.0f} MB healthy"
    shown = result.stdout + result.stderr
    assert "\x1b" not in shown and "\x9b" not in shown and "\u202e" not in shown, "no escape reached the terminal"
    assert "Traceback" not in result.stderr
    if outcome == "error":
        assert result.returncode == 1
        assert re.search(r"error:.*larger than \d+ bytes.*not retried", result.stderr, re.S), result.stderr
    else:
        assert result.returncode == 0, result.stderr
        cut = "The answer is cut, incomplete" in result.stdout
        assert cut == (outcome == "cut"), result.stdout[-2000:]
    if outcome == "cut":
        assert re.search(r"PAPERBOT_MAX_ANSWER_SECONDS|characters of answer", result.stdout)
    if name == "odd keys":
        assert not re.search(r"\[p\d|【|［|\[P99|\[P1 {2,}", result.stdout), result.stdout
        assert "[P1]" in result.stdout and "[P2]" in result.stdout
    if name == "HTML and escapes":
        assert "pwned-title" not in result.stdout, "the window-title sequence went whole, not just its ESC"


def test_cli_json_answer_escapes_what_it_carries(hostile, fake, demo_store, models_dir):
    """--json output is JSON with every control and bidi character escaped, and the same text inside."""
    hostile("HTML and escapes")
    result, _, _ = ask_cli(demo_store, fake, models_dir, "--json")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\u202e" not in result.stdout and "\x9b" not in result.stdout
    answer = json.loads(result.stdout)
    assert "\x1b]0;pwned-title" in answer["text"], "JSON keeps the data, escaped"


_COUNT = """
import os, resource, sys
os.environ["TIKTOKEN_CACHE_DIR"] = sys.argv[2]
from paperbot.llm.tokens import TiktokenCounter
counter, size = TiktokenCounter("cl100k_base"), int(sys.argv[1])
text = ("lorem ipsum dolor sit amet " * (size // 27 + 1))[:size]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
tokens = counter.count(text)
print(tokens, counter.count(text[:27_000]), (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
"""


def test_token_counting_never_tokenizes_unbounded_text(models_dir):
    """A 60 MB reply counted for usage: tiktoken's working memory would be many times the text (a 300 MB reply
    asked for 10 GB); the count is taken on a prefix and extrapolated, in a process of its own to measure it."""
    size = 60_000_000
    done = subprocess.run([sys.executable, "-c", _COUNT, str(size), str(models_dir / "tiktoken")], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    tokens, per_27k, growth_mb = map(int, done.stdout.split())
    assert growth_mb < MAX_RSS_GROWTH_MB, f"counting grew RSS by {growth_mb} MB"
    assert abs(tokens - per_27k * size / 27_000) <= 0.01 * tokens, "the estimate scales with the text"


# --------------------------------------------------------------------------- the app: other users still answered


@pytest.fixture(scope="module")
def app(tmp_path_factory, demo_store, models_dir, embedder, fake):
    from paperbot.bot import PaperBot
    from paperbot.config import Settings

    root = tmp_path_factory.mktemp("hostile-app")
    store = copy_store(demo_store, root / "store")
    bot = PaperBot(Settings(
        data_dir=store, models_dir=models_dir, openai_api_key=fake.api_key, openai_base_url=fake.base_url,
        chat_model="fake-chat", max_attempts=2, retry_base_seconds=0.01, max_answer_seconds=MAX_ANSWER_SECONDS,
    ), embedder=embedder)
    running = start_app(bot, root, concurrency=2)
    yield running
    running.close()


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


@pytest.mark.parametrize("name", ["drip", "endless stream", "300 MB body", "huge single token"])
def test_app_hostile_requests_end_and_another_user_is_answered(name, hostile, fake, app, tmp_path):
    """Two hostile requests fill both queue slots; each ends by the deadline, and a third user is answered."""
    from gradio_client import Client

    hostile(name, when=DRAFT_QUESTION)
    clients = [Client(app.url, verbose=False, analytics_enabled=False, download_files=str(tmp_path))
               for _ in range(3)]
    results: dict[str, object] = {}
    baseline, peak, sampling = _rss_mb(), [0.0], threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.05)

    def ask(label: str, client, question: str) -> None:
        try:
            results[label] = client.predict(question, api_name="/ask", mode="llm")
        except Exception as exc:  # noqa: BLE001 - the endpoint's readable error is what is checked
            results[label] = exc

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    users = [threading.Thread(target=ask, args=(f"hostile{n}", clients[n], DRAFT_QUESTION)) for n in range(2)]
    for user in users:
        user.start()
    while len(fake.requests_to(CHAT)) < 2 and all(u.is_alive() for u in users):
        time.sleep(0.05)  # both slots are taken by the hostile server before the other user asks
    other = threading.Thread(target=ask, args=("other", clients[2], OTHER_QUESTION))
    other.start()
    for thread in (*users, other):
        thread.join(timeout=120)
    sampling.set()
    sampler.join()

    answer = results["other"]
    assert isinstance(answer, dict) and answer["mode"] == "llm" and not answer["truncated"], answer
    assert answer["citations"], "the other user got a cited answer"
    hostile_requests = [r for r in fake.requests_to(CHAT) if DRAFT_QUESTION in r.raw.decode("utf-8", "replace")]
    assert len(hostile_requests) == 2
    for request in hostile_requests:
        assert request.ended is not None and request.ended - request.time <= MAX_ANSWER_SECONDS + SLACK_SECONDS
    for n in range(2):
        got = results[f"hostile{n}"]
        if name == "huge single token":
            assert isinstance(got, Exception) and "bytes" in str(got), got
        else:
            assert isinstance(got, dict) and got["truncated"] and got["cut_reason"], got
    assert peak[0] - baseline < MAX_RSS_GROWTH_MB, f"RSS grew {peak[0] - baseline:.0f} MB"
