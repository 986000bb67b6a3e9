"""The BM25 index's manifest read on its own, without numpy or the segments: what `paperbot stats` counts."""

from __future__ import annotations

import json
from pathlib import Path

MANIFEST = "paperbot-manifest.json"
FORMAT = 2  # 1: one bm25s index with scores baked in (rebuilt on every ingest); 2: segments of raw statistics


def title_repeats(title_weight: float) -> int:
    """How often a chunk holds its title's words: once, and more for a higher weight (BM25 has no field weights)."""
    return max(0, round(title_weight))


def read_manifest(folder: Path, repeats: int) -> dict:
    """The saved manifest, of this format and title weight; ValueError when it is another's, OSError or a JSON error
    when it is missing or does not parse."""
    manifest = json.loads((folder / MANIFEST).read_text())
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError("it was saved by an older paperbot (one bm25s index, rebuilt on every ingest)")
    if manifest["title_repeats"] != repeats:
        raise ValueError(f"built with title weight {manifest['title_repeats']}, {repeats} is configured")
    return manifest


def outside_index(name: str) -> bool:
    """A segment name the manifest may not use: a path, or not a segment file."""
    return Path(name).name != name or not name.startswith("segment-")


def saved_live_chunks(folder: Path, title_weight: float) -> int:
    """Chunks the saved index holds: its segments' chunks less those deleted from them, as its manifest says.

    0 when no index a reader could use is there: no manifest, one that does not parse or is of another format or
    title weight, a deletion outside its segment, or a segment file missing. Checksums are not read (the index's
    size would cost that much); `paperbot doctor` checks them, and a reader finding a damaged segment says so."""
    try:
        manifest = read_manifest(folder, title_repeats(title_weight))
        live = 0
        for entry in manifest["segments"]:
            name, size = entry["name"], int(entry["chunks"])
            deleted = {int(number) for number in entry["deleted"]}
            if outside_index(name) or not (folder / name).is_file() or any(not 0 <= n < size for n in deleted):
                return 0
            live += size - len(deleted)
        return live
    except (OSError, ValueError, TypeError, KeyError, AttributeError):  # missing, or not the manifest's shape
        return 0
