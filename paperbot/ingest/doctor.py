"""Doctor use case: check that Chroma, the catalog and the BM25 index hold the same papers and chunks, and repair."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path

from paperbot.errors import StoreError
from paperbot.ingest.rebuild import catalog_entry, rebuild_catalog
from paperbot.store.catalog import Catalog
from paperbot.store.lexical import LexicalIndex
from paperbot.store.vectors import StoredChunk, VectorStore
from paperbot.text.wording import counted
from paperbot.types import MINILM_ID, SearchFilters


@dataclass(frozen=True)
class Finding:
    """One check: passed or not, how many things are wrong, a few of them, and whether --repair fixes it."""

    check: str
    ok: bool
    message: str
    count: int = 0
    examples: tuple[str, ...] = ()
    repairable: bool = False
    advice: str = ""  # what to do instead, when doctor cannot fix it


@dataclass
class DoctorReport:
    location: str
    collection: str
    findings: list[Finding]
    repairs: list[str] = field(default_factory=list)  # what --repair did, in order
    reingest: list[str] = field(default_factory=list)  # sources of papers removed so a re-ingest restores them

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if not f.ok]

    @property
    def healthy(self) -> bool:
        return not self.problems


@dataclass
class StoreAccess:
    """The doctor's collaborators, built by the facade: it opens the catalog itself, so a damaged one can be replaced."""

    vectors: VectorStore
    catalog_path: Path
    open_catalog: Callable[[], Catalog]  # raises StoreError when the file cannot be read
    open_lexical: Callable[[Catalog], LexicalIndex]
    embedder_id: str
    chunker_version: str
    location: str
    lock_held: Callable[[], bool]  # another process is writing now
    lock: Callable[[], AbstractContextManager]  # the ingest lock, waited for


@dataclass
class _Paper:
    """One paper as each side holds it."""

    chroma: list[StoredChunk] = field(default_factory=list)
    in_catalog: bool = False
    catalog_hash: str | None = None
    catalog_chunks: dict[str, str] = field(default_factory=dict)  # chunk id -> text


@dataclass
class _State:
    findings: list[Finding]
    catalog: Catalog | None
    papers: dict[str, _Paper]
    bad: set[str]  # papers whose chunks disagree between Chroma and the catalog
    lexical_ok: bool
    vector_index_ok: bool = True


def _examples(ids: Iterable[str], n: int) -> tuple[str, ...]:
    return tuple(sorted(ids)[:n])


def _ids_finding(check: str, ids: set[str], what: str, n: int, *, advice: str = "") -> Finding:
    if not ids:
        return Finding(check, True, f"no {what}")
    return Finding(check, False, f"{len(ids)} {what}", len(ids), _examples(ids, n), repairable=True, advice=advice)


def _configure_hint(embedder_id: str) -> str:
    if embedder_id.startswith("openai/"):
        return f"PAPERBOT_EMBEDDER=openai PAPERBOT_OPENAI_EMBEDDING_MODEL={embedder_id.removeprefix('openai/')}"
    if embedder_id == MINILM_ID:
        return "PAPERBOT_EMBEDDER=minilm"
    return f"the embedder {embedder_id!r}"


def _model_findings(access: StoreAccess) -> list[Finding]:
    recorded = access.vectors.recorded
    found = []
    embedder = recorded.get("paperbot_embedder")
    if embedder == access.embedder_id:
        found.append(Finding("embedder", True, f"{embedder}, as configured"))
    else:
        found.append(Finding(
            "embedder", False, f"the collection was built with {embedder!r} but {access.embedder_id!r} is configured",
            advice=f"not repairable here (the vectors would have to be recomputed): set {_configure_hint(embedder or '')} "
                   f"again to use this collection, or keep {access.embedder_id!r} and re-ingest your files into a new "
                   f"collection with `paperbot --collection NEW ingest FILES`",
        ))
    chunker = recorded.get("paperbot_chunker")
    if chunker == access.chunker_version:
        found.append(Finding("chunker", True, f"{chunker}, as this version of paperbot chunks"))
    else:
        found.append(Finding(
            "chunker", False, f"the collection was chunked by {chunker!r}; this paperbot chunks with "
                              f"{access.chunker_version!r}",
            advice="not repairable here: use the paperbot version that built it, or re-ingest your files into a new "
                   "collection with `paperbot --collection NEW ingest FILES`",
        ))
    return found


