"""The store an eval set runs on: reused when it already holds exactly the set's papers, else ingested."""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass

from evals.items import EvalSet
from paperbot import PaperBot, PaperbotError, Settings


@dataclass
class StoreInfo:
    collection: str
    data_dir: str
    papers: int
    chunks: int
    chunker: str
    reused: bool
    ingest_seconds: float
    added: int


def collection_name(eval_set: EvalSet, chunk_tokens: int | None) -> str:
    """Named after the set and a fingerprint of its corpus files, so a changed corpus never reuses a stale store."""
    digest = hashlib.sha1()
    for path in eval_set.corpus:
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            digest.update(file.name.encode())
            digest.update(file.read_bytes())
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", eval_set.name).strip("-._")[:36] or "set"
    size = f"-c{chunk_tokens}" if chunk_tokens else ""
    return f"eval-{slug}-{digest.hexdigest()[:10]}{size}"


def open_store(eval_set: EvalSet, base: Settings, *, collection: str | None = None, embedder=None,
               progress=None) -> tuple[PaperBot, StoreInfo]:
    """base carries data_dir (the work dir) and any chunk size; `collection` points at an existing store instead."""
    name = collection or collection_name(eval_set, base.chunk_tokens)
    bot = PaperBot(base.model_copy(update={"collection": name}), embedder=embedder)
    stored = {p.id for p in bot.papers()}
    started = time.perf_counter()
    added = 0
    reused = eval_set.paper_ids is not None and stored == set(eval_set.paper_ids)
    if not reused:
        if collection and eval_set.paper_ids is not None and stored and not stored <= set(eval_set.paper_ids):
            extra = sorted(stored - set(eval_set.paper_ids))
            raise PaperbotError(
                f"collection {name!r} holds {len(extra)} papers that are not in the {eval_set.name} corpus "
                f"(e.g. {extra[0]!r}); they would change the metrics. Use another --collection or none"
            )
        report = bot.ingest(eval_set.corpus, progress=progress)  # idempotent: unchanged papers are not re-embedded
        added = len(report.added) + len(report.updated)
        reused = added == 0
    seconds = time.perf_counter() - started
    stats = bot.stats()
    missing = sorted({pid for item in eval_set.items for pid in item.gold} - {p.id for p in bot.papers()})
    if missing:
        raise PaperbotError(
            f"gold paper {missing[0]!r} of the {eval_set.name} set is not in collection {name!r} after ingesting "
            f"{', '.join(map(str, eval_set.corpus))}; gold ids must be paperbot paper ids (`paperbot papers` lists them)"
        )
    info = StoreInfo(name, str(base.data_dir), stats.papers, stats.chunks, stats.chunker, reused,
                     round(seconds, 2), added)
    return bot, info
