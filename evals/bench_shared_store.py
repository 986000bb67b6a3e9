"""Several processes, one store (not in CI): what a reader's data dir pays to follow another's ingests on a Chroma
server: the poll when nothing changed, and catching its catalog and BM25 index up with 100 new papers, against
rebuilding both from Chroma (the only way before the shared change log).

    chroma run --host 127.0.0.1 --port 8160 --path /tmp/bench-chroma &
    python -m evals.bench_shared_store --chroma-url http://127.0.0.1:8160 --base 5000 --rounds 5

SciFact abstracts, one chunk each, with placeholder vectors (random unit vectors: catching up never embeds, so
the model is left out); the writer writes Chroma, its catalog and the shared log as an ingest does.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from evals.bench import git_revision
from evals.datasets import read_corpus
from paperbot.ingest.rebuild import LOG_MARKER, catch_up, rebuild_catalog
from paperbot.store.catalog import Catalog
from paperbot.store.changes import ChangeLog
from paperbot.store.lexical import LexicalIndex
from paperbot.store.vectors import VectorStore, connect
from paperbot.types import Chunk, Paper

OUT = Path(__file__).parent / "results"


def _papers(docs: list[dict]) -> list[Paper]:
    return [Paper(id=f"scifact:{d['_id']}", title=d["title"] or d["text"][:60], abstract=d["text"]) for d in docs]


class Writer:
    """Writes as an ingest does: Chroma, then its catalog, then one log record per batch."""

    def __init__(self, vectors: VectorStore, catalog: Catalog, log: ChangeLog) -> None:
        self.vectors, self.catalog, self.log = vectors, catalog, log
        self.rng = np.random.default_rng(0)

    def write(self, papers: list[Paper], batch: int = 256) -> None:
        for start in range(0, len(papers), batch):
            part = papers[start : start + batch]
            chunks = [Chunk(id=f"{p.id}#0", paper_id=p.id, title=p.title, index=0, text=p.abstract, char_start=0,
                            char_end=len(p.abstract), embed_tokens=0, tiktoken_tokens=0) for p in part]
            hashes = {p.id: hashlib.sha256(p.abstract.encode()).hexdigest()[:32] for p in part}
            vectors = self.rng.standard_normal((len(chunks), 384)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            self.vectors.upsert(chunks, vectors, {p.id: (p, hashes[p.id]) for p in part})
            self.catalog.write([(p, hashes[p.id], [c]) for p, c in zip(part, chunks)])
            generation = self.log.append([p.id for p in part], "bench-writer", "bench")
            self.catalog.set_meta(LOG_MARKER, f"{self.log.epoch}:{generation}")


def _dirty() -> bool:
    import subprocess

    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True,
                            check=False)
    return bool(status.stdout.strip())


def _median_ms(values: list[float]) -> float:
    return round(statistics.median(values) * 1e3, 2)


def run(args: argparse.Namespace) -> dict:
    docs = read_corpus(args.datasets / "scifact" / "corpus.jsonl")
    papers = _papers(docs)
    needed = args.base + args.rounds * 100
    if len(papers) < needed:
        raise SystemExit(f"SciFact has {len(papers)} abstracts; --base + 100 x --rounds must not exceed it")
    base, new = papers[: args.base], papers[args.base : needed]
    load = os.getloadavg()[0]
    client, location = connect(args.chroma_url, Path("unused"))
    name = f"bench-shared-{int(time.time())}"
    vectors = VectorStore(client, name, embedder_id="placeholder", chunker_version="one-chunk", location=location)
    log = ChangeLog(client, name, location)
    with tempfile.TemporaryDirectory(prefix="bench-shared-") as folder:
        root = Path(folder)
        writer = Writer(vectors, Catalog(root / "writer.sqlite3"), log)
        started = time.perf_counter()
        writer.write(base)
        base_write_s = time.perf_counter() - started

        reader_catalog = Catalog(root / "reader.sqlite3")
        lexical = LexicalIndex(root / "reader.bm25", reader_catalog, title_weight=2.0)
        started = time.perf_counter()
        first = catch_up(vectors, reader_catalog, log)  # a new data dir: built whole from Chroma
        lexical.refresh()
        first_s = time.perf_counter() - started
        assert first.rebuilt and first.papers == args.base

        polls = []
        for _ in range(args.polls):
            started = time.perf_counter()
            log.since(first.generation)
            polls.append(time.perf_counter() - started)
        generation_reads = []
        for _ in range(args.polls):
            started = time.perf_counter()
            reader_catalog.generation  # noqa: B018 - what an embedded reader reads per poll
            generation_reads.append(time.perf_counter() - started)

        rounds = []
        for number in range(args.rounds):
            batch = new[number * 100 : (number + 1) * 100]
            writer.write(batch)
            ids = [p.id for p in batch]
            started = time.perf_counter()
            result = catch_up(vectors, reader_catalog, log)
            caught = time.perf_counter() - started
            started = time.perf_counter()
            lexical.refresh()
            bm25 = time.perf_counter() - started
            started = time.perf_counter()
            vectors.stored_chunks_of(ids)  # the fetch alone, timed again after the catch-up that included it
            fetch = time.perf_counter() - started
            assert result.papers == 100 and not result.rebuilt
            assert lexical.search(batch[0].abstract[:200], 5)[0][0].startswith(batch[0].id)
            rounds.append({"catch_up_s": caught, "fetch_s": fetch, "bm25_s": bm25})

        total = len(base) + len(new)
        started = time.perf_counter()
        rebuild_catalog(vectors, reader_catalog, log)
        lexical.rebuild()
        rebuild_s = time.perf_counter() - started
        client.delete_collection(name)
        client.delete_collection(log.name)

    beyond = [r["catch_up_s"] - r["fetch_s"] + r["bm25_s"] for r in rounds]
    whole = [r["catch_up_s"] + r["bm25_s"] for r in rounds]
    return {
        "command": f"python -m evals.bench_shared_store --chroma-url {args.chroma_url} --base {args.base} "
                   f"--rounds {args.rounds} "
                   f"--polls {args.polls}",
        "commit": git_revision() + (" + uncommitted changes" if _dirty() else ""), "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, load average {load:.1f} at the start",
        "base_papers": args.base, "papers_at_the_end": total,
        "base_write_s": round(base_write_s, 1),
        "new_data_dir_first_catch_up_s": round(first_s, 2),
        "poll_nothing_new_ms_median": _median_ms(polls),
        "poll_nothing_new_ms_p95": round(float(np.percentile(polls, 95)) * 1e3, 2),
        "embedded_generation_read_us_median": round(statistics.median(generation_reads) * 1e6, 1),
        "catch_up_100_papers_s_median": round(statistics.median(whole), 3),
        "fetch_from_chroma_100_papers_s_median": round(statistics.median(r["fetch_s"] for r in rounds), 3),
        "catch_up_beyond_fetch_s_median": round(statistics.median(beyond), 3),
        "rounds": [{k: round(v, 3) for k, v in r.items()} for r in rounds],
        "full_rebuild_from_chroma_s": round(rebuild_s, 2),
    }


def render(result: dict) -> str:
    r = result
    return f"""# Several processes, one store: following another data dir's ingests

