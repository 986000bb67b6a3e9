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
