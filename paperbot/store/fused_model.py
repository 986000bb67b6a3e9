"""A copy of a BERT-style ONNX model with its operators fused, built once, cached by its source's sha256."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from paperbot.errors import ModelFileError
from paperbot.store.model_files import verify_files

log = logging.getLogger(__name__)

# Part of the cache key, with the source's hash and onnxruntime's version: a change to how the copy is made (or a
# new fuser) never reuses a copy made the old way.
RECIPE = "bert-fusion-v1"


def fused_copy(source: Path, source_sha256: str, cache_dir: Path, *, num_heads: int, hidden_size: int) -> Path:
    """The fused model for exactly this source (whose sha256 the caller has checked), built on first use.

    Exceptions from building mean "use the source as it is": the caller falls back to it. The copy's own sha256
    is recorded beside it and checked before use (by size and time, re-hashed when they change), so a damaged or
    swapped copy is rebuilt, never loaded."""
    import onnxruntime

    key = f"{source_sha256[:16]}-ort{onnxruntime.__version__}-{RECIPE}"
    target = cache_dir / f"{source.stem}-{key}.onnx"
    record = target.with_suffix(".json")
    stamp = target.with_suffix(".verified.json")
    try:
        recorded = json.loads(record.read_text())
        if recorded.get("source_sha256") == source_sha256 and recorded.get("recipe") == RECIPE:
            verify_files(cache_dir, {target.name: recorded["sha256"]}, stamp)
            return target
    except (OSError, ValueError, KeyError, ModelFileError):
        pass  # missing, unreadable or damaged: (re)build below
    return _build(source, source_sha256, target, record, num_heads=num_heads, hidden_size=hidden_size)


def _build(source: Path, source_sha256: str, target: Path, record: Path, *, num_heads: int, hidden_size: int) -> Path:
    import hashlib

    # onnxruntime's own fuser for BERT-family graphs (it needs the onnx and sympy packages). opt_level 0: only the
    # fusions; onnxruntime applies its graph optimisations again when it loads the copy.
    from onnxruntime.transformers import optimizer

    target.parent.mkdir(parents=True, exist_ok=True)  # first: an unwritable cache fails before the slow part
    log.info("fusing %s into %s (once per model and onnxruntime version)", source, target)
    model = optimizer.optimize_model(str(source), model_type="bert", num_heads=num_heads, hidden_size=hidden_size,
                                     opt_level=0, use_gpu=False)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        model.save_model_to_file(str(partial))
        with partial.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        fused = model.get_fused_operator_statistics()
        record.write_text(json.dumps({"source": source.name, "source_sha256": source_sha256, "recipe": RECIPE,
                                      "sha256": digest, "fused_operators": fused}, indent=2))
        os.replace(partial, target)  # last: a copy is in place only with its record, never half-written
    finally:
        partial.unlink(missing_ok=True)
    return target
