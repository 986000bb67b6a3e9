"""Chroma's default embedding function (all-MiniLM-L6-v2, ONNX), fed in length-sorted batches padded only as far as needed."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.utils.embedding_functions import ONNXMiniLM_L6_V2

from paperbot.errors import ModelFileError
from paperbot.store.model_files import MINILM_SHA256, verify_files
from paperbot.types import MINILM_ID

log = logging.getLogger(__name__)

MAX_TOKENS = 256  # sentence-transformers' max_seq_length for this model; longer input is silently cut


class _DynamicPaddingMiniLM(ONNXMiniLM_L6_V2):
    """Same model and pooling as Chroma's; Chroma pads every text to 256 tokens, which costs 2-4x on short ones."""

    def __init__(self, download_path: Path | None, fused_dir: Path | None = None) -> None:
        super().__init__(preferred_providers=["CPUExecutionProvider"])
        if download_path is not None:
            self.DOWNLOAD_PATH = download_path  # instance attribute: other users of the class keep Chroma's default
        self._fused_dir = fused_dir
        self.fused = False  # True once the session runs the fused copy (see fused_model.py)

    @cached_property
    def model(self) -> Any:
        """The same weights as Chroma's session; with fused_dir, on the fused copy cached there (GELU and LayerNorm
        fuse; this export's attention does not); the model file as it is when fusing or loading the copy fails."""
        import onnxruntime as ort

        source = Path(self.DOWNLOAD_PATH) / self.EXTRACTED_FOLDER_NAME / "model.onnx"
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # One operator at a time, each spread over every core this process may use: a batch is one long chain.
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
        options.inter_op_num_threads = 1
        if self._fused_dir is not None:
            from paperbot.store.fused_model import fused_copy

            try:
                fused = fused_copy(source, MINILM_SHA256["model.onnx"], self._fused_dir, num_heads=12, hidden_size=384)
                session = ort.InferenceSession(str(fused), options, providers=["CPUExecutionProvider"])
                self.fused = True
                return session
            except Exception as exc:  # noqa: BLE001 - any failure to fuse or load the copy leaves the stock model
                log.warning("embedding with the model as it is: its fused copy is unavailable (%s: %s)",
                            type(exc).__name__, str(exc)[:200])
        return ort.InferenceSession(str(source), options, providers=["CPUExecutionProvider"])

    @cached_property
    def tokenizer(self) -> Any:
        tokenizer = self.Tokenizer.from_file(str(Path(self.DOWNLOAD_PATH) / self.EXTRACTED_FOLDER_NAME / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        return tokenizer

    @cached_property
    def counting_tokenizer(self) -> Any:
        tokenizer = self.Tokenizer.from_file(str(Path(self.DOWNLOAD_PATH) / self.EXTRACTED_FOLDER_NAME / "tokenizer.json"))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return tokenizer

    def _forward(self, documents: list[str], batch_size: int = 32) -> np.ndarray:
        if not documents:
            return np.zeros((0, 384), dtype=np.float32)
        lengths = [len(e.ids) for e in self.counting_tokenizer.encode_batch(documents)]
        order = np.argsort(lengths, kind="stable")
        out = np.empty((len(documents), 384), dtype=np.float32)
        for start in range(0, len(documents), batch_size):
            picked = order[start : start + batch_size]
            encoded = self.tokenizer.encode_batch([documents[i] for i in picked])
            input_ids = np.array([e.ids for e in encoded], dtype=np.int64)
            attention = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            hidden = self.model.run(
                None,
                {"input_ids": input_ids, "attention_mask": attention, "token_type_ids": np.zeros_like(input_ids)},
            )[0]
            mask = attention[..., None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
            out[picked] = self._normalize(pooled)
        return out


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 via Chroma's ONNX embedding function; files checked against pinned hashes before first use."""

    id = MINILM_ID
    max_tokens = MAX_TOKENS
    special_tokens = 2  # [CLS], [SEP]

    def __init__(self, model_dir: Path | None = None, *, batch_size: int = 32, stamp_dir: Path | None = None,
                 fused_dir: Path | None = None) -> None:
        """fused_dir: where the fused copy of the model is cached (built there on first use); None: no fusing."""
        self._function = _DynamicPaddingMiniLM(model_dir, fused_dir)
        self._may_download = model_dir is None  # an explicit folder is an offline copy: never fetch into it
        self._batch_size = batch_size
        self._stamp_dir = stamp_dir
        self._ready = False

    def _ensure_ready(self) -> None:
        if self._ready:
            return
        folder = Path(self._function.DOWNLOAD_PATH)
        if self._may_download and not (folder / "onnx" / "model.onnx").exists():
            try:
                self._function._download_model_if_not_exists()  # Chroma fetches and checks its own archive
            except Exception as exc:  # noqa: BLE001 - any network or archive failure means the same to the user
                raise ModelFileError(
                    f"cannot download all-MiniLM-L6-v2 into {folder} ({type(exc).__name__}). Offline, set "
                    "PAPERBOT_MODELS_DIR to a folder holding all-MiniLM-L6-v2/onnx/"
                ) from exc
        stamp = self._stamp_dir / "minilm-verified.json" if self._stamp_dir else None
        verify_files(folder / "onnx", MINILM_SHA256, stamp)
        self._ready = True

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        self._ensure_ready()
        return [len(e.ids) for e in self._function.counting_tokenizer.encode_batch(list(texts))]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self._ensure_ready()
        return self._function._forward(list(texts), batch_size=self._batch_size)

    @property
    def fused(self) -> bool:
        """True when embeddings come from the fused copy of the model (known once the first text is embedded)."""
        return self._function.fused
