"""The scale benchmark's synthetic copies and replay embedder, on a few real demo papers, and a small ingest of
synthetic chunks through PaperBot (no timing: speed is measured by evals/scale.py)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from evals.replay import EmbeddingTable, ReplayEmbedder
from evals.synthetic import SYNTHETIC_TITLE, papers_for_chunks, perturb
from paperbot.bot import PaperBot
from paperbot.ingest.chunking import Chunker
from paperbot.ingest.loaders import load_papers
from paperbot.llm.tokens import TiktokenCounter


@pytest.fixture(scope="module")
def real(demo_corpus):
    return load_papers([demo_corpus]).papers[:12]


@pytest.fixture(scope="module")
def table(real, embedder, models_dir):
    """The prepare step in small: the real chunks embedded once by the real model."""
    from paperbot.llm.tokens import use_cache_dir

    use_cache_dir(models_dir / "tiktoken")
    chunker = Chunker(embedder, TiktokenCounter("cl100k_base").count_many)
    chunk_lists = chunker.chunk_many(real)
    texts = [c.embed_text for cl in chunk_lists for c in cl]
    return EmbeddingTable(texts, embedder.embed(texts), {p.id: len(cl) for p, cl in zip(real, chunk_lists)})


def test_copies_are_deterministic_labelled_and_differ(real):
    paper = real[0]
    first, again, second = perturb(paper, 1), perturb(paper, 1), perturb(paper, 2)
    assert first == again
    assert first.id == f"synthetic-1:{paper.id}" and second.id == f"synthetic-2:{paper.id}"
    assert first.title == f"[synthetic 1] {paper.title}"
    assert SYNTHETIC_TITLE.match(second.title).group(1) == "2"
    assert "synthetic copy 1" in first.source and first.url is None and first.arxiv_id is None
    assert first.abstract != paper.abstract and first.abstract != second.abstract
    # Perturbed, not rewritten: nearly all the words survive.
    original, kept = paper.abstract.split(), first.abstract.split()
    assert 0.9 * len(original) <= len(kept) <= len(original)
    assert set(kept) <= set(original)


def test_every_copy_differs_from_its_source_and_ids_are_unique(real):
    copies = [perturb(p, n) for n in (1, 2, 3) for p in real]
    assert len({c.id for c in copies}) == len(copies)
    sources = {p.id: p.abstract for p in real}
    assert all(c.abstract != sources[c.id.split(":", 1)[1]] for c in copies)
    assert perturb(real[0], 1, seed=1) != perturb(real[0], 1, seed=0)


def test_stream_is_real_papers_first_then_copies_until_the_target(real, table):
    total_real = sum(table.chunk_counts.values())
    stream = list(papers_for_chunks(real, table.chunk_counts, total_real * 2 + 1))
    assert sorted(p.id for p in stream[: len(real)]) == sorted(p.id for p in real)
    assert all(p.id.startswith("synthetic-1:") for p in stream[len(real) : 2 * len(real)])
    assert stream[-1].id.startswith("synthetic-2:")  # just past 2x: the first paper of the third round
    assert len({p.id for p in stream}) == len(stream)
    assert [p.id for p in papers_for_chunks(real, table.chunk_counts, 40)] == \
        [p.id for p in papers_for_chunks(real, table.chunk_counts, 40)]


def test_replay_embedder(real, table, embedder, models_dir):
    from paperbot.llm.tokens import use_cache_dir

    use_cache_dir(models_dir / "tiktoken")
    replay = ReplayEmbedder(embedder, table)
    assert (replay.id, replay.max_tokens, replay.special_tokens) == (embedder.id, embedder.max_tokens, 2)
    # Real chunks: exactly the stored vectors.
    assert np.array_equal(replay.embed(table.texts[:5]), table.vectors[:5])
    # Synthetic chunks: close to their source chunk, not equal, deterministic, unit length.
    chunker = Chunker(replay, TiktokenCounter("cl100k_base").count_many)
    chunks = [c for cl in chunker.chunk_many([perturb(p, 1) for p in real]) for c in cl]
    vectors = replay.embed([c.embed_text for c in chunks])
    assert replay.fallbacks == 0 and replay.synthetic == len(chunks)
    assert np.array_equal(vectors, replay.embed([c.embed_text for c in chunks]))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    truth = embedder.embed([c.embed_text for c in chunks])  # what the model would have said about the copies
    similarity = np.sum(vectors * truth, axis=1)
    assert similarity.mean() > 0.8 and similarity.min() > 0.6 and similarity.max() < 0.999
    # Anything else (a query) goes to the real model.
    query = "how do models cut the memory of attention?"
    assert np.allclose(replay.embed([query]), embedder.embed([query]), atol=1e-6)
    assert replay.fallbacks == 1


def test_synthetic_chunks_ingest_through_paperbot_streamed(real, table, embedder, make_settings):
    replay = ReplayEmbedder(embedder, table)
    # Small batches, so the generator is streamed over several windows of papers.
    bot = PaperBot(make_settings(ingest_batch_size=8), embedder=replay)
    report = bot.ingest_papers(papers_for_chunks(real, table.chunk_counts, 300))
    assert report.papers_seen > 8 * 8, "the stream must span more than one window"
    # The target counts a copy as its source's chunks; shuffled sentences may pack into a few more.
    assert 300 <= report.chunks_written < 330
    assert replay.fallbacks == 0  # nothing was embedded by the model
    stats = bot.stats()
    assert stats.chunks == stats.lexical_chunks == report.chunks_written
    assert stats.papers == report.papers_seen == len(report.added)
    assert stats.embedder == embedder.id
    hits = bot.search(real[3].title, k=5)
    assert {re.sub(r"^synthetic-\d+:", "", h.paper_id) for h in hits} == {real[3].id}
    assert all(h.title.endswith(real[3].title) for h in hits)
    synthetic = [h for h in hits if h.paper_id.startswith("synthetic-")]
    assert synthetic and all(SYNTHETIC_TITLE.match(h.title) for h in synthetic)
    # A second run over the same stream writes nothing.
    again = bot.ingest_papers(papers_for_chunks(real, table.chunk_counts, 300))
    assert again.chunks_written == 0 and len(again.unchanged) == report.papers_seen


def test_copy_chunker_cuts_copies_like_their_sources_and_leaves_real_papers_to_the_chunker(real, table, embedder):
    from evals.scale import CopyChunker

    chunker = Chunker(embedder, TiktokenCounter("cl100k_base").count_many)
    fast = CopyChunker(chunker, table.chunk_counts)
    copies = [perturb(p, 3) for p in real]
    lists = fast.chunk_many([real[0], *copies])
    assert lists[0] == chunker.chunk(real[0])  # a real paper: the real chunker's chunks
    assert fast.copies == len(copies)
    for copy, source, chunks in zip(copies, real, lists[1:]):
        # Never more chunks than the source (a cut only at a sentence end), each a slice of the copy's abstract.
        assert 1 <= len(chunks) <= table.chunk_counts[source.id]
        assert [c.id for c in chunks] == [f"{copy.id}#{i}" for i in range(len(chunks))]
        assert all(c.text and c.text == copy.abstract[c.char_start:c.char_end].strip() for c in chunks)
        assert " ".join(c.text for c in chunks).split() == copy.abstract.split()
        assert all(SYNTHETIC_TITLE.match(c.title) for c in chunks)
    multi = [cl for s, cl in zip(real, lists[1:]) if table.chunk_counts[s.id] > 1]
    assert any(len(cl) > 1 for cl in multi)  # copies of multi-chunk papers are cut
