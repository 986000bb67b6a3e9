"""The alternative embedder: an OpenAI-compatible /embeddings endpoint, recorded by the store that it built."""

from __future__ import annotations

import pytest

from paperbot.bot import PaperBot
from paperbot.errors import EmbedderMismatchError
from tests.corpus_files import demo_records, write_jsonl
from tests.fake_openai import Fault


@pytest.fixture
def openai_settings(make_settings, fake_openai):
    def make(**overrides):
        return make_settings(embedder="openai", openai_embedding_model="fake-embed",
                             openai_api_key=fake_openai.api_key, openai_base_url=fake_openai.base_url,
                             retry_base_seconds=0.01, **overrides)

    return make


def test_store_built_with_openai_embeddings(tmp_path, openai_settings, fake_openai, demo_corpus):
    corpus = write_jsonl(tmp_path / "papers.jsonl", demo_records(demo_corpus, 6))
    bot = PaperBot(openai_settings())
    report = bot.ingest([corpus])
    assert len(report.added) == 6
    assert bot.stats().embedder == "openai/fake-embed"
    embedding_requests = fake_openai.requests_to("embeddings")
    assert embedding_requests and all(r.body["model"] == "fake-embed" for r in embedding_requests)
    title = bot.papers()[0].title
    assert bot.search(title, k=1, mode="dense")[0].title == title
    assert all(c.embed_tokens <= bot.embedder.max_tokens for p in bot.papers() for c in bot.catalog.chunks_of(p.id))


def test_embedding_retries_then_succeeds(tmp_path, openai_settings, fake_openai, demo_corpus):
    corpus = write_jsonl(tmp_path / "papers.jsonl", demo_records(demo_corpus, 2))
    fake_openai.script(Fault.status(503, path="/v1/embeddings"), Fault.reset(path="/v1/embeddings"))
    bot = PaperBot(openai_settings())
    assert len(bot.ingest([corpus]).added) == 2
    assert len(fake_openai.requests_to("embeddings")) == 3


def test_minilm_store_refuses_openai_embedder(tmp_path, make_bot, openai_settings, demo_corpus):
    corpus = write_jsonl(tmp_path / "papers.jsonl", demo_records(demo_corpus, 1))
    make_bot().ingest([corpus])
    with pytest.raises(EmbedderMismatchError, match="openai/fake-embed"):
        PaperBot(openai_settings()).search("anything")
