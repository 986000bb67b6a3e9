"""The local model backend: server lifecycle (with a stand-in for llama_cpp.server), model-file checks, assembly,
and the facade/CLI starting it on demand through the same openai client."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from paperbot.errors import ConfigError
from paperbot.llm.gguf import KnownModel, VerifiedCache, assemble, check_model_file
from paperbot.llm.local import LocalServer, LocalServerError, models_answer
from tests.fake_openai import Fault

REPO = Path(__file__).resolve().parents[1]
STAND_IN = "tests.fake_llama_server"


@pytest.fixture
def gguf(tmp_path) -> Path:
    """A model file no table knows: loaded without a hash check (the stand-in never reads it)."""
    path = tmp_path / "tiny-model.gguf"
    path.write_bytes(b"GGUF" + bytes(60))
    return path


@pytest.fixture
def stand_in_env(monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)  # `python -m tests.fake_llama_server` imports from the repository
    log = tmp_path / "requests.jsonl"
    monkeypatch.setenv("FAKE_LLAMA_REQUESTS", str(log))
    return log


def _server(model: Path, **options) -> LocalServer:
    return LocalServer(model, threads=2, context=1024, module=STAND_IN, **options)


@pytest.mark.slow
def test_start_waits_until_ready_then_stop_ends_it(gguf, stand_in_env, monkeypatch):
    monkeypatch.setenv("FAKE_LLAMA_LOAD_SECONDS", "0.5")  # listening only after "loading"
    server = _server(gguf)
    with server:
        assert server.running
        assert models_answer(server.base_url) == ["tiny-model"]  # ready means answering, not just spawned
        assert server.base_url.startswith("http://127.0.0.1:")
        args = server.command()
        assert args[args.index("--n_threads") + 1] == "2" and args[args.index("--n_ctx") + 1] == "1024"
        process = server._process
    assert not server.running and process.poll() is not None
    assert models_answer(server.base_url, timeout=0.5) is None
    server.stop()  # idempotent


@pytest.mark.slow
def test_server_that_dies_while_loading_is_reported_with_its_log(gguf, stand_in_env, monkeypatch):
    monkeypatch.setenv("FAKE_LLAMA_BEHAVIOUR", "die")
    server = _server(gguf)
    with pytest.raises(LocalServerError) as caught:
        server.start()
    message = str(caught.value)
    assert "exited with code 3" in message and "invalid magic characters" in message and str(gguf) in message
    assert not server.running


@pytest.mark.slow
def test_server_that_never_answers_fails_within_the_startup_timeout(gguf, stand_in_env, monkeypatch):
    monkeypatch.setenv("FAKE_LLAMA_BEHAVIOUR", "hang")
    server = _server(gguf, startup_timeout=1.0)
    with pytest.raises(LocalServerError, match="did not answer .* within 1s .*PAPERBOT_LOCAL_STARTUP_TIMEOUT"):
        server.start()
    assert not server.running  # the hung process was stopped, not left behind


@pytest.mark.slow
def test_server_dying_of_sigill_on_its_first_answer_is_restarted_without_repacking(gguf, stand_in_env, monkeypatch):
    monkeypatch.setenv("FAKE_LLAMA_BEHAVIOUR", "sigill")
    with _server(gguf) as server:  # repack "auto"
        assert server.repack == "off" and "--no_repack" in server.command()
        assert models_answer(server.base_url) == ["tiny-model"]
    forced = _server(gguf, repack="on")
    with pytest.raises(LocalServerError, match="SIGILL .*PAPERBOT_LOCAL_REPACK=off"):
        forced.start()
    assert not forced.running


def _known(path: Path, content: bytes) -> tuple[KnownModel, ...]:
    return (KnownModel(path.name, len(content), hashlib.sha256(content).hexdigest()),)


def test_known_model_file_is_checked_and_the_result_cached(tmp_path):
    good = b"GGUF" + bytes(range(200))
    path = tmp_path / "known-model.gguf"
    path.write_bytes(good)
    known = _known(path, good)
    cache = VerifiedCache(tmp_path / "verified.json")
    assert check_model_file(path, cache, known) == known[0]
    entries = json.loads((tmp_path / "verified.json").read_text())
    assert list(entries.values()) == [known[0].sha256]
    # Tampered, same size: the new mtime misses the cache, so it is hashed again and refused.
    tampered = bytearray(good)
    tampered[100] ^= 0xFF
    path.write_bytes(bytes(tampered))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000_000))
    with pytest.raises(ConfigError, match="refusing to load it"):
        check_model_file(path, cache, known)
    path.write_bytes(good[:-1])
    with pytest.raises(ConfigError, match="incomplete or altered"):
        check_model_file(path, cache, known)


def test_tampered_known_file_is_never_served(tmp_path, stand_in_env):
    path = tmp_path / "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"  # the known name, not its content
    path.write_bytes(b"GGUF not the real weights")
    server = _server(path)
    with pytest.raises(ConfigError, match="incomplete or altered"):
        server.start()
    assert server._process is None


def test_unknown_and_missing_files(tmp_path, gguf):
    assert check_model_file(gguf) is None
    with pytest.raises(ConfigError, match="does not exist .*PAPERBOT_LOCAL_MODEL"):
        check_model_file(tmp_path / "nope.gguf")


def test_assemble_joins_parts_and_checks_the_hash(tmp_path):
    parts = []
    for n, chunk in enumerate((b"GGUF-part-one ", b"part two ", b"end")):
        parts.append(tmp_path / f"part{n}.bin")
        parts[-1].write_bytes(chunk)
    whole = b"GGUF-part-one part two end"
    model = KnownModel("joined.gguf", len(whole), hashlib.sha256(whole).hexdigest())
    out = assemble(tmp_path / "models", parts, model)  # a folder: the file gets the model's name
    assert out == tmp_path / "models" / "joined.gguf" and out.read_bytes() == whole
    with pytest.raises(ConfigError, match="not joined.gguf"):
        assemble(tmp_path / "bad.gguf", list(reversed(parts)), model)
    assert not (tmp_path / "bad.gguf").exists() and not (tmp_path / "bad.gguf.part").exists()


@pytest.mark.slow
def test_facade_starts_the_local_model_only_for_llm_answers(make_bot, demo_store, gguf, stand_in_env):
    bot = make_bot(data_dir=demo_store, local_model=gguf, local_server_module=STAND_IN, retry_base_seconds=0.01)
    assert bot.settings.chat_model == "local tiny-model" and bot.settings.max_prompt_tokens == 1000
    bot.search("KV cache memory")
    extractive = bot.ask("Which papers reduce KV cache memory?", mode="extractive")
    assert extractive.mode == "extractive" and bot.chat.base_url is None  # nothing started yet
    answer = bot.ask("Which papers reduce KV cache memory, and by how much?")
    try:
        assert answer.mode == "llm" and answer.model == "local tiny-model" and not answer.abstained
        # The model's reply arrived through the same client; its key is then checked (and maybe corrected).
        assert answer.raw_text == "KV caches shrink by half [P1]." and answer.text.startswith("KV caches shrink")
        assert len(answer.citations) == 1 and answer.citations[0].key in {e.key for e in answer.evidence}
        assert answer.cost_usd == 0.0
        request = json.loads(stand_in_env.read_text().splitlines()[-1])
        assert request["model"] == "tiny-model" and request["max_tokens"] == 300
        assert request["messages"][0]["content"] == bot.prompts["system_compact"].render(
            sentinel="I cannot answer this from the provided papers.")
        server_url = bot.chat.base_url
        assert models_answer(server_url) == ["tiny-model"]
    finally:
        bot.close()
    assert models_answer(server_url, timeout=0.5) is None


def test_prompt_style_setting_chooses_the_prompts(make_bot, tmp_path, gguf):
    compact = make_bot(local_model=gguf).answer_prompts("local tiny-model")
    assert compact["system"].name == "system_compact" and compact["answer"].name == "answer_compact"
    standard = make_bot(local_model=gguf, prompt_style="standard").answer_prompts("local tiny-model")
    assert standard["system"].name == "system"
    forced = make_bot(prompt_style="compact").answer_prompts("gpt-4o-mini")
    assert forced["answer"].name == "answer_compact"
    assert make_bot().answer_prompts("gpt-4o-mini")["system"].name == "system"


def _cli(*args: str, env: dict | None = None, **options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "paperbot", *args], cwd=REPO, capture_output=True, text=True,
                          env={**os.environ, "ANONYMIZED_TELEMETRY": "False", **(env or {})}, timeout=120, **options)


def test_cli_llm_serve_help():
    result = _cli("llm", "serve", "--help")
    assert result.returncode == 0
    for option in ("--model", "--port", "--threads", "--ctx"):
        assert option in result.stdout


@pytest.mark.slow
def test_cli_llm_serve_runs_in_the_foreground_until_interrupted(gguf, tmp_path):
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", "PAPERBOT_LOCAL_SERVER_MODULE": STAND_IN,
           "PAPERBOT_DATA_DIR": str(tmp_path / "data")}
    process = subprocess.Popen([sys.executable, "-m", "paperbot", "llm", "serve", "--model", str(gguf), "--threads",
                                "1"], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("serving tiny-model at http://127.0.0.1:"), line + process.stderr.read()
        url = line.split(" at ", 1)[1].split(" ", 1)[0]
        assert models_answer(url) == ["tiny-model"]
        assert "PAPERBOT_LOCAL_BASE_URL=" + url in process.stdout.readline()
        process.send_signal(signal.SIGTERM)  # as `kill PID` does; Ctrl+C (SIGINT) takes the same path
        assert process.wait(timeout=30) == 130
    finally:
        if process.poll() is None:
            process.kill()
    assert models_answer(url, timeout=0.5) is None  # the server went with it


@pytest.mark.slow
def test_cli_ask_with_local_model_says_local(demo_store, models_dir, gguf, tmp_path):
    env = {"PAPERBOT_LOCAL_MODEL": str(gguf), "PAPERBOT_LOCAL_SERVER_MODULE": STAND_IN,
           "PAPERBOT_DATA_DIR": str(demo_store), "PAPERBOT_MODELS_DIR": str(models_dir)}
    result = _cli("ask", "Which papers reduce KV cache memory, and by how much?", "--json", env=env)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["model"] == "local tiny-model" and answer["mode"] == "llm"
    printed = _cli("ask", "Which papers reduce KV cache memory, and by how much?", env=env)
    assert printed.returncode == 0, printed.stderr
    assert "local tiny-model" in printed.stdout


def test_llama_server_500_for_an_unsupported_response_format_steps_down(fake_openai, make_settings):
    """llama-cpp-python's server rejects json_schema with a 500 naming response_format, not a 400."""
    from paperbot.llm.chat import ChatModel

    message = ("1 validation error: {'loc': ('body', 'response_format', 'type'), 'msg': \"Input should be 'text' "
               "or 'json_object'\", 'input': 'json_schema'}")
    body = {"error": {"message": message, "type": "internal_server_error", "param": None, "code": None}}
    fake_openai.script(*[Fault.status(500, body, path="chat/completions")] * 2)
    fake_openai.responder = '{"decision": "yes"}'
    chat = ChatModel(make_settings(openai_base_url=fake_openai.base_url, openai_api_key=fake_openai.api_key,
                                   chat_model="fake-chat", max_attempts=2, retry_base_seconds=0.01))
    schema = {"type": "json_schema", "json_schema": {"name": "decision", "schema": {"type": "object"}}}
    result = chat.complete([{"role": "user", "content": "yes or no?"}], response_format=schema)
    assert result.text == '{"decision": "yes"}'
    formats = [r.body.get("response_format", {}).get("type") for r in fake_openai.requests_to("chat/completions")]
    assert formats == ["json_schema", "json_schema", "json_object"]
    chat.complete([{"role": "user", "content": "again?"}], response_format=schema)  # remembered: no retry
    assert fake_openai.requests_to("chat/completions")[-1].body["response_format"]["type"] == "json_object"
