"""Scale benchmark (not in CI): ingest and hybrid query latency, peak memory and BM25 rebuild cost at 5k, 50k and
200k chunks, embedded Chroma and a Chroma server side by side, against Chroma's dense-only query in the same run.

    python -m evals.scale prepare --datasets ../shared/datasets --corpus ../shared/corpus/inference-cost-papers.txt
    python -m evals.scale run --datasets ../shared/datasets --corpus ../shared/corpus/inference-cost-papers.txt

`prepare` embeds the real corpora once (reusing vectors already stored in --source-collection when their chunk
texts match) and caches them under --work-dir. `run` builds each store through the real pipeline
(PaperBot.ingest_papers: chunking, Chroma writes, SQLite catalog, BM25 index), replaying the cached vectors for
real chunks and noisy copies of them for synthetic chunks (see evals/synthetic.py); queries use the real model.
Every (size, store) step runs in fresh processes, so memory peaks are its own, under the benchmark lock.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import platform
import resource
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from evals.beir import load_split
from evals.bench import git_revision, percentile
from evals.replay import EmbeddingTable, ReplayEmbedder
from evals.synthetic import papers_for_chunks, real_papers
from paperbot import PaperBot, Settings
from paperbot.types import Chunk

LOCK = Path("/tmp/paperbot-bench.lock")
COLLECTION = "scale"
COMMAND = ("python -m evals.scale run --datasets ../shared/datasets "
           "--corpus ../shared/corpus/inference-cost-papers.txt")


# --- prepare: real vectors, once ---------------------------------------------------------------------------------
def prepare(args: argparse.Namespace) -> None:
    """Chunk the real corpora and cache a vector per chunk: stored ones where the text matches, else embedded.

    Embedding saves a checkpoint every few batches; a paper enters the table only once all its chunks have
    vectors, so the run can start from a partial cache (it then uses fewer real papers, and says so).
    """
    bot = PaperBot(Settings(data_dir=args.work_dir.resolve() / "prep", collection="scale-prep"))
    papers = real_papers(args.datasets, args.corpus)
    stored: dict[str, tuple[str, np.ndarray]] = {}
    for name in args.source_collection:
        source = PaperBot(Settings(data_dir=args.source_data_dir.resolve(), collection=name))
        for ids, docs, vectors in source.vectors.iter_embeddings():
            stored.update({cid: (doc, vec) for cid, doc, vec in zip(ids, docs, vectors)})
        print(f"{len(stored)} stored vectors after {name}", flush=True)
    cached: dict[str, np.ndarray] = {}
    if (args.work_dir / "real-chunks.json").exists():  # an earlier, interrupted prepare: keep what it embedded
        earlier = EmbeddingTable.load(args.work_dir)
        cached = dict(zip(earlier.texts, earlier.vectors))
    texts: list[str] = []
    source_of_row: list[str] = []
    rows: dict[str, int] = {}
    paper_rows: dict[str, list[int]] = {}
    have: set[int] = set()
    reused: dict[int, np.ndarray] = {}
    for start in range(0, len(papers), 512):
        for paper, chunks in zip(papers[start:start + 512], bot.chunker.chunk_many(papers[start:start + 512])):
            mine = paper_rows.setdefault(paper.id, [])
            for chunk in chunks:
                if chunk.embed_text not in rows:
                    rows[chunk.embed_text] = len(texts)
                    texts.append(chunk.embed_text)
                    source_of_row.append(paper.id.split(":", 1)[0])
                    # Stored ids may lack our source prefix; a vector is reused only for the very same text.
                    old = stored.get(chunk.id) or stored.get(chunk.id.split(":", 1)[-1])
                    if old is not None and old[0] == chunk.text:
                        reused[rows[chunk.embed_text]] = old[1]
                    elif chunk.embed_text in cached:
                        reused[rows[chunk.embed_text]] = cached[chunk.embed_text]
                mine.append(rows[chunk.embed_text])
    vectors = np.zeros((len(texts), 384), dtype=np.float32)
    for row, vector in reused.items():
        vectors[row] = vector
    have.update(reused)
    # Smallest corpora first, so an interrupted run still covers as many sources as possible.
    order = {"pmid": 0, "tldr": 2}
    todo = sorted((i for i in range(len(texts)) if i not in have), key=lambda i: order.get(source_of_row[i], 1))
    print(f"{len(papers)} real papers, {len(texts)} distinct chunks, {len(reused)} vectors reused, "
          f"{len(todo)} to embed", flush=True)

    def save() -> None:
        complete = {pid: rs for pid, rs in paper_rows.items() if rs and all(r in have for r in rs)}
        keep = sorted({r for rs in complete.values() for r in rs})
        EmbeddingTable([texts[r] for r in keep], vectors[keep], {pid: len(rs) for pid, rs in complete.items()}
                       ).save(args.work_dir)
        print(f"saved {len(keep)} chunks of {len(complete)} complete papers", flush=True)

    started = time.perf_counter()
    for number, start in enumerate(range(0, len(todo), 128), 1):
        part = todo[start:start + 128]
        vectors[part] = bot.embedder.embed([texts[i] for i in part])
        have.update(part)
        done = start + len(part)
        print(f"embedded {done}/{len(todo)} ({done / (time.perf_counter() - started):.1f} chunks/s)", flush=True)
        if number % 4 == 0:
            save()
    save()


# --- one step, in child processes ------------------------------------------------------------------------------
def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def _settings(spec: dict) -> Settings:
    return Settings(data_dir=Path(spec["data_dir"]), collection=COLLECTION, chroma_url=spec.get("chroma_url"))


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")


class CopyChunker:
    """The real chunker for real papers; a synthetic copy is cut, at regex sentence ends, into as many chunks as
    its source paper has (token counts estimated): the real chunker's tokenizer and sentence splitter were most
    of the CPU of filling a 200k store on a shared 2-core machine, and a copy's exact cut points matter to
    nothing measured (its vector is its source chunk's plus noise either way)."""

    def __init__(self, real, chunk_counts: dict[str, int]) -> None:
        self._real = real
        self._counts = chunk_counts
        self.max_tokens = real.max_tokens
        self.copies = 0

    def chunk_many(self, papers):
        real = [p for p in papers if not p.id.startswith("synthetic-")]
        done = iter(self._real.chunk_many(real)) if real else iter(())
        return [next(done) if not p.id.startswith("synthetic-") else self._copy(p) for p in papers]

    def chunk(self, paper):
        return self.chunk_many([paper])[0]

    def _copy(self, paper) -> list[Chunk]:
        self.copies += 1
        text = paper.abstract
        wanted = self._counts.get(paper.id.split(":", 1)[1], 1)
        ends = [m.start() for m in _SENTENCE_END.finditer(text)] + [len(text)]
        cuts, start = [], 0
        for i in range(1, wanted):
            goal = len(text) * i // wanted
            end = min(ends, key=lambda e: abs(e - goal))
            if start < end < len(text):
                cuts.append((start, end))
                start = _SENTENCE_END.match(text, end).end() if _SENTENCE_END.match(text, end) else end
        cuts.append((start, len(text)))
        title = paper.title[:200]
        return [Chunk(f"{paper.id}#{i}", paper.id, title, i, text[a:b].strip(), a, b,
                      int(1.4 * len(text[a:b].split())) + 20, int(1.3 * len(text[a:b].split())) + 10)
                for i, (a, b) in enumerate(cuts)]


def child_ingest(spec: dict) -> dict:
    table = EmbeddingTable.load(Path(spec["work_dir"]))
    # Only real papers whose every chunk has a cached vector (see prepare); the report says how many.
    papers = [p for p in real_papers(Path(spec["datasets"]), Path(spec["corpus"])) if p.id in table.chunk_counts]
    settings = _settings(spec)
    embedder = ReplayEmbedder(PaperBot(settings).embedder, table)
    bot = PaperBot(settings, embedder=embedder)
    if spec.get("copy_chunker"):
        bot.__dict__["chunker"] = CopyChunker(bot.chunker, table.chunk_counts)  # the facade's cached property
    stream = papers_for_chunks(papers, table.chunk_counts, spec["size"])
    del papers  # the stream keeps its own order list; nothing else holds the real papers
    rss_before = _rss_mb()
    started = time.perf_counter()
    report = bot.ingest_papers(stream)
    seconds = time.perf_counter() - started
    # The stream for a size starts with the stream for every smaller size, so a grown store holds all of it.
    synthetic = sum(1 for pid in report.added + report.unchanged if pid.startswith("synthetic-"))
    return {
        "papers": report.papers_seen, "real_papers": report.papers_seen - synthetic, "synthetic_papers": synthetic,
        "papers_added": len(report.added), "chunks_added": report.chunks_written, "chunks": bot.vectors.count(),
        "ingest_seconds": round(seconds, 1), "chunks_per_s": round(report.chunks_written / seconds, 1),
        "catalog_chunks": bot.catalog.counts()[1], "bm25_chunks": len(bot.lexical.chunk_ids()),
        "rss_before_mb": round(rss_before, 1), "peak_rss_mb": round(_peak_rss_mb(), 1),
        "vectors_replayed": embedder.replayed, "vectors_synthetic": embedder.synthetic,
        "vectors_from_model": embedder.fallbacks,
        "copies_chunked_by_regex": getattr(bot.chunker, "copies", None),
    }


def child_query(spec: dict) -> dict:
    bot = PaperBot(_settings(spec))
    bot.catalog  # noqa: B018 - opened before the baseline, so the figure below is the rebuild's alone
    rss_before = _rss_mb()
    rebuild = rebuild_peak = None
    if spec.get("rebuild", True):
        started = time.perf_counter()
        bot.rebuild_lexical_index()
        rebuild = time.perf_counter() - started
        rebuild_peak = _peak_rss_mb()
    else:
        bot.refresh_lexical_index()  # the ingest's own index (caught up if the ingest was cut short), loaded
    queries = list(load_split(Path(spec["datasets"]) / "scifact", "train").queries.values())[: spec["queries"] + 1]
    embedder, vectors, k = bot.embedder, bot.vectors, 10
    bot.search(queries[0], k=k)  # loads the ONNX session and warms caches: excluded
    vectors.query(embedder.embed([queries[0]])[0], k)
    hybrid, dense, dense_search, parts = [], [], [], {"embed_ms": [], "dense_ms": [], "lexical_ms": [], "fuse_ms": []}
    for i, query in enumerate(queries[1:]):
        # Alternating which goes first, so neither always meets the other's warm caches.
        for which in (("h", "d") if i % 2 == 0 else ("d", "h")):
            t0 = time.perf_counter()
            if which == "h":
                timings = bot.search_timed(query, k=k).timings
                hybrid.append((time.perf_counter() - t0) * 1e3)
                for name, values in parts.items():
                    values.append(getattr(timings, name))
            else:
                vector = embedder.embed([query])[0]
                t1 = time.perf_counter()
                vectors.query(vector, k)
                dense.append((time.perf_counter() - t0) * 1e3)
                dense_search.append((time.perf_counter() - t1) * 1e3)
    search = [h - e for h, e in zip(hybrid, parts["embed_ms"])]
    return {
        "bm25_rebuild_seconds": None if rebuild is None else round(rebuild, 1),
        "bm25_rebuild_rss_before_mb": round(rss_before, 1),
        "bm25_rebuild_peak_rss_mb": None if rebuild_peak is None else round(rebuild_peak, 1),
        "lexical_chunks": len(bot.lexical.chunk_ids()), "lexical_segments": len(bot.lexical._view.parts),
        "load_average": os.getloadavg()[0],
        "queries_timed": len(hybrid),
        "hybrid_p50_ms": round(percentile(hybrid, 50), 2), "hybrid_p95_ms": round(percentile(hybrid, 95), 2),
        "dense_p50_ms": round(percentile(dense, 50), 2), "dense_p95_ms": round(percentile(dense, 95), 2),
        "hybrid_over_dense_p95": round(percentile(hybrid, 95) / percentile(dense, 95), 2),
        "search_p50_ms": round(percentile(search, 50), 2), "search_p95_ms": round(percentile(search, 95), 2),
        "dense_search_p50_ms": round(percentile(dense_search, 50), 2),
        "dense_search_p95_ms": round(percentile(dense_search, 95), 2),
        "hybrid_parts_p50_ms": {name: round(percentile(v, 50), 2) for name, v in parts.items()},
        "hybrid_parts_p95_ms": {name: round(percentile(v, 95), 2) for name, v in parts.items()},
    }


# --- orchestration ---------------------------------------------------------------------------------------------
def _take_lock() -> None:
    while True:
        try:
            fd = os.open(LOCK, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            print(f"waiting for {LOCK} ({LOCK.read_text().strip() if LOCK.exists() else '?'})", flush=True)
            time.sleep(20)
            continue
        os.write(fd, b"B (evals.scale)\n")
        os.close(fd)
        return


def _release_lock() -> None:
    if LOCK.exists() and LOCK.read_text().startswith("B "):
        LOCK.unlink()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(folder: Path) -> tuple[subprocess.Popen, str]:
    beside_python = Path(sys.executable).parent / "chroma"
    chroma = str(beside_python) if beside_python.exists() else shutil.which("chroma")
    if chroma is None:
        raise SystemExit("the `chroma` command (from the chromadb package) is not on PATH")
    port = _free_port()
    log = (folder / "server.log").open("w")
    process = subprocess.Popen([chroma, "run", "--host", "127.0.0.1", "--port", str(port), "--path",
                                str(folder / "server-data")], stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"chroma run exited with {process.returncode}; see {folder / 'server.log'}")
        try:
            urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2).read()
            return process, url
        except OSError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("chroma run did not listen within 60 s")


def _server_peak_mb(pid: int) -> float:
    """VmHWM (peak resident set) of the server process and any children it started."""
    total = 0.0
    pids = [pid] + [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1]) / 1024
    return round(total, 1)


