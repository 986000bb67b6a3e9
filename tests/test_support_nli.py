"""The optional NLI scorer seam: a tiny ONNX model and tokenizer built here run through it, and a missing or
broken model folder fails with a message naming the file and what to put there."""

from __future__ import annotations

import json

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

from paperbot.support.nli import NliModelError, NliSupportScorer  # noqa: E402

WORDS = ["[UNK]", "[CLS]", "[SEP]", "[PAD]", "heavy", "hitters", "keep", "the", "cache", "small", "it", "is", "big"]


def _tokenizer(path):
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", 1), ("[SEP]", 2)])
    tokenizer.save(str(path))
    return tokenizer


def _model(path, weights):
    """logits = (sum of the unpadded token ids) x weights: deterministic, and uses real ONNX ops and both inputs."""
    graph = helper.make_graph(
        [helper.make_node("Mul", ["input_ids", "attention_mask"], ["kept"]),
         helper.make_node("Cast", ["kept"], ["ids"], to=TensorProto.FLOAT),
         helper.make_node("ReduceSum", ["ids", "axes"], ["total"], keepdims=1),
         helper.make_node("MatMul", ["total", "weights"], ["logits"])],
        "tiny-nli",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])],
        [helper.make_tensor("axes", TensorProto.INT64, [1], [1]),
         helper.make_tensor("weights", TensorProto.FLOAT, [1, 3], weights)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


@pytest.fixture
def nli_dir(tmp_path):
    folder = tmp_path / "tiny-nli"
    folder.mkdir()
    _model(folder / "model.onnx", [0.0, 0.0, 0.01])
    _tokenizer(folder / "tokenizer.json")
    (folder / "config.json").write_text(json.dumps({"id2label": {"0": "CONTRADICTION", "1": "NEUTRAL",
                                                                 "2": "ENTAILMENT"}}))
    return folder


def _expected(tokenizer, premise, hypothesis, weights=(0.0, 0.0, 0.01), entail=2):
    total = sum(tokenizer.encode(premise, hypothesis).ids)
    logits = np.array(weights) * total
    return float(np.exp(logits[entail]) / np.exp(logits).sum())


def test_the_entailment_probability_is_the_score(nli_dir):
    from tokenizers import Tokenizer

    scorer = NliSupportScorer(nli_dir)
    assert scorer.name == "nli:tiny-nli"
    assert scorer.threshold == 0.5
    sources = ["heavy hitters keep the cache small", "it is big"]
    claims = ["the cache is big", "hitters keep it small heavy"]  # different lengths: padded in one batch
    scores = scorer.score(claims, [sources, sources])
    tokenizer = Tokenizer.from_file(str(nli_dir / "tokenizer.json"))
    premise = " ".join(sources)
    assert scores == pytest.approx([_expected(tokenizer, premise, c) for c in claims], rel=1e-5)
    assert all(0 < s < 1 for s in scores) and scores[0] != scores[1]


def test_quoted_claims_and_numbers_are_checked_like_every_scorer(nli_dir):
    scorer = NliSupportScorer(nli_dir)
    sources = ["heavy hitters keep the cache small"]
    assert scorer.score(["Heavy hitters keep the cache small."], [sources]) == [1.0]
    assert scorer.score(["heavy hitters keep the cache 5x small"], [sources]) == [0.0]


def test_the_entailment_class_comes_from_config(nli_dir):
    (nli_dir / "config.json").write_text(json.dumps({"id2label": {"0": "entailment", "1": "neutral",
                                                                  "2": "contradiction"}}))
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(nli_dir / "tokenizer.json"))
    score = NliSupportScorer(nli_dir).score(["the cache is big"], [["it is small"]])[0]
    assert score == pytest.approx(_expected(tokenizer, "it is small", "the cache is big", entail=0), rel=1e-5)


@pytest.mark.parametrize(("breakage", "message"), [
    (lambda d: (d / "model.onnx").unlink(), "missing model.onnx"),
    (lambda d: [(d / n).unlink() for n in ("tokenizer.json", "config.json")], "missing tokenizer.json, config.json"),
    (lambda d: (d / "model.onnx").write_bytes(b"not a model"), "onnxruntime cannot load it"),
    (lambda d: (d / "tokenizer.json").write_text("{}"), "not a tokenizers file"),
    (lambda d: (d / "config.json").write_text("{}"), "cannot read field 'id2label'"),
    (lambda d: (d / "config.json").write_text(json.dumps({"id2label": {"0": "yes", "1": "no"}})),
     "no single 'entailment' label"),
])
def test_a_broken_model_folder_says_which_file_and_what_to_do(nli_dir, breakage, message):
    breakage(nli_dir)
    with pytest.raises(NliModelError) as failure:
        NliSupportScorer(nli_dir)
    assert message in str(failure.value)
    assert str(nli_dir) in str(failure.value)
    assert "PAPERBOT_NLI_MODEL_DIR must hold model.onnx" in str(failure.value)


def test_a_missing_folder(tmp_path):
    with pytest.raises(NliModelError, match="NLI model folder not found"):
        NliSupportScorer(tmp_path / "absent")


def test_the_facade_picks_the_scorer_from_settings(nli_dir, make_bot, make_settings):
    from paperbot.bot import PaperBot
    from paperbot.errors import ConfigError

    assert make_bot(nli_model_dir=nli_dir).support_scorer.name == "nli:tiny-nli"  # auto: NLI when a folder is set
    assert make_bot().support_scorer.name == "learned-v1"
    assert make_bot(support_scorer="lexical", nli_model_dir=nli_dir).support_scorer.name == "lexical"
    with pytest.raises(ConfigError, match="PAPERBOT_NLI_MODEL_DIR"):
        make_bot(support_scorer="nli").support_scorer
    with pytest.raises(ConfigError, match="trained on chroma-onnx/all-MiniLM-L6-v2"):
        PaperBot(make_settings(support_scorer="learned", embedder="openai")).support_scorer
    # auto with another embedder: the cosine features would mean nothing, so lexical (with the number check)
    assert PaperBot(make_settings(embedder="openai")).support_scorer.name == "lexical"
