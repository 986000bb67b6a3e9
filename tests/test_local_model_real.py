"""One demo question answered end to end by the REAL local model (llama.cpp server), when its file is present."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from paperbot.llm.gguf import OFFLINE_MODEL

REPO = Path(__file__).resolve().parents[1]
# Where the README's set-up step puts it (`paperbot llm assemble --out ../local-models/`), unless told otherwise.
DEFAULT_MODEL = REPO.parent / "local-models" / OFFLINE_MODEL.name


@pytest.fixture
def local_model() -> Path:
    """Checked before the store fixtures, so a missing model skips at once."""
    path = Path(os.environ.get("PAPERBOT_TEST_LOCAL_MODEL") or DEFAULT_MODEL)
    if not path.is_file():
        pytest.skip(f"no local model file at {path}: set PAPERBOT_TEST_LOCAL_MODEL to a .gguf, or run the README's "
                    "'A local model' step (paperbot llm assemble --out ../local-models/)")
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip("llama-cpp-python is not installed: pip install -e '.[local]'")
    return path


@pytest.mark.slow
def test_real_local_model_answers_a_demo_question_with_checked_keys(local_model, make_bot, demo_store):
    model = local_model
    bot = make_bot(data_dir=demo_store, local_model=model)
    try:
        answer = bot.ask("Which papers reduce KV cache memory, and by how much?")
    finally:
        bot.close()
    assert answer.mode == "llm" and answer.model == "local " + model.name.removesuffix(".gguf")
    assert answer.usage.completion_tokens > 0 and answer.timings.first_token_ms is not None
    assert answer.text.strip()
    if not answer.abstained:
        shown = {e.key for e in answer.evidence}
        for sentence in answer.sentences:  # a valid key, or an explicit flag: nothing else reaches the reader
            assert set(sentence.keys) <= shown
            assert sentence.keys or not sentence.supported, sentence
        assert {c.key for c in answer.citations} <= shown


def _streamed_text(base_url: str, alias: str, prompt: str) -> tuple[str, str | None]:
    """One streamed chat request as paperbot sends it: (the text that came, the finish reason)."""
    import json

    import httpx

    text, finish = [], None
    body = {"model": alias, "messages": [{"role": "user", "content": prompt}], "max_tokens": 24, "temperature": 0,
            "stream": True}
    with httpx.stream("POST", f"{base_url}/chat/completions", json=body, timeout=300) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            choice = json.loads(line.removeprefix("data: "))["choices"][0]
            text.append(choice.get("delta", {}).get("content") or "")
            finish = choice.get("finish_reason") or finish
    return "".join(text), finish


@pytest.mark.slow
def test_two_commands_sharing_one_local_server_both_get_whole_answers(local_model, tmp_path):
    """`paperbot llm serve` is meant to be shared by many commands; llama-cpp-python's server by default cuts a
    streaming answer off when another request arrives. paperbot starts it so that the second one waits instead."""
    from concurrent.futures import ThreadPoolExecutor

    from paperbot.llm.local import LocalServer

    with LocalServer(local_model, threads=2, context=1024, verified_cache=tmp_path / "verified.json") as server:
        prompts = ["List three prime numbers, comma separated.", "Name three colours of the rainbow, comma separated."]
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(_streamed_text, server.base_url, server.alias, prompts[0])
            second = pool.submit(_streamed_text, server.base_url, server.alias, prompts[1])
            results = [first.result(timeout=600), second.result(timeout=600)]
    for text, finish in results:
        assert text.strip() and finish in ("stop", "length"), results