Command: `{r['command']}` (against `chroma run --host 127.0.0.1 --port 8160` on this machine), commit {r['commit']}, {r['date']}.
Machine: {r['machine']}; the machine is shared with other engineers' jobs, so the figures are indicative
(ratios measured in the same run hold better than absolute times).

A writer data dir writes {r['base_papers']} SciFact abstracts (one chunk each, placeholder vectors), then
{len(r['rounds'])} rounds of 100 new ones; a reader data dir catches its catalog and BM25 index up after each round.

| what | time |
|---|---|
| reader's poll, nothing new (one `get` on the log collection), median / p95 | {r['poll_nothing_new_ms_median']} ms / {r['poll_nothing_new_ms_p95']} ms |
| embedded store's poll (catalog generation read), median | {r['embedded_generation_read_us_median']} µs |
| catch-up of 100 new papers (log, fetch, catalog, BM25), median | {r['catch_up_100_papers_s_median']} s |
| of which fetching their chunks from Chroma, median | {r['fetch_from_chroma_100_papers_s_median']} s |
| catch-up beyond the fetch (catalog write + BM25 segment), median | {r['catch_up_beyond_fetch_s_median']} s |
| rebuilding catalog + BM25 from Chroma instead ({r['papers_at_the_end']} papers) | {r['full_rebuild_from_chroma_s']} s |
| a new data dir's first catch-up (a whole build, {r['base_papers']} papers) | {r['new_data_dir_first_catch_up_s']} s |

Per round: {json.dumps(r['rounds'])}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chroma-url", required=True)
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--base", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--polls", type=int, default=200)
    parser.add_argument("--out", type=Path, default=OUT / "shared-store")
    args = parser.parse_args()
    result = run(args)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(render(result))
    print(render(result))


if __name__ == "__main__":
    main()
