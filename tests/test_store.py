"""Store behaviour on real Chroma (embedded and server): idempotent ingest, replacement, provenance, filters."""

from __future__ import annotations

import pytest

from paperbot.errors import CorpusError, EmbedderMismatchError
from paperbot.types import SearchFilters
from tests.corpus_files import demo_records, write_jsonl


def _chroma_ids(bot) -> set[str]:
    return {stored.chunk.id for stored in bot.vectors.iter_chunks()}


def _lexical_ids(bot) -> set[str]:
    return bot.lexical.chunk_ids()


def test_reingest_adds_nothing(tmp_path, make_bot, demo_corpus, store_kind):
    corpus = write_jsonl(tmp_path / "papers.jsonl", demo_records(demo_corpus, 6))
    bot = make_bot(collection=f"idem-{tmp_path.name[-20:].replace('_', '-')}", **store_kind)
    first = bot.ingest([corpus])
    assert (len(first.added), len(first.unchanged)) == (6, 0)
    chunks = _chroma_ids(bot)
    second = bot.ingest([corpus])
    assert (len(second.added), len(second.updated), len(second.unchanged), second.chunks_written) == (0, 0, 6, 0)
    assert _chroma_ids(bot) == chunks == _lexical_ids(bot)
    assert bot.stats().papers == 6


def test_changed_abstract_replaces_chunks_without_stale_ones(tmp_path, make_bot, demo_corpus, store_kind):
    records = demo_records(demo_corpus, 3)
    corpus = write_jsonl(tmp_path / "papers.jsonl", records)
    bot = make_bot(collection=f"chg-{tmp_path.name[-20:].replace('_', '-')}", **store_kind)
    bot.ingest([corpus])
    target = bot.papers()[0].id
    target_record = next(r for r in records if bot.paper(target).title == r["title"])
    before = {c.id for c in bot.catalog.chunks_of(target)}
    assert len(before) >= 2, "pick a paper long enough to have several chunks"
    target_record["abstract"] = "A short replacement abstract about quantised attention kernels."
    write_jsonl(corpus, records)
    report = bot.ingest([corpus])
    assert report.updated == [target] and len(report.unchanged) == 2
    after = {c.id for c in bot.catalog.chunks_of(target)}
    assert after == {f"{target}#0"}
    assert {cid for cid in _chroma_ids(bot) if cid.startswith(target + "#")} == after
    assert _chroma_ids(bot) == _lexical_ids(bot)
    assert bot.paper(target).abstract == target_record["abstract"]
    assert bot.search("quantised attention kernels", k=1)[0].paper_id == target


