"""Small corpus files written by tests: a few real demo abstracts in JSONL, with edits where a test needs them."""

from __future__ import annotations

import json
from pathlib import Path

from paperbot.ingest.loaders import load_papers


def demo_records(demo_corpus: Path, n: int) -> list[dict]:
    papers = load_papers([demo_corpus]).papers[:n]
    return [{"title": p.title, "abstract": p.abstract, "year": 2020 + i % 5, "authors": [f"Author {i}", "Shared Name"]}
            for i, p in enumerate(papers)]


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path
