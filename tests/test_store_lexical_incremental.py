"""The lexical index grows by segments (issue 15, item 1): after any mix of adds, updated abstracts and deletions
its scores are exactly a full rebuild's and bm25s's, readers load only what is new and never see a half-written
index, damage is caught, and a catalog that cannot say what changed gets a full build."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from pathlib import Path

import bm25s
import numpy as np
import pytest

from paperbot.ingest.loaders import load_papers
from paperbot.store.catalog import Catalog
from paperbot.store.lexical import LexicalIndex
from paperbot.text.terms import terms
from paperbot.types import Chunk, Paper

QUESTIONS = Path(__file__).resolve().parents[1] / "evals" / "questions" / "demo.jsonl"
TITLE_WEIGHT = 2


@pytest.fixture(scope="module")
def papers(demo_corpus) -> list[Paper]:
    return load_papers([demo_corpus]).papers


@pytest.fixture(scope="module")
def questions() -> list[str]:
    return [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()][:40]


def _entry(paper: Paper) -> tuple[Paper, str, list[Chunk]]:
    """Chunks of at most 300 characters: several per paper, so a paper's chunks can sit in two segments' worth."""
    text = paper.abstract
    pieces = [text[i:i + 300] for i in range(0, len(text), 300)] or [""]
    return paper, str(hash(text)), [Chunk(f"{paper.id}#{i}", paper.id, paper.title, i, piece, 300 * i,
                                          300 * i + len(piece), 1, 1) for i, piece in enumerate(pieces)]


def _index(folder: Path) -> tuple[Catalog, LexicalIndex]:
    catalog = Catalog(folder / "papers.sqlite3")
    return catalog, LexicalIndex(folder / "papers.bm25", catalog, title_weight=TITLE_WEIGHT)


def _oracle(catalog: Catalog, questions: list[str]) -> list[list[tuple[str, float]]]:
    """bm25s over the catalog as it is now (the index before issue 15), best first, ties by chunk id."""
    rows = catalog.lexical_rows()
    model = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    model.index([terms(title) * TITLE_WEIGHT + terms(text) for _, _, title, text in rows], show_progress=False)
    out = []
    for question in questions:
        tokens = [t for t in dict.fromkeys(terms(question)) if t in model.vocab_dict]
        scores = model.get_scores(tokens) if tokens else np.zeros(len(rows))
        ranked = sorted((i for i in range(len(rows)) if scores[i] > 0), key=lambda i: (-scores[i], rows[i][0]))
        out.append([(rows[i][0], float(scores[i])) for i in ranked[:50]])
    return out


def _grow(catalog: Catalog, index: LexicalIndex, papers: list[Paper]) -> None:
    """Adds in batches of uneven size, an updated abstract, a deletion, and a paper deleted then re-added."""
    for start, end in ((0, 30), (30, 31), (31, 45), (45, 47), (47, 60)):
        catalog.write([_entry(p) for p in papers[start:end]])
        assert index.refresh()
    changed = replace(papers[3], abstract="Zebra quokka lattices. " + papers[3].abstract[:200])
    catalog.write([_entry(changed)])
    index.refresh()
    catalog.delete_papers([papers[5].id, papers[31].id, papers[50].id])
    index.refresh()
    catalog.write([_entry(papers[50])])
    index.refresh()


def test_incremental_scores_equal_a_full_rebuild_and_bm25s(tmp_path, papers, questions):
    catalog, index = _index(tmp_path / "grown")
    _grow(catalog, index, papers)
    assert len(index._view.parts) > 1  # the comparison below is across segments, with deleted chunks in them
    assert any(len(p.deleted) for p in index._view.parts)

    full = LexicalIndex(tmp_path / "full.bm25", catalog, title_weight=TITLE_WEIGHT)
    full.rebuild()
    assert len(full._view.parts) == 1
    reader = LexicalIndex(tmp_path / "grown" / "papers.bm25", catalog, title_weight=TITLE_WEIGHT)  # loads from disk
    expected = _oracle(catalog, questions + ["zebra quokka"])
    for question, want in zip(questions + ["zebra quokka"], expected):
        got = reader.search(question, 50)
        assert got == full.search(question, 50)  # same ids, same order, bit-identical scores
        assert [c for c, _ in got] == [c for c, _ in want]
        np.testing.assert_array_equal(np.float32([s for _, s in got]), np.float32([s for _, s in want]))
    assert sum(bool(w) for w in expected) >= 35


def test_updated_and_deleted_papers(tmp_path, papers):
    catalog, index = _index(tmp_path)
    _grow(catalog, index, papers)
    found = {cid.split("#")[0] for cid, _ in index.search("zebra quokka lattices", 10)}
    assert found == {papers[3].id}
    old_words = " ".join(papers[3].abstract[250:].split()[:12])
    assert all(not cid.startswith(papers[3].id + "#") or int(cid.split("#")[1]) == 0
               for cid, _ in index.search(old_words, 100))  # the updated paper has one chunk now
    ids = index.chunk_ids()
    assert ids == {row[0] for row in catalog.lexical_rows()}
    assert not any(cid.startswith((papers[5].id + "#", papers[31].id + "#")) for cid in ids)
    assert any(cid.startswith(papers[50].id + "#") for cid in ids)  # deleted, then written again
    assert index.search(papers[5].title, 100, paper_ids=[papers[5].id]) == []
    assert index.search(papers[50].title, 5, paper_ids=[papers[50].id])[0][0].startswith(papers[50].id)


def test_adds_cost_the_new_papers_and_segments_stay_few(tmp_path, papers):
    catalog, index = _index(tmp_path)
    catalog.write([_entry(p) for p in papers[:80]])
    index.refresh()
    big = index._view.parts[0]
    reader = LexicalIndex(index._folder, catalog, title_weight=TITLE_WEIGHT)
    reader.ensure_fresh()
    loaded = reader._view.parts[0].segment
    for p in papers[80:100]:  # one paper per ingest, as a daily digest of one would do
        catalog.write([_entry(p)])
        index.refresh()
        newest = index._view.parts[-1]
        assert newest.segment.size <= sum(len(e[2]) for e in [_entry(q) for q in papers[80:100]])
    assert index._view.parts[0].name == big.name  # the big segment was never rewritten
    assert len(index._view.parts) <= 1 + 3 * 3  # the base, and at most 3 segments per size level (4, 16, 64)
    reader.ensure_fresh()
    assert reader.generation == catalog.generation
    assert reader._view.parts[0].segment is loaded  # readers load new segments only
    assert reader.chunk_ids() == {row[0] for row in catalog.lexical_rows()}
    # Small segments were merged (one holds several one-paper adds), and scores are still a full build's.
    assert any(len(set(p.segment.paper_ids)) > 1 for p in reader._view.parts[1:])
    full = LexicalIndex(tmp_path / "full.bm25", catalog, title_weight=TITLE_WEIGHT)
    full.rebuild()
    for paper in papers[78:100]:
        assert reader.search(paper.title, 20) == full.search(paper.title, 20)


def test_a_catalog_that_cannot_say_what_changed_gets_a_full_build(tmp_path, papers):
    catalog, index = _index(tmp_path)
    catalog.write([_entry(p) for p in papers[:10]])
    index.refresh()
    catalog.clear()  # the change log restarts: "everything changed"
    catalog.write([_entry(p) for p in papers[10:14]])
    assert index.refresh()
    assert len(index._view.parts) == 1
    assert index.chunk_ids() == {row[0] for row in catalog.lexical_rows()}
    assert catalog.changes_since(index.generation) == (catalog.generation, [])


def test_an_index_of_the_old_format_is_unusable_for_readers_and_rebuilt_by_writers(tmp_path, papers):
    catalog, index = _index(tmp_path)
    catalog.write([_entry(p) for p in papers[:5]])
    index.refresh()
    manifest = index._folder / "paperbot-manifest.json"
    manifest.write_text(json.dumps({"generation": catalog.generation, "title_repeats": 2, "has_model": True}))
    reader = LexicalIndex(index._folder, catalog, title_weight=TITLE_WEIGHT)
    assert reader.search(papers[0].title, 3) == [] and "older paperbot" in reader.problem
    assert "older paperbot" in reader.saved().problem
    assert index.refresh()
    assert reader.search(papers[0].title, 3) and reader.problem is None


def test_a_changed_segment_is_damage_never_searched(tmp_path, papers):
    catalog, index = _index(tmp_path)
    catalog.write([_entry(p) for p in papers[:10]])
    index.refresh()
    catalog.write([_entry(p) for p in papers[10:12]])
    index.refresh()
    segment = index._folder / index._view.parts[-1].name
    with np.load(segment) as data:
        arrays = dict(data)
    arrays["docs"][0] = 27_276_353
    np.savez(segment, **arrays)  # still a valid file: only the checksum, or the shape check, tells
    reader = LexicalIndex(index._folder, catalog, title_weight=TITLE_WEIGHT)
    assert reader.search(papers[0].title, 3) == []
    assert "does not match its checksum" in reader.problem and "`paperbot doctor --repair`" in reader.problem
    saved = json.loads((index._folder / "paperbot-manifest.json").read_text())
    for entry in saved["segments"]:
        del entry["sha256"]
    (index._folder / "paperbot-manifest.json").write_text(json.dumps(saved))
    assert "document numbers outside" in LexicalIndex(index._folder, catalog, title_weight=TITLE_WEIGHT).saved().problem
    index.rebuild()
    assert reader.search(papers[0].title, 3) and reader.problem is None


def test_a_reader_beside_a_writer_always_sees_a_complete_generation(tmp_path, papers):
    """A writer adding papers one batch at a time (its own catalog connection and index, as another process would
    have); a reader searching all the while sees, every time, exactly the chunks of one catalog generation."""
    folder = tmp_path / "store"
    catalog, writer = _index(folder)
    catalog.write([_entry(p) for p in papers[:40]])
    writer.refresh()
    chunks_at = {catalog.generation: frozenset(r[0] for r in catalog.lexical_rows())}
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for start in range(40, 100, 6):
                catalog.write([_entry(p) for p in papers[start:start + 6]])
                chunks_at[catalog.generation] = frozenset(r[0] for r in catalog.lexical_rows())
                writer.refresh()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    reader_catalog = Catalog(folder / "papers.sqlite3")
    reader = LexicalIndex(folder / "papers.bm25", reader_catalog, title_weight=TITLE_WEIGHT)
    thread = threading.Thread(target=write)
    thread.start()
    seen, rounds = set(), 0
    while thread.is_alive() or rounds < 3:
        hits = reader.search("model inference memory", 5)
        assert reader.problem is None and hits
        ids = reader.chunk_ids()
        assert ids == chunks_at[reader.generation]
        seen.add(reader.generation)
        rounds += 1
    thread.join()
    assert errors == []
    reader.ensure_fresh()
    assert reader.chunk_ids() == {r[0] for r in catalog.lexical_rows()}
    assert len(seen) >= 2  # it did read while the writer was adding
    reader_catalog.close()