def _open_catalog(access: StoreAccess) -> tuple[Catalog | None, Finding]:
    try:
        catalog = access.open_catalog()
    except StoreError as exc:
        return None, Finding("catalog-file", False, str(exc), repairable=True)
    errors = catalog.integrity_errors()
    if errors:
        return catalog, Finding("catalog-file", False, f"SQLite integrity_check failed on {access.catalog_path}",
                                len(errors), tuple(errors[:5]), repairable=True)
    return catalog, Finding("catalog-file", True, f"{access.catalog_path} passes SQLite's integrity_check")


def _gather(vectors: VectorStore, catalog: Catalog) -> dict[str, _Paper]:
    papers: dict[str, _Paper] = defaultdict(_Paper)
    for stored in vectors.iter_chunks():
        papers[stored.chunk.paper_id].chroma.append(stored)
    ids = catalog.paper_ids(SearchFilters())
    for pid, content_hash in catalog.content_hashes(ids).items():
        papers[pid].in_catalog = True
        papers[pid].catalog_hash = content_hash
    for chunk_id, pid, _, text in catalog.lexical_rows():
        papers[pid].catalog_chunks[chunk_id] = text
    return dict(papers)


def _consistency(papers: dict[str, _Paper], n: int) -> tuple[list[Finding], set[str]]:
    chroma_ids = {s.chunk.id for p in papers.values() for s in p.chroma}
    catalog_ids = {cid for p in papers.values() for cid in p.catalog_chunks}
    orphans, versions, incomplete, empty, dangling = set(), set(), set(), set(), set()
    for pid, paper in papers.items():
        if not paper.in_catalog:
            orphans.update(s.chunk.id for s in paper.chroma)
            dangling.update(paper.catalog_chunks)
            continue
        mine = {s.chunk.id for s in paper.chroma}
        if not paper.chroma:
            empty.add(pid)
        elif set(paper.catalog_chunks) - mine:
            incomplete.add(pid)
        for stored in paper.chroma:
            if (stored.content_hash != paper.catalog_hash
                    or paper.catalog_chunks.get(stored.chunk.id, stored.chunk.text) != stored.chunk.text
                    or stored.chunk.id not in paper.catalog_chunks):
                versions.add(stored.chunk.id)
    bad = {pid for pid, p in papers.items() if not p.in_catalog} | empty | incomplete
    bad |= {papers_id for papers_id, p in papers.items() if any(s.chunk.id in versions for s in p.chroma)}
    only_chroma, only_catalog = chroma_ids - catalog_ids, catalog_ids - chroma_ids
    same = not only_chroma and not only_catalog
    findings = [
        Finding("chroma-vs-catalog", same,
                f"{len(chroma_ids)} chunk ids in Chroma and in the catalog" if same else
                f"{len(only_chroma)} chunk ids only in Chroma, {len(only_catalog)} only in the catalog",
                len(only_chroma | only_catalog), _examples(only_chroma | only_catalog, n), repairable=not same),
        _ids_finding("orphan-chunks", orphans, "Chroma chunks whose paper is not in the catalog", n),
        _ids_finding("dangling-catalog-chunks", dangling, "catalog chunks whose paper row is missing", n),
        _ids_finding("papers-without-chunks", empty, "catalog papers with no chunks in Chroma", n,
                     advice="repair removes them from the catalog; re-ingest their sources to restore them"),
        _ids_finding("incomplete-papers", incomplete, "catalog papers missing some of their chunks in Chroma", n,
                     advice="repair removes them; re-ingest their sources to restore them"),
        _ids_finding("chunk-versions", versions,
                     "Chroma chunks whose version, id or text disagrees with the catalog's paper", n),
    ]
    return findings, bad


def _vector_index_finding(vectors: VectorStore, papers: dict[str, _Paper], n: int) -> Finding:
    searchable = vectors.searchable_ids()
    if searchable is None:
        return Finding("vector-index", True, "not checked (empty, or too many chunks to list by query)")
    stored = {s.chunk.id for p in papers.values() for s in p.chroma}
    diff = stored ^ searchable
    if not diff:
        return Finding("vector-index", True, f"dense search reaches all {len(stored)} stored chunks")
    return Finding("vector-index", False, f"{len(stored - searchable)} stored chunks are not reachable by dense "
                   f"search, {len(searchable - stored)} reachable ones are not stored", len(diff),
                   _examples(diff, n), repairable=True)


