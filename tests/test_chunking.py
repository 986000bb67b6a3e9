"""Chunk bounds: every chunk fits the embedder (checked with its own tokenizer), covers its paper, overlaps by a sentence."""

from __future__ import annotations

from paperbot.ingest.chunking import Chunker
from paperbot.ingest.loaders import load_papers
from paperbot.llm.tokens import TiktokenCounter, use_cache_dir
from paperbot.store.minilm import MAX_TOKENS
from paperbot.text.sentences import sentence_spans
from paperbot.types import Paper


def _chunker(embedder, models_dir, max_tokens=None):
    use_cache_dir(models_dir / "tiktoken")
    return Chunker(embedder, TiktokenCounter("cl100k_base").count_many, max_tokens)


def _uncut_length(embedder, text: str) -> int:
    tokenizer = embedder._function.counting_tokenizer  # the model's own tokenizer, truncation off
    return len(tokenizer.encode(text).ids)


def test_every_demo_chunk_fits_and_covers_its_paper(embedder, models_dir, demo_corpus):
    papers = load_papers([demo_corpus]).papers
    chunker = _chunker(embedder, models_dir)
    all_chunks = chunker.chunk_many(papers)
    assert sum(len(c) for c in all_chunks) > len(papers)  # most abstracts need more than one chunk
    for paper, chunks in zip(papers, all_chunks):
        assert chunks, paper.id
        for i, chunk in enumerate(chunks):
            exact = _uncut_length(embedder, chunk.embed_text)
            assert exact == chunk.embed_tokens <= MAX_TOKENS, (paper.id, i, exact)
            assert paper.abstract[chunk.char_start : chunk.char_end] == chunk.text
            assert chunk.id == f"{paper.id}#{i}" and chunk.index == i and chunk.paper_id == paper.id
            assert chunk.tiktoken_tokens > 0
        assert chunks[0].char_start == 0
        assert chunks[-1].char_end == len(paper.abstract.rstrip())
        sentence_starts = {s for s, _ in sentence_spans(paper.abstract)}
        for before, after in zip(chunks, chunks[1:]):
            assert after.char_start in sentence_starts, "chunks start on sentence boundaries"
            overlap = paper.abstract[after.char_start : before.char_end]
            assert after.char_start < before.char_end and len(sentence_spans(overlap)) == 1, "one sentence of overlap"


def test_sentence_longer_than_the_budget_is_split_not_cut(embedder, models_dir):
    sentence = " ".join(f"token{i} alpha beta" for i in range(400)) + "."
    paper = Paper(id="long", title="A paper with one enormous sentence", abstract=f"Short start. {sentence} Short end.")
    chunks = _chunker(embedder, models_dir).chunk(paper)
    assert len(chunks) >= 5
    assert all(_uncut_length(embedder, c.embed_text) <= MAX_TOKENS for c in chunks)
    words_seen = set()
    for chunk in chunks:
        words_seen.update(chunk.text.split())
    assert set(paper.abstract.split()) <= words_seen, "no word is dropped"


def test_tighter_budget_gives_more_smaller_chunks(embedder, models_dir, demo_corpus):
    paper = load_papers([demo_corpus]).papers[0]
    default = _chunker(embedder, models_dir).chunk(paper)
    small = _chunker(embedder, models_dir, max_tokens=96).chunk(paper)
    assert len(small) > len(default)
    assert all(c.embed_tokens <= 96 for c in small)


def test_very_long_title_still_leaves_room_for_text(embedder, models_dir):
    title = "Extremely " * 120 + "Long Title"
    paper = Paper(id="t", title=title, abstract="First sentence here. Second sentence there.")
    chunks = _chunker(embedder, models_dir).chunk(paper)
    assert chunks and all(c.embed_tokens <= MAX_TOKENS for c in chunks)
    assert "".join(c.text for c in chunks).startswith("First sentence here.")
