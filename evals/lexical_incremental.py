"""Incremental lexical index benchmark (not in CI): BM25 engines compared at 5k, 50k and 200k chunks, and the
issue-15 acceptance figures (100 new SciFact abstracts into a 200k-chunk store; hybrid nDCG@10 unchanged).

    python -m evals.lexical_incremental engines --sizes 5000 50000 200000
    python -m evals.lexical_incremental store --size 200000          # a 200k-chunk store (placeholder vectors)
    python -m evals.lexical_incremental ingest                       # 100 SciFact abstracts into it, timed
    python -m evals.lexical_incremental scifact-store --vectors W --data-dir D --collection C  # SciFact, no re-embedding
    python -m evals.lexical_incremental ndcg --data-dir D --collection C   # SciFact train, old vs new index
    python -m evals.lexical_incremental render

Engines, each over the same catalog of SciTLDR, PubMedQA and demo abstracts plus synthetic copies of them
(evals/synthetic.py; SciFact is kept out, so its abstracts are new to every store), each chunk's terms from
paperbot.text.terms (stemming and stopwords as in paperbot): *bm25s-full* (the index before this change: one bm25s
index, rebuilt from the whole catalog on every ingest), *segments* (paperbot.store.lexical now), *fts5* (SQLite
FTS5 over the same terms, its own bm25()) and *tantivy* (when importable; its own BM25, k1=1.2). Every engine builds
the index, adds 100 papers (one ingest's worth), and answers SciFact train claims (100 candidates, as hybrid
search asks); agreement is the share of the bm25s-full top-10 each engine returns in its own top-10.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import random
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from evals.bench import git_revision, percentile
from paperbot.types import Chunk, Paper

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9])")
TITLE_REPEATS = 2  # the default title weight


def _machine() -> str:
    return (f"{platform.machine()}, {os.cpu_count()} cores, "
            f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB RAM, "
            f"python {platform.python_version()}, load average {os.getloadavg()[0]:.1f} at the start")


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _queries(datasets: Path, n: int) -> list[str]:
    lines = (datasets / "scifact" / "queries_train.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["text"] for line in lines if line.strip()][:n]


def _base_papers(datasets: Path, corpus: Path) -> list[Paper]:
    from evals.synthetic import real_papers

    return [p for p in real_papers(datasets, corpus) if not p.id.startswith("scifact:")]


def _sentence_starts(text: str) -> list[int]:
    return [0] + [m.end() for m in _SENTENCE_END.finditer(text)]


def _copy(paper: Paper, n: int) -> Paper:
    """Synthetic copy n of a real paper as evals/synthetic.py makes them (sentences shuffled, a few words dropped),
    with a regex sentence split instead of nupunkt: 100k copies must be cheap on a shared 2-core machine."""
    rng = random.Random(f"{n}:{paper.id}")
    starts = _sentence_starts(paper.abstract) + [len(paper.abstract)]
    sentences = [paper.abstract[a:b].strip() for a, b in zip(starts, starts[1:]) if paper.abstract[a:b].strip()]
    rng.shuffle(sentences)
    words = [w for w in " ".join(sentences).split() if rng.random() >= 0.03]
    return replace(paper, id=f"synthetic-{n}:{paper.id}", title=f"[synthetic {n}] {paper.title}",
                   abstract=" ".join(words))


def _two_chunks(paper: Paper) -> list[Chunk]:
    """About two chunks per abstract, cut at a sentence boundary (the real chunker gives 2.0 per paper on these
    corpora, evals/results/scale-bench.md); cheap, so 200k chunks need no tokenizer."""
    starts = _sentence_starts(paper.abstract)
    cut = starts[len(starts) // 2] if len(starts) > 1 else len(paper.abstract)
    pieces = [(0, cut), (cut, len(paper.abstract))] if cut < len(paper.abstract) else [(0, cut)]
    return [Chunk(f"{paper.id}#{i}", paper.id, paper.title, i, paper.abstract[s:e].strip(), s, e, 1, 1)
            for i, (s, e) in enumerate(pieces)]


def _catalog_rows(args, size: int, cache: Path | None = None) -> tuple[list[tuple], list[tuple]]:
    """(base rows of about `size` chunks, rows of 100 new SciFact papers) as (chunk id, paper id, title, text);
    kept in `cache` so every engine of a size reads the same rows without splitting sentences again."""
    if cache is not None and cache.exists():
        base, new = json.loads(cache.read_text())
        return [tuple(r) for r in base], [tuple(r) for r in new]
    from paperbot.ingest.loaders import load_papers

    base = _base_papers(args.datasets, args.corpus)
    random.Random(0).shuffle(base)
    rows: list[tuple] = []
    n = 0
    while len(rows) < size:
        for paper in base:
            if len(rows) >= size:
                break
            rows += [(c.id, c.paper_id, c.title, c.text) for c in _two_chunks(paper if n == 0 else _copy(paper, n))]
        n += 1
    scifact = load_papers([args.datasets / "scifact" / "corpus.jsonl"]).papers
    new = [replace(p, id=f"scifact:{p.id}") for p in scifact if _sha_pick(p.id)][:100]
    out = sorted(rows), sorted((c.id, c.paper_id, c.title, c.text) for p in new for c in _two_chunks(p))
    if cache is not None:
        cache.with_suffix(".tmp").write_text(json.dumps(out))
        cache.with_suffix(".tmp").replace(cache)
    return out


def _sha_pick(pid: str) -> bool:
    return hashlib.sha256(pid.encode()).digest()[0] < 16  # a fixed pseudo-random 1/16 of SciFact


def _documents(rows) -> list[list[str]]:
    from paperbot.text.terms import terms

    return [terms(title) * TITLE_REPEATS + terms(text) for _, _, title, text in rows]


# --- engines -------------------------------------------------------------------------------------------------------
class Bm25sFull:
    """The index before this change: bm25s over every chunk, rebuilt whole on every ingest."""

    name = "bm25s-full"

    def build(self, rows, folder: Path) -> None:
        import bm25s

        self.rows = sorted(rows)
        self.folder = folder
        self.model = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
        self.model.index(_documents(self.rows), show_progress=False)
        shutil.rmtree(folder, ignore_errors=True)
        self.model.save(str(folder), show_progress=False)

    def add(self, rows, folder: Path) -> None:
        self.build(self.rows + list(rows), folder)

    # The add is a full build of everything: child_engine builds once, with the new papers, and reports it as both.
    builds_with_new = True

    def search(self, tokens: list[str], n: int) -> list[str]:
        index, vocab = self.model.scores, self.model.vocab_dict
        scores = np.zeros(index["num_docs"], dtype=np.float32)
        for t in tokens:
            if t in vocab:
                i = vocab[t]
                s, e = index["indptr"][i], index["indptr"][i + 1]
                scores[index["indices"][s:e]] += index["data"][s:e]
        positive = np.flatnonzero(scores > 0)
        top = positive[np.lexsort((positive, -scores[positive]))][:n]
        return [self.rows[d][0] for d in top]


class Segments:
    """paperbot.store.lexical as ingest uses it: catalog writes, then `refresh` (catch up from the change log)."""

    name = "segments"

    def build(self, rows, folder: Path) -> None:
        from paperbot.store.catalog import Catalog
        from paperbot.store.lexical import LexicalIndex

        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self.catalog = Catalog(folder / "catalog.sqlite3")
        self._write(rows)
        self.index = LexicalIndex(folder / "catalog.bm25", self.catalog, title_weight=TITLE_REPEATS)
        self.timed_from, self.cpu_from = time.perf_counter(), time.process_time()  # the catalog write is not
        self.index.rebuild()

    def _write(self, rows) -> None:
        by_paper: dict[str, list] = {}
        for cid, pid, title, text in rows:
            by_paper.setdefault(pid, []).append(Chunk(cid, pid, title, len(by_paper.get(pid, [])), text, 0, len(text),
                                                      1, 1))
        entries = [(Paper(pid, chunks[0].title, " ".join(c.text for c in chunks)), "hash", chunks)
                   for pid, chunks in by_paper.items()]
        for start in range(0, len(entries), 2000):
            self.catalog.write(entries[start:start + 2000])

    def add(self, rows, folder: Path) -> None:
        self._write(rows)  # the catalog write ingest does anyway (timed with the add: it is small)
        self.index.refresh()

    def search(self, tokens: list[str], n: int) -> list[str]:
        from paperbot.store.lexical import _scores, _top

        # The same steps as LexicalIndex.search after its own terms() call (tokens here are already stemmed).
        self.index.ensure_fresh()
        view = self.index._view
        scores = _scores(view, tokens)
        return [] if scores is None else [cid for cid, _ in _top(scores, view.chunk_ids, n)]


class Fts5:
    """SQLite FTS5 over the same stemmed terms (whitespace-joined, so stemming and stopwords match paperbot)."""

    name = "fts5"

    def build(self, rows, folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        self.db = sqlite3.connect(folder / "fts.sqlite3", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE VIRTUAL TABLE f USING fts5(chunk_id UNINDEXED, body, "
                        "tokenize = \"unicode61 remove_diacritics 0 tokenchars '_'\")")
        self.add(rows, folder)

    def add(self, rows, folder: Path) -> None:
        self.db.execute("BEGIN")
        self.db.executemany("INSERT INTO f VALUES (?, ?)",
                            [(r[0], " ".join(d)) for r, d in zip(rows, _documents(rows))])
        self.db.execute("COMMIT")

    def search(self, tokens: list[str], n: int) -> list[str]:
        if not tokens:
            return []
        match = " OR ".join('"' + t.replace('"', '""') + '"' for t in tokens)
        return [r[0] for r in self.db.execute(
            "SELECT chunk_id FROM f WHERE f MATCH ? ORDER BY bm25(f), chunk_id LIMIT ?", (match, n))]


class Tantivy:
    """tantivy (Rust, Lucene-like segments with background merges) over the same stemmed terms."""

    name = "tantivy"

    def build(self, rows, folder: Path) -> None:
        import tantivy

        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        schema = tantivy.SchemaBuilder()
        schema.add_text_field("chunk_id", stored=True, tokenizer_name="raw")
        schema.add_text_field("body", tokenizer_name="whitespace", index_option="freq")
        self.schema = schema.build()
        self.index = tantivy.Index(self.schema, path=str(folder))
        self.add(rows, folder)

    def add(self, rows, folder: Path) -> None:
        import tantivy

        writer = self.index.writer(heap_size=100_000_000, num_threads=1)
        for row, document in zip(rows, _documents(rows)):
            writer.add_document(tantivy.Document(chunk_id=row[0], body=" ".join(document)))
        writer.commit()
        writer.wait_merging_threads()
        self.index.reload()

    def search(self, tokens: list[str], n: int) -> list[str]:
        import tantivy

        if not tokens:
            return []
        searcher = self.index.searcher()
        query = tantivy.Query.boolean_query([(tantivy.Occur.Should, tantivy.Query.term_query(self.schema, "body", t))
                                             for t in tokens])
        return [searcher.doc(address)["chunk_id"][0] for _, address in searcher.search(query, n).hits]


ENGINES = {e.name: e for e in (Bm25sFull, Segments, Fts5, Tantivy)}


def _folder_mb(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20, 1)


def child_engine(spec: dict) -> dict:
    """One engine at one size in a fresh process: build, add 100 papers, query; rankings saved for agreement."""
    from paperbot.text.terms import terms

    args = argparse.Namespace(datasets=Path(spec["datasets"]), corpus=Path(spec["corpus"]))
    rows, new = _catalog_rows(args, spec["size"], Path(spec["work_dir"]) / f"rows-{spec['size']}.json")
    engine = ENGINES[spec["engine"]]()
    folder = Path(spec["work_dir"]) / f"{spec['engine']}-{spec['size']}"
    gc.collect()
    rss = _rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    if getattr(engine, "builds_with_new", False):
        engine.build(rows + new, folder)
        build = add = time.perf_counter() - started
        build_cpu = add_cpu = time.process_time() - cpu
    else:
        engine.build(rows, folder)
        build = time.perf_counter() - getattr(engine, "timed_from", started)
        build_cpu = time.process_time() - getattr(engine, "cpu_from", cpu)
        started, cpu = time.perf_counter(), time.process_time()
        engine.add(new, folder)
        add, add_cpu = time.perf_counter() - started, time.process_time() - cpu
    build_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queries = [list(dict.fromkeys(terms(q))) for q in _queries(args.datasets, spec["queries"] + 1)]
    engine.search(queries[0], 100)  # warm-up, excluded
    times, cpu_times, rankings = [], [], []
    for tokens in queries[1:]:
        t0, c0 = time.perf_counter(), time.process_time()
        ranking = engine.search(tokens, 100)
        times.append((time.perf_counter() - t0) * 1e3)
        cpu_times.append((time.process_time() - c0) * 1e3)
        rankings.append(ranking[:10])
    (Path(spec["work_dir"]) / f"rankings-{spec['engine']}-{spec['size']}.json").write_text(json.dumps(rankings))
    return {"engine": spec["engine"], "size_target": spec["size"], "chunks": len(rows) + len(new),
            "added_chunks": len(new), "build_s": round(build, 2), "add_100_papers_s": round(add, 3),
            "peak_rss_mb": round(build_peak, 0), "rss_before_mb": round(rss, 0), "disk_mb": _folder_mb(folder),
            "query_p50_ms": round(percentile(times, 50), 2), "query_p95_ms": round(percentile(times, 95), 2),
            "build_cpu_s": round(build_cpu, 2), "add_cpu_s": round(add_cpu, 3),
            "query_cpu_p50_ms": round(percentile(cpu_times, 50), 2),
            "query_cpu_p95_ms": round(percentile(cpu_times, 95), 2), "queries": len(times)}


def _child(phase: str, spec: dict) -> dict:
    result = subprocess.run([sys.executable, "-m", "evals.lexical_incremental", f"_{phase}", json.dumps(spec)],
                            capture_output=True, text=True, check=False, env=os.environ)
    if result.returncode != 0:
        raise SystemExit(f"{phase} {spec.get('engine', '')} failed:\n{result.stderr[-4000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def _results(args) -> dict:
    path = args.out.with_suffix(".json")
    return json.loads(path.read_text()) if path.exists() else {}


def _save(args, results: dict) -> None:
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    args.out.write_text(render(results))


def engines(args) -> None:
    work = args.work_dir.resolve() / "engines"
    work.mkdir(parents=True, exist_ok=True)
    results = _results(args)
    steps = [s for s in results.get("engines", []) if (s["engine"], s["size_target"]) not in
             {(e, z) for e in args.engines for z in args.sizes}]
    results["engines_run"] = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "git": git_revision(),
                              "machine": _machine(), "command": " ".join(["python -m evals.lexical_incremental"]
                                                                          + sys.argv[1:])}
    for size in args.sizes:
        for engine in args.engines:
            spec = {"engine": engine, "size": size, "work_dir": str(work), "datasets": str(args.datasets.resolve()),
                    "corpus": str(args.corpus.resolve()), "queries": args.queries}
            step = _child("engine", spec)
            reference = work / f"rankings-bm25s-full-{size}.json"
            if reference.exists():
                ref = json.loads(reference.read_text())
                ours = json.loads((work / f"rankings-{engine}-{size}.json").read_text())
                step["top10_agreement"] = round(float(np.mean([len(set(a) & set(b)) / len(b) if b else float(not a)
                                                               for a, b in zip(ours, ref)])), 4)
                step["top10_identical_share"] = round(float(np.mean([a == b for a, b in zip(ours, ref)])), 4)
            print(json.dumps(step), flush=True)
            steps.append(step)
            if not (args.keep_stores and engine == "segments"):
                shutil.rmtree(work / f"{engine}-{size}", ignore_errors=True)
            results["engines"] = steps
            _save(args, results)


def finish(args) -> None:
    """Merge engine steps from other runs' JSON (--merge; e.g. a size run on its own), fill in agreement with the
    bm25s-full rankings of the same size, and render."""
    results = _results(args)
    steps = {(s["engine"], s["size_target"]): s for s in results.get("engines", [])}
    for path in args.merge:
        other = json.loads(path.read_text())
        steps.update({(s["engine"], s["size_target"]): s for s in other.get("engines", [])})
        results.setdefault("engines_other_runs", []).append(other["engines_run"])
    work = args.work_dir.resolve() / "engines"
    for (engine, size), step in steps.items():
        reference, ours = work / f"rankings-bm25s-full-{size}.json", work / f"rankings-{engine}-{size}.json"
        if reference.exists() and ours.exists():
            ref, got = json.loads(reference.read_text()), json.loads(ours.read_text())
            step["top10_agreement"] = round(float(np.mean([len(set(a) & set(b)) / len(b) if b else float(not a)
                                                           for a, b in zip(got, ref)])), 4)
            step["top10_identical_share"] = round(float(np.mean([a == b for a, b in zip(got, ref)])), 4)
    results["engines"] = list(steps.values())
    _save(args, results)


# --- the acceptance store and ingest -----------------------------------------------------------------------------
class TimedEmbedder:
    """The real embedder, with the seconds spent in `embed` added up (what "beyond embedding" subtracts)."""

    def __init__(self, real) -> None:
        self._real = real
        self.seconds = 0.0
        self.cpu_seconds = 0.0
        self.texts = 0

    id = property(lambda self: self._real.id)
    max_tokens = property(lambda self: self._real.max_tokens)
    special_tokens = property(lambda self: self._real.special_tokens)

    def count_tokens(self, texts):
        return self._real.count_tokens(texts)

    def embed(self, texts):
        started, cpu = time.perf_counter(), time.process_time()
        try:
            return self._real.embed(texts)
        finally:
            self.seconds += time.perf_counter() - started
            self.cpu_seconds += time.process_time() - cpu
            self.texts += len(texts)


def _store_settings(args):
    """The acceptance store: --data-dir / --collection (e.g. the kept 200k segments engine folder, collection
    "catalog"), else the one `store` builds."""
    from paperbot import Settings

    if args.data_dir is not None:
        return Settings(data_dir=args.data_dir.resolve(), collection=args.collection)
    return Settings(data_dir=args.work_dir.resolve() / "store", collection="lexical-200k")


def store(args) -> None:
    """The acceptance store: a catalog of about --size chunks (the engines' rows, written directly) and its BM25
    index; Chroma starts empty (filling its HNSW index with 200k vectors is out of reach on this shared machine,
    so the dense side of an ingest is measured on a small collection: see the report's notes)."""
    from paperbot import PaperBot

    rows, _ = _catalog_rows(args, args.size, args.work_dir.resolve() / "engines" / f"rows-{args.size}.json")
    bot = PaperBot(_store_settings(args))
    by_paper: dict[str, list[Chunk]] = {}
    for cid, pid, title, text in rows:
        chunks = by_paper.setdefault(pid, [])
        chunks.append(Chunk(cid, pid, title, len(chunks), text, 0, len(text), 1, 1))
    entries = [(Paper(pid, chunks[0].title, " ".join(c.text for c in chunks)), "synthetic", chunks)
               for pid, chunks in by_paper.items()]
    for start in range(0, len(entries), 2000):
        bot.catalog.write(entries[start:start + 2000])
    started = time.perf_counter()
    bot.lexical.rebuild()
    print(json.dumps({"papers": len(entries), "chunks": bot.catalog.counts()[1],
                      "bm25_build_s": round(time.perf_counter() - started, 1)}), flush=True)


def replicate(args) -> None:
    """A store of about --size chunks within minutes on a loaded machine: the 5k engine rows (real abstracts, cached
    by `engines`) copied under new ids (`copy-<n>:`) into the catalog, and its BM25 index made by merging renamed
    copies of one segment (segments.merge; the text is stemmed once). Term statistics are those of the 5k rows
    repeated: like evals/synthetic.py's copies without their dropped and shuffled words."""
    from paperbot import PaperBot
    from paperbot.store import segments

    base, _ = _catalog_rows(args, 5000, args.work_dir.resolve() / "engines" / "rows-5000.json")
    copies = -(-args.size // len(base))
    bot = PaperBot(_store_settings(args))
    started = time.perf_counter()
    for n in range(copies):
        by_paper: dict[str, list[Chunk]] = {}
        for cid, pid, title, text in base:
            chunks = by_paper.setdefault(f"copy-{n}:{pid}", [])
            chunks.append(Chunk(f"copy-{n}:{cid}", f"copy-{n}:{pid}", title, len(chunks), text, 0, len(text), 1, 1))
        bot.catalog.write([(Paper(pid, chunks[0].title, " ".join(c.text for c in chunks)), "copy", chunks)
                           for pid, chunks in by_paper.items()])
    catalog_s = time.perf_counter() - started
    started = time.perf_counter()
    one = segments.build(zip([r[0] for r in base], [r[1] for r in base], _documents(base)))
    renamed = [segments.Segment(one.terms, one.indptr, one.docs, one.tf, one.lengths,
                                [f"copy-{n}:{c}" for c in one.chunk_ids], [f"copy-{n}:{p}" for p in one.paper_ids])
               for n in range(copies)]
    merged = segments.merge([(s, np.ones(s.size, dtype=bool)) for s in renamed])
    index = bot.lexical
    part = index._write_segment(merged)
    index._save([part], bot.catalog.generation)
    assert index.chunk_ids() == {r[0] for r in bot.catalog.lexical_rows()}
    print(json.dumps({"chunks": bot.catalog.counts()[1], "copies": copies, "catalog_s": round(catalog_s, 1),
                      "index_s": round(time.perf_counter() - started, 1)}), flush=True)


def child_ingest(spec: dict) -> dict:
    """100 SciFact abstracts into the store, timed; then removed again (catalog and Chroma), so the next run
    starts from the same 200k-chunk store."""
    from paperbot import PaperBot, Settings
    from paperbot.ingest.loaders import load_papers

    settings = Settings(data_dir=Path(spec["data_dir"]), collection=spec["collection"])
    bot = PaperBot(settings)
    embedder = TimedEmbedder(bot.embedder)
    bot = PaperBot(settings, embedder=embedder)
    bot.lexical.ensure_fresh()
    bot.vectors.count()
    scifact = load_papers([Path(spec["datasets"]) / "scifact" / "corpus.jsonl"]).papers
    new = [replace(p, id=f"scifact:{p.id}") for p in scifact if _sha_pick(p.id)][:100]
    embedder.embed([new[0].title])  # loads the ONNX session: not part of anyone's ingest cost twice
    embedder.seconds, embedder.cpu_seconds, embedder.texts = 0.0, 0.0, 0
    # A store built from every real paper (evals/scale.py) holds these SciFact abstracts already: take them out
    # first (untimed), so they are new to it, as the next run finds them after this one puts the store back.
    present = [p.id for p in new if bot.catalog.chunks_of(p.id)]
    if present:
        bot.vectors.delete([c.id for pid in present for c in bot.catalog.chunks_of(pid)])
        bot.catalog.delete_papers(present)
        bot.lexical.refresh()
    before = bot.catalog.counts()[1]
    chroma_before = bot.vectors.count()
    started, cpu = time.perf_counter(), time.process_time()
    report = bot.ingest_papers(new)
    total, total_cpu = time.perf_counter() - started, time.process_time() - cpu
    lexical_parts = len(bot.lexical._view.parts)
    rebuild = None
    if spec.get("rebuild"):
        t0 = time.perf_counter()
        bot.lexical.rebuild()  # what every ingest cost before: the whole index again, from the catalog
        rebuild = time.perf_counter() - t0
    # Put the store back: the same papers removed from Chroma and the catalog, the index caught up.
    ids = [p.id for p in new]
    bot.vectors.delete([c.id for pid in ids for c in bot.catalog.chunks_of(pid)])
    bot.catalog.delete_papers(ids)
    t0 = time.perf_counter()
    bot.lexical.refresh()
    removal = time.perf_counter() - t0
    return {"chunks_before": before, "chroma_before": chroma_before, "removed_first": len(present),
            "papers_added": len(report.added), "chunks_added": report.chunks_written,
            "ingest_s": round(total, 2), "embedding_s": round(embedder.seconds, 2),
            "beyond_embedding_s": round(total - embedder.seconds, 2), "segments_after": lexical_parts,
            "ingest_cpu_s": round(total_cpu, 2), "embedding_cpu_s": round(embedder.cpu_seconds, 2),
            "beyond_embedding_cpu_s": round(total_cpu - embedder.cpu_seconds, 2),
            "full_rebuild_s": round(rebuild, 2) if rebuild is not None else None,
            "remove_100_papers_index_s": round(removal, 3)}


def ingest(args) -> None:
    results = _results(args)
    runs = []
    settings = _store_settings(args)
    spec = {"data_dir": str(settings.data_dir), "collection": settings.collection,
            "datasets": str(args.datasets.resolve())}
    for i in range(args.repeats):
        run = _child("ingest", {**spec, "rebuild": False})
        print(json.dumps(run), flush=True)
        runs.append(run)
    results["ingest"] = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "git": git_revision(),
                         "machine": _machine(), "runs": runs,
                         "command": " ".join(["python -m evals.lexical_incremental"] + sys.argv[1:])}
    _save(args, results)


def child_query(spec: dict) -> dict:
    """Hybrid `bot.search` latency at the store's size (as evals/scale.py times it), and BM25 alone."""
    from paperbot import PaperBot, Settings

    bot = PaperBot(Settings(data_dir=Path(spec["data_dir"]), collection=spec["collection"]))
    queries = _queries(Path(spec["datasets"]), spec["queries"] + 1)
    bot.search(queries[0], k=10)
    hybrid, lexical, lexical_cpu = [], [], []
    for query in queries[1:]:
        t0 = time.perf_counter()
        timings = bot.search_timed(query, k=10).timings
        hybrid.append((time.perf_counter() - t0) * 1e3)
        lexical.append(timings.lexical_ms)
        c0 = time.process_time()
        bot.lexical.search(query, 100)
        lexical_cpu.append((time.process_time() - c0) * 1e3)
    return {"chunks": bot.vectors.count(), "lexical_chunks": len(bot.lexical.chunk_ids()),
            "segments": len(bot.lexical._view.parts), "queries": len(hybrid),
            "hybrid_p50_ms": round(percentile(hybrid, 50), 2), "hybrid_p95_ms": round(percentile(hybrid, 95), 2),
            "bm25_p50_ms": round(percentile(lexical, 50), 2), "bm25_p95_ms": round(percentile(lexical, 95), 2),
            "bm25_cpu_p50_ms": round(percentile(lexical_cpu, 50), 2),
            "bm25_cpu_p95_ms": round(percentile(lexical_cpu, 95), 2)}


def query(args) -> None:
    results = _results(args)
    settings = _store_settings(args)
    spec = {"data_dir": str(settings.data_dir), "collection": settings.collection,
            "datasets": str(args.datasets.resolve()), "queries": args.queries}
    results["query"] = {**_child("query", spec), "when": datetime.now(UTC).isoformat(timespec="seconds"),
                        "git": git_revision(), "machine": _machine(),
                        "command": " ".join(["python -m evals.lexical_incremental"] + sys.argv[1:])}
    print(json.dumps(results["query"]), flush=True)
    _save(args, results)


# --- nDCG on SciFact train: the old full-rebuild index against the new one, same dense side ---------------------------
def scifact_store(args) -> None:
    """The SciFact store `ndcg` reads, without embedding again: every SciFact abstract whose chunks all have a
    real MiniLM vector in evals/scale.py's cache (--vectors, made by `python -m evals.scale prepare`), ingested
    through the real pipeline with those vectors replayed; ids as in the corpus, as the qrels name them."""
    from evals.replay import EmbeddingTable, ReplayEmbedder
    from evals.synthetic import real_papers
    from paperbot import PaperBot

    table = EmbeddingTable.load(args.vectors)
    papers = [replace(p, id=p.id.split(":", 1)[1]) for p in real_papers(args.datasets, args.corpus)
              if p.id.startswith("scifact:") and p.id in table.chunk_counts]
    settings = _store_settings(args)
    embedder = ReplayEmbedder(PaperBot(settings).embedder, table)
    report = PaperBot(settings, embedder=embedder).ingest_papers(papers)
    print(json.dumps({"papers": len(papers), "chunks": report.chunks_written, "replayed": embedder.replayed,
                      "from_model": embedder.fallbacks}), flush=True)


def ndcg(args) -> None:
    """Hybrid and lexical nDCG@10 on all 809 SciFact train claims, on a store of the SciFact corpus: the same
    Retriever with the new LexicalIndex, then with the old bm25s index (Bm25sFull) in its place."""
    from evals.beir import load_split
    from evals.retrieval_metrics import retrieval_metrics
    from paperbot import PaperBot, Settings

    bot = PaperBot(Settings(data_dir=args.data_dir.resolve(), collection=args.collection))
    bot.refresh_lexical_index()  # a store whose ingest was stopped early has a catalog but maybe no index yet
    split = load_split(args.datasets / "scifact", "train")
    # A partial store (an ingest stopped early): only claims whose every cited abstract is in it.
    present = {p.id for p in bot.papers()}
    split.queries = {q: t for q, t in split.queries.items() if set(split.qrels.get(q, {})) <= present}
    old = Bm25sFull()
    old.build(bot.catalog.lexical_rows(), args.work_dir.resolve() / "ndcg-bm25s")

    class OldIndex:
        problem = None

        def search(self, query, n, paper_ids=None):
            from paperbot.text.terms import terms

            ranking = old.search(list(dict.fromkeys(terms(query))), n)
            return [(cid, 1.0) for cid in ranking]

    retriever = bot.retriever
    out = {}
    for name, lexical in (("segments", bot.lexical), ("bm25s-full", OldIndex())):
        retriever._lexical = lexical
        for mode in ("hybrid", "lexical"):
            rankings = {qid: [h.paper_id for h in retriever.search(text, 10, None, mode)]
                        for qid, text in split.queries.items()}
            means, _ = retrieval_metrics(split.qrels, rankings, ("ndcg@10",))
            out[f"{name}_{mode}_ndcg10"] = round(means["ndcg@10"], 4)
            print(name, mode, out[f"{name}_{mode}_ndcg10"], flush=True)
    results = _results(args)
    results["ndcg"] = {**out, "queries": len(split.queries), "chunks": bot.vectors.count(), "papers": len(present),
                       "when": datetime.now(UTC).isoformat(timespec="seconds"), "git": git_revision(),
                       "command": " ".join(["python -m evals.lexical_incremental"] + sys.argv[1:])}
    _save(args, results)


# --- report ----------------------------------------------------------------------------------------------------------
def _ingest_section(run: dict, *, earlier: bool) -> list[str]:
    filled = all(r.get("chroma_before", 0) >= 0.9 * r["chunks_before"] for r in run["runs"])
    store = ("a store whose Chroma collection (embedded PersistentClient), catalog and BM25 index all hold the "
             "chunks counted in *chunks before* (made by `python -m evals.scale run`, see the hybrid query section "
             "below; the 100 abstracts, if there, are taken out first, untimed)" if filled else
             "store made by `python -m evals.lexical_incremental replicate --size 200000` with the same --data-dir "
             "and --collection: its catalog and BM25 index hold 200k chunks, its Chroma collection only what "
             "each run adds, so the Chroma write here is that of a small collection")
    title = "100 new SciFact abstracts into a 200k-chunk store" + (
        ", Chroma filled" if filled else ", Chroma near empty" + (" (earlier run)" if earlier else ""))
    lines = ["", f"## Acceptance: {title}", "",
             f"Run {run['when']} at git {run['git']} (plus uncommitted work in the tree) on {run['machine']}. "
             f"Command: `{run['command']}` ({store}). "
             "The real pipeline (`PaperBot.ingest_papers`: chunking, MiniLM embedding, Chroma writes, catalog, "
             "BM25); *beyond embedding* = ingest time minus the seconds spent inside the embedder. After each run "
             "the papers are deleted again (Chroma and catalog) and the index caught up, so every run starts "
             "from the same store; *full rebuild* is what every ingest paid before (the whole index from the "
             "catalog, timed in the first run's process).", "",
             "| run | chunks before (in Chroma) | chunks added | ingest s (CPU s) | embedding s (CPU s) | beyond "
             "embedding s (CPU s) | segments after | full rebuild s | index catch-up after deleting them s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(run["runs"], 1):
        chroma = f" ({r['chroma_before']:,})" if "chroma_before" in r else ""
        lines.append(f"| {i} | {r['chunks_before']:,}{chroma} | {r['chunks_added']} | {r['ingest_s']} "
                     f"({r.get('ingest_cpu_s', '-')}) | {r['embedding_s']} ({r.get('embedding_cpu_s', '-')}) | "
                     f"**{r['beyond_embedding_s']}** ({r.get('beyond_embedding_cpu_s', '-')}) | "
                     f"{r['segments_after']} | "
                     f"{r['full_rebuild_s'] if r['full_rebuild_s'] is not None else '-'} | "
                     f"{r['remove_100_papers_index_s']} |")
    return lines


def render(results: dict) -> str:
    lines = ["# Incremental lexical index (issue 15, item 1)", "",
             "Generated by `python -m evals.lexical_incremental` (evals/lexical_incremental.py; its docstring says "
             "what each engine is). Not part of CI. The machine is shared with other engineers' jobs: figures "
             "within one table were measured in one run, under the load noted; compare engines within a size, "
             "not across runs.", ""]
    if results.get("engines"):
        run = results["engines_run"]
        lines += ["## Engines", "", f"Run {run['when']} at git {run['git']} (plus uncommitted work in the tree) on "
                  f"{run['machine']}. Command: `{run['command']}`.", ""]
        lines += [f"Also in the table: run {o['when']} at git {o['git']} (plus uncommitted work) on {o['machine']}. "
                  f"Command: `{o['command']}`." for o in results.get("engines_other_runs", [])]
        lines += ["",
                  "*build*: index from the whole catalog (seconds; for *segments* the catalog write is not "
                  "included). *add 100 papers*: one ingest's index work after the catalog holds 100 new SciFact "
                  "abstracts (bm25s-full: a full rebuild, as every ingest did, so build and add are one build of "
                  "base + new papers, timed once; segments: catalog write + `refresh`; fts5 / tantivy: insert + "
                  "commit). *peak RSS*: the step's process, rows of the catalog in memory included. Query: 100 candidates for each SciFact train claim, first excluded. *top-10 "
                  "agreement*: share of bm25s-full's top 10 in the engine's top 10 (*identical*: same 10 in the "
                  "same order).", "",
                  "*CPU* columns: the process's CPU time (all its threads) over the same spans; on a machine shared "
                  "by many jobs they say what the work costs better than wall-clock time does.", "",
                  "| chunks | engine | build s (CPU s) | add 100 papers s (CPU s) | peak RSS MB | on disk MB | "
                  "query p50 / p95 ms | query CPU p50 / p95 ms | top-10 agreement | top-10 identical |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for s in sorted(results["engines"], key=lambda s: (s["size_target"], s["engine"])):
            lines.append(f"| {s['chunks']:,} | {s['engine']} | {s['build_s']} ({s.get('build_cpu_s', '-')}) | "
                         f"**{s['add_100_papers_s']}** ({s.get('add_cpu_s', '-')}) | "
                         f"{s['peak_rss_mb']:.0f} | {s['disk_mb']} | {s['query_p50_ms']} / {s['query_p95_ms']} | "
                         f"{s.get('query_cpu_p50_ms', '-')} / {s.get('query_cpu_p95_ms', '-')} | "
                         f"{s.get('top10_agreement', '-')} | {s.get('top10_identical_share', '-')} |")
    for key in ("ingest", "ingest_earlier"):
        if results.get(key):
            lines += _ingest_section(results[key], earlier=key == "ingest_earlier")
    if results.get("query_filled"):
        q = results["query_filled"]
        lines += ["", "## Hybrid query latency at 200k chunks, Chroma filled", "",
                  f"Run {q['when']} at git {q['git']} (plus uncommitted work in the tree) on {q['machine']}. "
                  f"Command: `{q['command']}`. The store: {q['chunks']:,} chunks in Chroma (embedded "
                  f"PersistentClient, HNSW), the catalog and the BM25 index ({q['lexical_chunks']:,} chunks, "
                  f"{q['lexical_segments']} segments), made by that command's ingest ({q['store']}). "
                  f"`bot.search(claim, k=10)` over {q['queries_timed']} SciFact train claims, first excluded, "
                  "alternating with Chroma's dense-only query (query embedding + HNSW search, k=10) in the same "
                  "process; *without embedding* subtracts the query embedding from each.", "",
                  "| hybrid p50 / p95 ms | dense-only p50 / p95 ms | hybrid / dense p95 | without embedding: hybrid "
                  "p50 / p95 | dense-only p50 / p95 | BM25 part p50 / p95 ms |", "|---|---|---|---|---|---|",
                  f"| {q['hybrid_p50_ms']} / **{q['hybrid_p95_ms']}** | {q['dense_p50_ms']} / {q['dense_p95_ms']} | "
                  f"{q['hybrid_over_dense_p95']} | {q['search_p50_ms']} / {q['search_p95_ms']} | "
                  f"{q['dense_search_p50_ms']} / {q['dense_search_p95_ms']} | "
                  f"{q['hybrid_parts_p50_ms']['lexical_ms']} / {q['hybrid_parts_p95_ms']['lexical_ms']} |"]
    if results.get("query"):
        q = results["query"]
        lines += ["", "## Hybrid query latency at 200k BM25 chunks, Chroma near empty (earlier run)", "",
                  f"Run {q['when']} at git {q['git']} on {q['machine']}. Command: `{q['command']}`. "
                  f"`bot.search(claim, k=10)` over {q['queries']} SciFact train claims on the replicated store "
                  f"({q['lexical_chunks']:,} chunks in the BM25 index, {q['segments']} segments; {q['chunks']:,} in "
                  "Chroma), first excluded. Chroma is near empty here, so the hybrid figure is not the 200k one: "
                  "the BM25 part is what this change moved.", "",
                  "| hybrid p50 / p95 ms | BM25 part p50 / p95 ms | BM25 alone, CPU p50 / p95 ms |", "|---|---|---|",
                  f"| {q['hybrid_p50_ms']} / {q['hybrid_p95_ms']} | {q['bm25_p50_ms']} / {q['bm25_p95_ms']} | "
                  f"{q.get('bm25_cpu_p50_ms', '-')} / **{q.get('bm25_cpu_p95_ms', '-')}** |"]
    if results.get("ndcg"):
        lines += ["", "## nDCG@10 on SciFact train: new index against the old full rebuild", "",
                  "| run | SciFact papers in the store (chunks) | train claims | index | hybrid nDCG@10 | lexical nDCG@10 |",
                  "|---|---|---|---|---|---|"]
        runs = [results[key] for key in ("ndcg", "ndcg_partial", "ndcg_earlier") if results.get(key)]
        for i, n in enumerate(runs, 1):
            for name, label in (("bm25s-full", "bm25s full rebuild (before)"), ("segments", "segments (now)")):
                lines.append(f"| {i} | {n['papers']:,} ({n['chunks']:,}) | {n['queries']} | {label} | "
                             f"{n[f'{name}_hybrid_ndcg10']} | {n[f'{name}_lexical_ndcg10']} |")
        lines.append("")
        lines += [f"Run {i}: {n['when']} at git {n['git']} (plus uncommitted work). Command: `{n['command']}`"
                  + (f" (store: `{n['store_command']}`)" if n.get("store_command") else "") + "."
                  + (f" {n['vectors_note']}" if n.get("vectors_note") else "") for i, n in
                  enumerate(runs, 1)]
        lines += ["", "The train claims whose every cited abstract is in the store (all 809 with the whole corpus; a "
                  "store of only part of SciFact has fewer distractors, so its absolute nDCG is higher), real MiniLM "
                  "vectors; the same Retriever, dense side and fusion, with each lexical index in turn."]
    if results.get("notes"):
        lines += ["", "## Findings", ""] + [f"- {note}" for note in results["notes"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1].startswith("_"):
        spec = json.loads(sys.argv[2])
        phase = {"_engine": child_engine, "_ingest": child_ingest, "_query": child_query}[sys.argv[1]]
        print(json.dumps(phase(spec)), flush=True)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["engines", "store", "replicate", "ingest", "query", "ndcg", "finish",
                                           "render", "scifact-store"])
    parser.add_argument("--datasets", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--corpus", type=Path, default=Path("../shared/corpus/inference-cost-papers.txt"))
    parser.add_argument("--work-dir", type=Path, default=Path("bench-data/lexical"))
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 50000, 200000])
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=list(ENGINES))
    parser.add_argument("--size", type=int, default=200000, help="store: chunks to grow the store to")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--keep-stores", action="store_true",
                        help="engines: keep the segments engine's catalog and index (a store for `ingest`)")
    parser.add_argument("--repeats", type=int, default=3, help="ingest: runs of the 100-paper ingest")
    parser.add_argument("--data-dir", type=Path, help="ndcg / ingest / query: the store's data dir")
    parser.add_argument("--collection", default="scifact", help="its collection")
    parser.add_argument("--merge", type=Path, nargs="*", default=[], help="finish: other runs' JSON to merge in")
    parser.add_argument("--vectors", type=Path, default=Path("bench-data/scale"),
                        help="scifact-store: evals/scale.py's --work-dir (its cache of real chunk vectors)")
    parser.add_argument("--out", type=Path, default=Path("evals/results/lexical-incremental.md"))
    args = parser.parse_args()
    if args.action == "render":
        args.out.write_text(render(_results(args)))
        return
    {"engines": engines, "store": store, "replicate": replicate, "ingest": ingest, "query": query, "ndcg": ndcg,
     "finish": finish, "scifact-store": scifact_store}[args.action](args)


if __name__ == "__main__":
    main()