def _lexical_findings(lexical: LexicalIndex, catalog: Catalog, n: int) -> list[Finding]:
    saved = lexical.saved()
    catalog_ids = {row[0] for row in catalog.lexical_rows()}
    found = []
    if saved.problem == "missing" and not catalog_ids:
        found.append(Finding("bm25-file", True, "no BM25 index yet (the catalog is empty)"))
    elif saved.problem:
        found.append(Finding("bm25-file", False, f"BM25 index {saved.path}: {saved.problem}", repairable=True))
    elif saved.generation != catalog.generation:
        found.append(Finding("bm25-file", False, f"BM25 index {saved.path} is stale: built from catalog generation "
                             f"{saved.generation}, the catalog is at {catalog.generation}", repairable=True))
    else:
        found.append(Finding("bm25-file", True, f"BM25 index {saved.path} is readable and current"))
    if saved.leftovers:
        found.append(Finding("bm25-leftovers", False, "folders left by an interrupted BM25 save",
                             len(saved.leftovers), saved.leftovers, repairable=True))
    if saved.problem is None or catalog_ids:
        ids = set(saved.chunk_ids)
        diff = ids ^ catalog_ids
        found.append(Finding(
            "bm25-vs-catalog", not diff,
            f"{len(ids)} chunk ids in the BM25 index and in the catalog" if not diff else
            f"{len(ids - catalog_ids)} chunk ids only in the BM25 index, {len(catalog_ids - ids)} only in the catalog",
            len(diff), _examples(diff, n), repairable=bool(diff),
        ))
    return found


def _inspect(access: StoreAccess, n: int, *, check_lock: bool) -> _State:
    findings = []
    if check_lock:
        held = access.lock_held()
        findings.append(Finding(
            "lock", not held,
            "an ingest or repair is writing to this store now; what follows may be mid-write" if held else
            "no ingest or repair is running (an OS lock: a killed ingest cannot leave it held)",
            advice="wait for it to finish and run doctor again" if held else "",
        ))
    findings += _model_findings(access)
    catalog, catalog_finding = _open_catalog(access)
    findings.append(catalog_finding)
    if catalog is None or not catalog_finding.ok:
        return _State(findings, catalog, {}, set(), False)
    papers = _gather(access.vectors, catalog)
    consistency, bad = _consistency(papers, n)
    vector_index = _vector_index_finding(access.vectors, papers, n)
    lexical = _lexical_findings(access.open_lexical(catalog), catalog, n)
    return _State(findings + consistency + [vector_index] + lexical, catalog, papers, bad, all(f.ok for f in lexical),
                  vector_index.ok)


def unreadable_vectors_report(location: str, collection: str, problem: str) -> DoctorReport:
    """The report when reading the collection in a child process failed: nothing else can be checked safely."""
    return DoctorReport(location, collection, [Finding(
        "vector-store", False, f"vector store unreadable: collection {collection!r} at {location}: {problem}",
        advice=f"not repairable in place (its vector files are damaged). Recover from the catalog, which keeps every "
               f"paper: `paperbot --collection {collection}-2 reindex --from-catalog {collection}` embeds its papers "
               f"into a new collection; then use --collection {collection}-2 (or PAPERBOT_COLLECTION). Keep the old "
               "Chroma folder until the new collection answers, or re-ingest your source files instead",
    )])


def check_store(access: StoreAccess, *, examples: int = 5) -> DoctorReport:
    """Read-only: every check, with counts and up to `examples` ids each."""
    state = _inspect(access, examples, check_lock=True)
    if state.catalog is not None:
        state.catalog.close()
    return DoctorReport(access.location, access.vectors.name, state.findings)


def _is_complete(chunks: list[StoredChunk]) -> bool:
    """One version, chunk indexes 0..n-1, and n is what that version was written with (when recorded)."""
    if not chunks or len({s.content_hash for s in chunks}) != 1:
        return False
    if sorted(s.chunk.index for s in chunks) != list(range(len(chunks))):
        return False
    return all(s.paper_chunks in (None, len(chunks)) for s in chunks)