def test_failed_ingest_changes_nothing(tmp_path, make_bot, demo_corpus):
    good = write_jsonl(tmp_path / "good.jsonl", demo_records(demo_corpus, 2))
    bot = make_bot()
    bot.ingest([good])
    before = (_chroma_ids(bot), bot.stats().papers)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "Fine paper", "abstract": "It has text."}\n{"title": "Broken", "abstract": \n')
    with pytest.raises(CorpusError) as caught:
        bot.ingest([bad])
    assert "bad.jsonl:2" in str(caught.value)
    assert (_chroma_ids(bot), bot.stats().papers) == before
    report = bot.ingest([bad], skip_bad=True)
    assert len(report.added) == 1 and len(report.skipped) == 1
    assert report.skipped[0].source.endswith("bad.jsonl:2")


def test_same_paper_twice_is_merged(tmp_path, make_bot, demo_corpus):
    record = demo_records(demo_corpus, 1)[0]
    copy = {**record, "url": "https://example.org/paper", "authors": []}
    corpus = write_jsonl(tmp_path / "dupes.jsonl", [record, copy])
    bot = make_bot()
    report = bot.ingest([corpus])
    assert len(report.added) == 1 and len(report.merged) == 1
    paper = bot.papers()[0]
    assert paper.url == "https://example.org/paper" and paper.authors == ("Author 0", "Shared Name")


def test_other_embedder_is_refused(tmp_path, make_bot, demo_corpus, store_kind):
    corpus = write_jsonl(tmp_path / "papers.jsonl", demo_records(demo_corpus, 1))
    name = f"emb-{tmp_path.name[-20:].replace('_', '-')}"
    make_bot(collection=name, **store_kind).ingest([corpus])
    other = make_bot(collection=name, embedder="openai", **store_kind)
    other._embedder = None  # as configured: an OpenAI embedder would be built
    with pytest.raises(EmbedderMismatchError) as caught:
        other.stats()
    message = str(caught.value)
    assert "chroma-onnx/all-MiniLM-L6-v2" in message and "openai/text-embedding-3-small" in message
    assert "--collection" in message


def test_catalog_rebuilds_from_chroma(tmp_path, make_bot, demo_corpus, store_kind):
    corpus = write_jsonl(tmp_path / "papers.jsonl", demo_records(demo_corpus, 4))
    name = f"reb-{tmp_path.name[-20:].replace('_', '-')}"
    bot = make_bot(collection=name, **store_kind)
    bot.ingest([corpus])
    papers_before = {p.id: p for p in bot.papers()}
    hits_before = [h.paper_id for h in bot.search("memory efficient inference", k=4, mode="lexical")]
    catalog_path = bot._catalog_path()
    bot.catalog.close()
    for suffix in ("", "-wal", "-shm"):
        catalog_path.with_name(catalog_path.name + suffix).unlink(missing_ok=True)
    fresh = make_bot(collection=name, **store_kind)
    assert {p.id: p for p in fresh.papers()} == {pid: p for pid, p in papers_before.items()}
    assert [h.paper_id for h in fresh.search("memory efficient inference", k=4, mode="lexical")] == hits_before
    assert _lexical_ids(fresh) == _chroma_ids(fresh)


def test_filters(tmp_path, make_bot, demo_corpus, store_kind):
    records = demo_records(demo_corpus, 5)  # years 2020..2024, authors "Author i" and "Shared Name"
    corpus = write_jsonl(tmp_path / "papers.jsonl", records)
    bot = make_bot(collection=f"flt-{tmp_path.name[-20:].replace('_', '-')}", **store_kind)
    bot.ingest([corpus])
    query = "efficient inference of large models"
    years = {h.year for h in bot.search(query, k=10, filters=SearchFilters(year_min=2022, year_max=2023))}
    assert years == {2022, 2023}
    by_author = bot.search(query, k=10, filters=SearchFilters(authors=("author 3",)))
    assert [h.authors[0] for h in by_author] == ["Author 3"]
    some = [p.id for p in bot.papers()][:2]
    assert {h.paper_id for h in bot.search(query, k=10, filters=SearchFilters(paper_ids=tuple(some)))} == set(some)
    assert bot.search(query, k=10, filters=SearchFilters(year_min=2030)) == []
    assert len(bot.search(query, k=2)) == 2


def test_distinct_ids_with_the_same_title_stay_distinct(tmp_path, make_bot):
    records = [{"id": "doc-1", "title": "Summary", "abstract": "First document about kinase inhibitors."},
               {"id": "doc-2", "title": "Summary", "abstract": "Second document about cardiac imaging."},
               {"title": "Summary", "abstract": "A third copy without an id of its own."}]
    corpus = write_jsonl(tmp_path / "same-title.jsonl", records)
    report = make_bot().ingest([corpus])
    # The two with ids stay apart; the id-less copy merges into the first paper of that title.
    assert sorted(report.added) == ["doc-1", "doc-2"] and report.merged == ["doc-1"]


def test_id_less_copy_of_a_stored_paper_keeps_the_stored_id(tmp_path, make_bot, demo_corpus):
    record = demo_records(demo_corpus, 1)[0]
    bot = make_bot()
    bot.ingest([write_jsonl(tmp_path / "a.jsonl", [{**record, "arxiv_id": "2306.14048"}])])
    report = bot.ingest([write_jsonl(tmp_path / "b.jsonl", [record])])
    assert report.added == [] and report.unchanged == ["arxiv:2306.14048"]
    assert [(p.id, p.arxiv_id) for p in bot.papers()] == [("arxiv:2306.14048", "2306.14048")]
