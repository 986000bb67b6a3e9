"""The fused copy of an ONNX model: cached by its source's sha256, rebuilt when damaged, skipped when it cannot be
made; and MiniLM's vectors from it equal the stock model's."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
pytest.importorskip("sympy")  # onnxruntime's fuser needs it
from onnx import TensorProto, helper  # noqa: E402

from paperbot.store.fused_model import fused_copy  # noqa: E402


def _tiny_model(path, scale: float) -> str:
    """A one-node graph: the fuser finds nothing to fuse in it, which is all the cache logic needs (in a second)."""
    graph = helper.make_graph(
        [helper.make_node("Mul", ["x", "scale"], ["y"])], "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor("scale", TensorProto.FLOAT, [1], [scale])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(path, value: float) -> float:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return float(session.run(None, {"x": np.full((1, 4), value, dtype=np.float32)})[0][0, 0])


def test_copy_is_cached_by_source_hash_and_a_changed_source_gets_its_own(tmp_path):
    cache = tmp_path / "cache"
    source = tmp_path / "model.onnx"
    first_sha = _tiny_model(source, 2.0)
    first = fused_copy(source, first_sha, cache, num_heads=1, hidden_size=4)
    assert _run(first, 3.0) == 6.0
    built = first.stat().st_mtime_ns
    assert fused_copy(source, first_sha, cache, num_heads=1, hidden_size=4) == first
    assert first.stat().st_mtime_ns == built  # reused, not rebuilt

    second_sha = _tiny_model(source, 5.0)  # the same file name, other weights
    second = fused_copy(source, second_sha, cache, num_heads=1, hidden_size=4)
    assert second != first and _run(second, 3.0) == 15.0
    assert json.loads(second.with_suffix(".json").read_text())["source_sha256"] == second_sha


def test_damaged_copy_is_rebuilt_not_loaded(tmp_path):
    source = tmp_path / "model.onnx"
    sha = _tiny_model(source, 2.0)
    copy = fused_copy(source, sha, tmp_path / "cache", num_heads=1, hidden_size=4)
    copy.write_bytes(copy.read_bytes()[:-3] + b"xyz")  # same size: only the hash can tell
    again = fused_copy(source, sha, tmp_path / "cache", num_heads=1, hidden_size=4)
    assert _run(again, 1.0) == 2.0
    recorded = json.loads(again.with_suffix(".json").read_text())["sha256"]
    assert hashlib.sha256(again.read_bytes()).hexdigest() == recorded


def test_minilm_falls_back_to_the_stock_model_when_fusing_fails(models_dir, tmp_path, embedder, caplog):
    from paperbot.store.minilm import MiniLMEmbedder

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    fallback = MiniLMEmbedder(models_dir / "all-MiniLM-L6-v2", stamp_dir=tmp_path, fused_dir=blocker / "fused")
    texts = ["Speculative decoding drafts tokens with a small model.", "KV cache eviction keeps heavy hitters."]
    vectors = fallback.embed(texts)
    assert not fallback.fused
    assert "fused copy is unavailable" in caplog.text
    np.testing.assert_allclose(vectors, embedder.embed(texts), atol=1e-6)


@pytest.mark.slow  # builds the fused MiniLM once (tens of seconds on 2 cores)
def test_fused_minilm_vectors_match_chroma_stock_function(models_dir, tmp_path):
    from chromadb.utils.embedding_functions import ONNXMiniLM_L6_V2

    from paperbot.store.minilm import MiniLMEmbedder

    texts = ["Speculative decoding drafts tokens with a small model and verifies them in one pass.",
             "We evict most of the KV cache and keep heavy-hitter tokens. " * 30,  # cut at 256 word pieces
             "4-bit weights", "Ünïcode and numbers: 3.5x faster, 40% less memory."]
    fused = MiniLMEmbedder(models_dir / "all-MiniLM-L6-v2", stamp_dir=tmp_path, fused_dir=tmp_path / "fused")
    vectors = fused.embed(texts)
    assert fused.fused
    stock = ONNXMiniLM_L6_V2(preferred_providers=["CPUExecutionProvider"])
    stock.DOWNLOAD_PATH = str(models_dir / "all-MiniLM-L6-v2")
    reference = np.asarray(stock(texts), dtype=np.float32)
    cosines = (vectors * reference).sum(axis=1) / np.linalg.norm(vectors, axis=1) / np.linalg.norm(reference, axis=1)
    assert cosines.min() >= 0.9999, cosines