def _set_aside(path: Path) -> Path:
    """Keep a damaged catalog (and its WAL files) for inspection instead of deleting it."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists():
            part.rename(target.with_name(target.name + suffix))
    return target


def repair_store(access: StoreAccess, *, examples: int = 5) -> DoctorReport:
    """Fix what is fixable while holding the ingest lock, then check again; Chroma is the source of truth."""
    repairs: list[str] = []
    reingest: list[str] = []
    with access.lock():
        state = _inspect(access, examples, check_lock=False)
        catalog = state.catalog
        if catalog is None or any(f.check == "catalog-file" and not f.ok for f in state.findings):
            if catalog is not None:
                catalog.close()
            kept = _set_aside(access.catalog_path) if access.catalog_path.exists() else None
            catalog = access.open_catalog()
            count = rebuild_catalog(access.vectors, catalog)
            repairs.append(f"rebuilt the catalog from Chroma ({counted(count, 'paper')})"
                           + (f"; the damaged file is kept as {kept}" if kept else ""))
            catalog.close()
            state = _inspect(access, examples, check_lock=False)
            catalog = state.catalog
        if catalog is None:
            raise StoreError(f"the rebuilt catalog {access.catalog_path} cannot be read either; check the disk")
        resync, drop_catalog, drop_chroma = [], [], []
        for pid in sorted(state.bad):
            paper = state.papers[pid]
            if _is_complete(paper.chroma):
                resync.append(catalog_entry(pid, paper.chroma))
                continue
            if paper.in_catalog:
                stored = catalog.paper(pid)
                reingest.append(f"{pid} ({stored.source})" if stored and stored.source else pid)
            else:
                source = paper.chroma[0].paper_fields.get("source") if paper.chroma else None
                reingest.append(f"{pid} ({source})" if source else pid)
            drop_catalog.append(pid)
            drop_chroma += [s.chunk.id for s in paper.chroma]
        if not state.vector_index_ok:
            stored = {s.chunk.id for p in state.papers.values() for s in p.chroma} - set(drop_chroma)
            searchable = access.vectors.searchable_ids() or set()
            if stored - searchable:
                access.vectors.rewrite(sorted(stored - searchable))
                repairs.append(f"re-indexed {len(stored - searchable)} chunks that dense search could not reach, "
                               "from their own stored vectors")
            if searchable - stored:
                access.vectors.delete(sorted(searchable - stored))
                repairs.append(f"deleted {len(searchable - stored)} index entries with no stored chunk")
        if drop_chroma:
            access.vectors.delete(sorted(drop_chroma))
            repairs.append(f"deleted {counted(len(drop_chroma), 'Chroma chunk')} of {counted(len(drop_catalog), 'paper')} stored "
                           "incompletely or in mixed versions")
        if drop_catalog:
            # Papers leave the catalog only after a copy of it is kept: what they were is never lost to a repair.
            kept = catalog.backup(access.catalog_path.with_name(
                f"{access.catalog_path.name}.backup-{time.strftime('%Y%m%dT%H%M%S')}"))
            repairs.append(f"backed up the catalog to {kept} before removing papers from it")
            catalog.delete_papers(drop_catalog)
            repairs.append(f"removed {counted(len(drop_catalog), 'paper')} from the catalog; re-ingest them: "
                           + ", ".join(reingest[:examples]) + (" ..." if len(reingest) > examples else ""))
        if resync:
            for start in range(0, len(resync), 500):
                catalog.write(resync[start : start + 500])
            repairs.append(f"re-synced {counted(len(resync), 'paper')} in the catalog from their complete chunks in Chroma: "
                           + ", ".join(p.id for p, _, _ in resync[:examples]) + (" ..." if len(resync) > examples else ""))
        if repairs or not state.lexical_ok:
            access.open_lexical(catalog).rebuild()
            repairs.append(f"rebuilt the BM25 index from the catalog ({catalog.counts()[1]} chunks)")
        catalog.close()
        final = _inspect(access, examples, check_lock=False)
        if final.catalog is not None:
            final.catalog.close()
    return DoctorReport(access.location, access.vectors.name, final.findings, repairs, reingest)
