"""The NLI survey's inputs: which sentences a claim is paired with, and the pinned-hash check before any load."""

from __future__ import annotations

import numpy as np
import pytest

from evals.support_nli_survey import MODEL_FILE, PINNED, TOKENIZER_FILE, cache_key, check_pinned, premises

VECTORS = {"claim": [1.0, 0.0], "title": [0.0, 1.0], "close": [0.9, 0.1], "closer": [0.99, 0.01],
           "far": [0.1, 0.9], "mid": [0.6, 0.4]}


def _vector(text: str) -> np.ndarray:
    v = np.array(VECTORS[text])
    return v / np.linalg.norm(v)


def test_the_three_closest_sentences_joined_in_document_order_and_one_by_one():
    pairs = [{"claim": "claim", "doc": "a"}, {"claim": "claim", "doc": "short"}]
    sources = {"a": ["title", "close", "far", "mid", "closer"], "short": ["title", "far"]}
    texts = premises(pairs, sources, _vector)
    assert texts["top3"][0] == "close mid closer"  # ranked closer > close > mid, joined as the abstract has them
    assert [texts[s][0] for s in ("s1", "s2", "s3")] == ["closer", "close", "mid"]
    assert [texts[s][1] for s in ("s1", "s2", "s3")] == ["far", "title", "title"]  # two sentences: the last repeats
    assert texts["top3"][1] == "title far"


def test_the_cache_key_tells_premise_from_claim():
    assert cache_key("a b", "c") != cache_key("a", "b c")
    assert cache_key("a", "b") == cache_key("a", "b")


def test_files_that_are_not_the_pinned_ones_are_refused_before_loading(tmp_path):
    (tmp_path / "policy_nli_tokenizer").mkdir()
    with pytest.raises(SystemExit, match=f"{MODEL_FILE}: missing"):
        check_pinned(tmp_path)
    (tmp_path / MODEL_FILE).write_bytes(b"not the model")
    (tmp_path / TOKENIZER_FILE).write_text("{}")
    with pytest.raises(SystemExit, match=f"expected {PINNED[MODEL_FILE]}"):
        check_pinned(tmp_path)
