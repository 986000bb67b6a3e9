"""Model files are checked against pinned sha256 values before use; problems say how to fix them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from paperbot.errors import ModelFileError
from paperbot.store.minilm import MiniLMEmbedder
from paperbot.store.model_files import MINILM_SHA256, verify_files


@pytest.fixture
def model_copy(tmp_path, models_dir):
    target = tmp_path / "all-MiniLM-L6-v2"
    shutil.copytree(models_dir / "all-MiniLM-L6-v2", target)
    for path in target.rglob("*"):
        path.chmod(0o644 if path.is_file() else 0o755)
    return target


def test_pinned_files_pass(models_dir, tmp_path):
    verify_files(models_dir / "all-MiniLM-L6-v2" / "onnx", MINILM_SHA256, tmp_path / "stamp.json")
    assert (tmp_path / "stamp.json").is_file()


def test_altered_file_is_named_and_refused(model_copy, tmp_path):
    vocab = model_copy / "onnx" / "vocab.txt"
    vocab.write_text(vocab.read_text() + "extra\n")
    embedder = MiniLMEmbedder(model_copy, stamp_dir=tmp_path)
    with pytest.raises(ModelFileError) as caught:
        embedder.embed(["hello"])
    message = str(caught.value)
    assert "vocab.txt" in message and "sha256" in message and "fresh copy" in message


def test_missing_file_says_how_to_fix(model_copy, tmp_path):
    (model_copy / "onnx" / "tokenizer.json").unlink()
    (model_copy / "onnx" / "model.onnx").unlink()
    embedder = MiniLMEmbedder(model_copy, stamp_dir=tmp_path)
    with pytest.raises(ModelFileError) as caught:
        embedder.count_tokens(["hello"])
    assert "PAPERBOT_MODELS_DIR" in str(caught.value)


def test_stamp_does_not_hide_a_changed_file(model_copy, tmp_path):
    stamp = tmp_path / "stamp.json"
    verify_files(model_copy / "onnx", MINILM_SHA256, stamp)
    config = model_copy / "onnx" / "config.json"
    config.write_text(config.read_text().replace("384", "385"))
    with pytest.raises(ModelFileError, match="config.json"):
        verify_files(model_copy / "onnx", MINILM_SHA256, stamp)


def test_missing_tiktoken_cache_is_a_clear_error(tmp_path):
    code = (
        "from paperbot.llm.tokens import TiktokenCounter\n"
        "from paperbot.errors import ModelFileError\n"
        "try:\n    TiktokenCounter('o200k_base')\nexcept ModelFileError as e:\n    print('ERR', e)\n"
    )
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(tmp_path / "empty")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.startswith("ERR"), done.stderr
    assert "o200k_base" in done.stdout and "PAPERBOT_MODELS_DIR" in done.stdout
