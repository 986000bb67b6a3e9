"""`paperbot ask` as a user runs it: extractive with no API, streamed LLM answers against a local server."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.fake_openai import Fault

# Each test starts a Python process (a few CPU seconds of imports): tests/test_cli_inprocess.py runs the same
# commands in this process for the fast tier.
pytestmark = pytest.mark.slow

CANARY_KEY = "sk-canary-CLI-0123456789abcdef"


@pytest.fixture
def run(demo_store, models_dir):
    def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        base = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
        full_env = {**base, "PAPERBOT_DATA_DIR": str(demo_store), "PAPERBOT_MODELS_DIR": str(models_dir), **(env or {})}
        return subprocess.run([sys.executable, "-m", "paperbot", *args], env=full_env, capture_output=True,
                              text=True, timeout=300)

    return run


def test_ask_without_llm_is_extractive_and_cited(run):
    done = run("ask", "Which papers reduce KV cache memory, and by how much?")
    assert done.returncode == 0, done.stderr
    assert "Extractive answer (no LLM)" in done.stdout
    body = done.stdout.split("References")[0]
    lines = [line for line in body.splitlines() if line.strip() and not line.startswith("Extractive")]
    assert lines and all(re.search(r"\[P\d+\]$", line) for line in lines), lines
    refs = re.findall(r"^\s+\[(P\d+)\] ", done.stdout, flags=re.M)
    assert set(refs) == {k for line in lines for k in re.findall(r"P\d+", line)}


def test_ask_streams_from_an_openai_compatible_server_with_retries(run, fake_openai):
    fake_openai.api_key = CANARY_KEY
    fake_openai.script(Fault.rate_limit(retry_after=0, retry_after_ms=20), Fault.status(500))
    fake_openai.responder = lambda r: ("H2O keeps heavy hitters and recent tokens [{0}]. It raises throughput "
                                       "[{0}].".format(re.findall(r'key="(P\d+)"', r["messages"][-1]["content"])[0]))
    env = {"OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": CANARY_KEY, "PAPERBOT_CHAT_MODEL": "fake-chat",
           "PAPERBOT_RETRY_BASE_SECONDS": "0.01"}
    done = run("ask", "Which method keeps only heavy-hitter tokens in the KV cache?", env=env)
    assert done.returncode == 0, done.stderr
    answer = done.stdout.split("References")[0]
    cited = set(re.findall(r"\[(P\d+)\]", answer))
    listed = set(re.findall(r"^\s+\[(P\d+)\] ", done.stdout, flags=re.M))
    assert cited == listed == {"P1"}
    assert "fake-chat" in done.stdout and "tokens" in done.stdout
    assert done.stderr.count("retry") == 2 and "429" in done.stderr and "500" in done.stderr
    assert CANARY_KEY not in done.stdout + done.stderr
    requests = fake_openai.requests_to("chat/completions")
    assert len(requests) == 3 and requests[-1].body["stream"] is True

    as_json = run("ask", "Which method keeps only heavy-hitter tokens in the KV cache?", "--json", env=env)
    data = json.loads(as_json.stdout)
    assert data["mode"] == "llm" and [c["key"] for c in data["citations"]] == ["P1"]
    assert CANARY_KEY not in as_json.stdout + as_json.stderr


def test_dry_run_sends_nothing(run, fake_openai):
    env = {"OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": fake_openai.api_key,
           "PAPERBOT_CHAT_MODEL": "gpt-4o-mini"}
    done = run("ask", "Which papers speed up decoding with a small draft model?", "--dry-run", env=env)
    assert done.returncode == 0, done.stderr
    assert "── system ──" in done.stdout and '<source key="P1"' in done.stdout
    match = re.search(r"gpt-4o-mini: (\d+) prompt tokens \+ up to \d+ answer tokens; cost at most \$(\d+\.\d+)",
                      done.stdout)
    assert match and 0 < int(match.group(1)) <= 1500 and float(match.group(2)) > 0
    assert fake_openai.requests == []


def test_bad_key_is_a_clear_error_without_the_key(run, fake_openai):
    env = {"OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": CANARY_KEY, "PAPERBOT_CHAT_MODEL": "fake-chat"}
    done = run("ask", "Which method keeps only heavy-hitter tokens in the KV cache?", env=env)
    assert done.returncode == 1
    assert "OPENAI_API_KEY" in done.stderr and "401" in done.stderr and "Traceback" not in done.stderr
    assert CANARY_KEY not in done.stderr + done.stdout
    assert len(fake_openai.requests_to("chat/completions")) == 1, "401 is never retried"