def _child(phase: str, spec: dict) -> dict:
    result = subprocess.run([sys.executable, "-m", "evals.scale", f"_{phase}", json.dumps(spec)],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{phase} step failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def run_step(args: argparse.Namespace, size: int, store: str, fresh: bool) -> dict:
    """Grow the store of this kind to `size` chunks (a fresh one for the first size), then time queries."""
    folder = args.work_dir.resolve() / f"run-{store}"
    if fresh and not args.grow:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    spec = {"size": size, "data_dir": str(folder / "data"), "work_dir": str(args.work_dir.resolve()),
            "datasets": str(args.datasets.resolve()), "corpus": str(args.corpus.resolve()), "queries": args.queries,
            "rebuild": not args.no_rebuild, "copy_chunker": args.copy_chunker}
    server = None
    try:
        if store == "server":
            server, spec["chroma_url"] = _start_server(folder)
        entry = {"size_target": size, "store": store, **_child("ingest", spec)}
        print(json.dumps(entry), flush=True)
        entry.update(_child("query", spec))
        if server is not None:
            entry["server_peak_rss_mb"] = _server_peak_mb(server.pid)
        return entry
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=60)
        if size == max(args.sizes) and not args.keep_stores:
            shutil.rmtree(folder, ignore_errors=True)


