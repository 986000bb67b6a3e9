"""Check the embedding model's files against pinned sha256 values before they are loaded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from paperbot.errors import ModelFileError

# sentence-transformers/all-MiniLM-L6-v2 exported to ONNX, exactly as Chroma's default embedding function uses it.
MINILM_SHA256 = {
    "model.onnx": "2c367d107dda7923d11ff52aa572a01aa5cfdde9639578bd3841c9122c345732",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "special_tokens_map.json": "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3",
    "tokenizer_config.json": "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b",
}


def _sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def verify_files(folder: Path, pinned: dict[str, str], stamp: Path | None = None) -> None:
    """Raise ModelFileError naming the first missing or altered file; a stamp skips re-hashing unchanged files."""
    fingerprint = {}
    for name in pinned:
        path = folder / name
        if not path.is_file():
            raise ModelFileError(
                f"embedding model file missing: {path}. Point PAPERBOT_MODELS_DIR at a folder holding "
                f"all-MiniLM-L6-v2/onnx/ (offline copy), or unset it to let Chroma download the model"
            )
        stat = path.stat()
        fingerprint[name] = [str(path.resolve()), stat.st_size, stat.st_mtime_ns]
    if stamp is not None and stamp.is_file():
        try:
            if json.loads(stamp.read_text()) == fingerprint:
                return
        except (OSError, ValueError):
            pass
    for name, expected in pinned.items():
        actual = _sha256(folder / name)
        if actual != expected:
            raise ModelFileError(
                f"embedding model file {folder / name} has sha256 {actual[:12]}…, expected {expected[:12]}…: "
                "the file is damaged or a different model. Replace it with a fresh copy of all-MiniLM-L6-v2 (ONNX)"
            )
    if stamp is not None:
        try:
            stamp.parent.mkdir(parents=True, exist_ok=True)
            stamp.write_text(json.dumps(fingerprint))
        except OSError:
            pass  # a read-only data dir only costs a re-hash next time
