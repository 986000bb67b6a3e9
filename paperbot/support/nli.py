"""Optional NLI support scorer: an ONNX entailment model the user points to (PAPERBOT_NLI_MODEL_DIR); none ships."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from paperbot.errors import ModelFileError
from paperbot.support.checks import numbers_stated
from paperbot.support.learned import quoted

REQUIRED = ("model.onnx", "tokenizer.json", "config.json")
HINT = ("PAPERBOT_NLI_MODEL_DIR must hold model.onnx (inputs input_ids, attention_mask[, token_type_ids]; output "
        "logits per class), tokenizer.json and config.json whose id2label names the entailment class, as an "
        "Optimum ONNX export of an MNLI model has; unset it to use the learned scorer")


class NliModelError(ModelFileError):
    """The NLI model folder is missing, incomplete or unreadable."""


def entailment_index(config_file: Path) -> int:
    """The class whose probability is the support score, from config.json's id2label (MNLI models differ)."""
    try:
        labels = json.loads(config_file.read_text(encoding="utf-8"))["id2label"]
        found = [int(i) for i, label in labels.items() if str(label).casefold().startswith("entail")]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise NliModelError(f"{config_file}: cannot read field 'id2label' ({exc!r:.120}); {HINT}") from None
    if len(found) != 1:
        raise NliModelError(f"{config_file}: field 'id2label' {labels!r:.120} has no single 'entailment' label; {HINT}")
    return found[0]


class NliSupportScorer:
    """P(entailment) of (cited text, claim), the premise being the sources joined (cut to max_tokens)."""

    threshold = 0.5  # the model's own decision boundary: entailment more likely than not

    def __init__(self, model_dir: Path, *, max_tokens: int = 512, batch_size: int = 8) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        model_dir = Path(model_dir)
        if not model_dir.is_dir():
            raise NliModelError(f"{model_dir}: NLI model folder not found; {HINT}")
        missing = [name for name in REQUIRED if not (model_dir / name).is_file()]
        if missing:
            raise NliModelError(f"{model_dir}: missing {', '.join(missing)}; {HINT}")
        self._entail = entailment_index(model_dir / "config.json")
        try:
            self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        except Exception as exc:  # tokenizers raises a bare Exception for a malformed file
            raise NliModelError(f"{model_dir / 'tokenizer.json'}: not a tokenizers file ({exc}); {HINT}") from None
        self._tokenizer.enable_truncation(max_length=max_tokens, strategy="only_first")
        if self._tokenizer.padding is None:  # an exported tokenizer.json usually says how it pads; else its pad token
            pad = next((t for t in ("[PAD]", "<pad>") if self._tokenizer.token_to_id(t) is not None), "[PAD]")
            self._tokenizer.enable_padding(pad_id=self._tokenizer.token_to_id(pad) or 0, pad_token=pad)
        try:
            self._session = onnxruntime.InferenceSession(str(model_dir / "model.onnx"),
                                                         providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime's errors have no common base class worth naming
            raise NliModelError(f"{model_dir / 'model.onnx'}: onnxruntime cannot load it ({exc}); {HINT}") from None
        self._inputs = {i.name for i in self._session.get_inputs()}
        if not {"input_ids", "attention_mask"} <= self._inputs:
            raise NliModelError(f"{model_dir / 'model.onnx'}: inputs are {sorted(self._inputs)}; {HINT}")
        self._batch_size = batch_size
        self.name = f"nli:{model_dir.name}"

    def _entailment(self, premises: list[str], hypotheses: list[str]) -> np.ndarray:
        out = []
        for start in range(0, len(premises), self._batch_size):
            encoded = self._tokenizer.encode_batch(list(zip(premises[start:start + self._batch_size],
                                                            hypotheses[start:start + self._batch_size])))
            feed = {"input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
                    "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64)}
            if "token_type_ids" in self._inputs:
                feed["token_type_ids"] = np.array([e.type_ids for e in encoded], dtype=np.int64)
            logits = np.asarray(self._session.run(None, feed)[0], dtype=np.float64)
            if logits.ndim != 2 or not 0 <= self._entail < logits.shape[1]:
                raise NliModelError(f"NLI model output has shape {logits.shape}; expected (batch, classes); {HINT}")
            logits -= logits.max(axis=1, keepdims=True)
            probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
            out.extend(probabilities[:, self._entail])
        return np.array(out)

    def score(self, claims: Sequence[str], sources: Sequence[Sequence[str]]) -> list[float]:
        scores = [1.0 if quoted(c, s) else None for c, s in zip(claims, sources, strict=True)]
        pending = [i for i, value in enumerate(scores) if value is None]
        if pending:
            probabilities = self._entailment([" ".join(sources[i]) for i in pending], [claims[i] for i in pending])
            for i, p in zip(pending, probabilities, strict=True):
                scores[i] = float(p)
        return [value if numbers_stated(c, s) else 0.0 for value, c, s in zip(scores, claims, sources)]