def run(args: argparse.Namespace) -> None:
    out_json = args.out.with_suffix(".json")
    results = json.loads(out_json.read_text()) if args.resume and out_json.exists() else {"steps": []}
    results.update({
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "git": git_revision(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                   f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB RAM, "
                   f"python {platform.python_version()}",
        "queries": args.queries, "real_chunks": len(EmbeddingTable.load(args.work_dir).texts),
    })
    planned = {(size, store) for size, store in map(tuple, results.get("planned", []))}
    results["planned"] = sorted(planned | {(size, store) for size in args.sizes for store in args.stores})
    done = {(s["size_target"], s["store"]) for s in results["steps"]}
    # Each store kind grows through the sizes in order (the lock is released between steps); a resumed run
    # continues from the store the last finished step left.
    for store in args.stores:
        for number, size in enumerate(sorted(args.sizes)):
            if (size, store) in done:
                continue
            _take_lock()
            try:
                entry = run_step(args, size, store, fresh=number == 0)
            finally:
                _release_lock()
            print(json.dumps(entry), flush=True)
            results["steps"] = [s for s in results["steps"] if (s["size_target"], s["store"]) != (size, store)]
            results["steps"].append(entry)
            results["steps"].sort(key=lambda s: (s["size_target"], s["store"]))
            args.out.parent.mkdir(parents=True, exist_ok=True)
            out_json.write_text(json.dumps(results, indent=2))
            args.out.write_text(render(results))
    print(f"wrote {args.out}")


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def render(results: dict) -> str:
    lines = [
        "# Scale benchmark", "",
        (f"Run {results['when']} at git {results['git']} (plus the uncommitted work of the engineers sharing the "
         f"tree) on {results['machine']}, shared with other jobs (the benchmark lock kept other benchmarks off, "
         "not test runs). Not part of CI."), "",
        (f"Command: `{COMMAND}`, after `python -m evals.scale prepare` with the same arguments (embeds the real "
         "corpora once, reusing vectors already stored in `bench-data`)."), "",
        ("**Which rows are synthetic.** Real papers come first: those of SciFact (5,183 abstracts), PubMedQA dev "
         "(500), SciTLDR train + dev (2,611) and the 115-paper demo corpus whose every chunk has a cached real "
         f"vector ({results['real_chunks']:,} distinct chunks in this run's cache); the 5k store is real papers "
         "only. Above that, stores hold every real paper plus *synthetic copies*: each a real abstract with its "
         "sentences shuffled, about 3% of words dropped and a few adjacent words swapped, id "
         "`synthetic-<n>:<id>`, title `[synthetic n] <title>`. Synthetic chunks are not embedded: each gets the "
         "stored vector of its source chunk plus Gaussian noise (norm 0.35), renormalised. Everything else is "
         "the real pipeline: chunking, Chroma writes, SQLite catalog, BM25 index, through "
         "`PaperBot.ingest_papers` fed by a generator (streamed in windows of 2,048 papers). Queries are real "
         "SciFact claims embedded by the real model."), "",
        ("Each store kind grows through the sizes: a step ingests the papers the previous one did not have "
         "(*added*), in a fresh process whose `ru_maxrss` is the *ingest peak RSS* (the embedded store's HNSW "
         "index lives in it; the server's own peak is its VmHWM). *BM25 rebuild* is a full rebuild of the "
         "lexical index from the catalog in another fresh process (*rebuild peak RSS* is that process's peak); "
         "the same rebuild runs at the end of every ingest and is included in the ingest time."), "",
        (f"Query latency over {results['queries']} claims at k=10, first query excluded. The baseline is "
         "Chroma's dense-only query (query embedding + HNSW search, k=10) timed in the same process, alternating "
         "with the hybrid query. *Without embedding*: the same queries minus the time spent embedding the query "
         "(the part that grows with the store)."), "",
    ]
    lines += _tables(results["steps"])
    done = {(s["size_target"], s["store"]) for s in results["steps"]}
    missing = [f"{size:,} chunks ({store})" for size, store in results.get("planned", []) if (size, store) not in done]
    if missing:
        lines += ["", (f"**Not measured in this run:** {', '.join(missing)}. Continue with the same command "
                       "plus `--resume`.")]
    for later in results.get("later_runs", []):
        lines += ["", f"## {later['title']}", "", later["description"], ""] + _tables(later["steps"])
        lines += [""] + [f"- {note}" for note in later.get("notes", [])]
    if results.get("notes"):
        lines += ["", "## Findings", ""] + [f"- {note}" for note in results["notes"]]
    return "\n".join(lines) + "\n"


def _tables(steps: list[dict]) -> list[str]:
    lines = [("| chunks | papers (synthetic) | store | chunks added | ingest s | chunks/s | ingest peak RSS MB | "
              "server peak RSS MB | BM25 rebuild s | rebuild peak RSS MB | hybrid p50 / p95 ms | dense-only "
              "p50 / p95 ms | hybrid / dense p95 | without embedding: hybrid p50 / p95 | dense-only p50 / p95 |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for s in steps:
        lines.append(
            f"| {s['chunks']:,} | {s['papers']:,} ({s['synthetic_papers']:,}) | {s['store']} | "
            f"{s['chunks_added']:,} | {s['ingest_seconds']} | {s['chunks_per_s']} | {s['peak_rss_mb']:.0f} | "
            f"{s.get('server_peak_rss_mb', '-')} | {s['bm25_rebuild_seconds'] or '-'} | "
            f"{_mb(s['bm25_rebuild_peak_rss_mb'])} | {s['hybrid_p50_ms']} / **{s['hybrid_p95_ms']}** | "
            f"{s['dense_p50_ms']} / {s['dense_p95_ms']} | {s['hybrid_over_dense_p95']} | "
            f"{s['search_p50_ms']} / **{s['search_p95_ms']}** | {s['dense_search_p50_ms']} / "
            f"{s['dense_search_p95_ms']} |")
    lines += ["", "Where hybrid time goes (p50 / p95 ms of each part of `bot.search`):", "",
              ("| chunks | store | query embedding | Chroma dense (100 candidates) | BM25 (100 candidates) | "
               "fusion + catalog |"), "|---|---|---|---|---|---|"]
    for s in steps:
        p50, p95 = s["hybrid_parts_p50_ms"], s["hybrid_parts_p95_ms"]
        cells = " | ".join(f"{p50[n]} / {p95[n]}" for n in ("embed_ms", "dense_ms", "lexical_ms", "fuse_ms"))
        lines.append(f"| {s['chunks']:,} | {s['store']} | {cells} |")
    return lines


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] in ("_ingest", "_query"):
        spec = json.loads(sys.argv[2])
        result = child_ingest(spec) if sys.argv[1] == "_ingest" else child_query(spec)
        print(json.dumps(result), flush=True)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["prepare", "run", "render"])
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--corpus", type=Path, default=Path("../shared/corpus/inference-cost-papers.txt"))
    parser.add_argument("--work-dir", type=Path, default=Path("bench-data/scale"),
                        help="embedding cache and the stores being measured (deleted after each step)")
    parser.add_argument("--source-data-dir", type=Path, default=Path("bench-data"),
                        help="a store whose --source-collection vectors prepare reuses instead of re-embedding")
    parser.add_argument("--source-collection", nargs="*", default=["bench-scifact", "bench-demo"],
                        help="collections in --source-data-dir whose vectors prepare reuses (none: embed all)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 50000, 100000, 200000],
                        help="chunks per store; each step grows the store of the step before")
    parser.add_argument("--stores", nargs="+", choices=["embedded", "server"], default=["embedded", "server"])
    parser.add_argument("--queries", type=int, default=200, help="SciFact claims timed per step")
    parser.add_argument("--resume", action="store_true", help="keep steps already in the JSON, run the rest")
    parser.add_argument("--keep-stores", action="store_true", help="keep the largest stores (deleted by default)")
    parser.add_argument("--grow", action="store_true",
                        help="keep a store left in the work dir (e.g. an interrupted step) and grow it")
    parser.add_argument("--copy-chunker", action="store_true",
                        help="cut synthetic copies at regex sentence ends (CopyChunker) instead of the real chunker")
    parser.add_argument("--no-rebuild", action="store_true",
                        help="skip the full catalog + BM25 rebuild before the queries (the incremental index needs "
                             "none; at 200k it costs minutes)")
    parser.add_argument("--out", type=Path, default=Path("evals/results/scale-bench.md"))
    args = parser.parse_args()
    if args.action == "prepare":
        prepare(args)
    elif args.action == "run":
        run(args)
    else:
        args.out.write_text(render(json.loads(args.out.with_suffix(".json").read_text())))


if __name__ == "__main__":
    main()
