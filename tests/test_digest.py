"""Digests: themes from paper embeddings on the demo corpus (extractive), and LLM map-reduce through the real
openai client against a real local server, every call inside the prompt budget."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from paperbot.errors import ConfigError
from paperbot.llm.tokens import count_messages
from paperbot.summaries.formats import digest_markdown
from paperbot.summaries.numbered import sentence_exists

SPECULATIVE = ("Online Speculative Decoding", "Speculative Decoding with Big Little Decoder")
DIFFUSION = ("Adaptive Guidance: Training-free Acceleration of Conditional Diffusion",
             "Effortless Efficiency: Low-Cost Pruning of Diffusion Models", "Multi-student Diffusion Distillation",
             "eDiff-I")
# Ten papers from three corners of the demo corpus, for LLM digests that must map and reduce.
SAMPLE = SPECULATIVE + DIFFUSION[:2] + ("H₂O", "SwiftKV", "InstInfer", "LLM in a flash", "Large Language Monkeys",
                                        "Bag of Tricks")


def ids_of(bot, prefixes) -> list[str]:
    return [p.id for p in bot.papers() if p.title.startswith(tuple(prefixes))]


@pytest.fixture
def llm_settings(demo_store, fake_openai):
    return {"data_dir": demo_store, "openai_api_key": fake_openai.api_key, "openai_base_url": fake_openai.base_url,
            "chat_model": "fake-chat", "retry_base_seconds": 0.01}


def keys_in(request: dict) -> list[str]:
    """The keys a digest call may cite: listed at the end of its instructions (the first user message)."""
    user = next(m["content"] for m in request["messages"] if m["role"] == "user")
    return re.findall(r"P\d+", user.rsplit("Use only these keys:", 1)[1])


def theme_reply(request: dict) -> str:
    keys = keys_in(request)
    merge = "<partials>" in request["messages"][-1]["content"]
    name = "Merged theme" if merge else "Partial theme"
    return json.dumps({"name": name, "paragraph": f"These papers speed up inference [{keys[0]}]. "
                                                  f"They report gains [{', '.join(keys[1:3]) or keys[0]}]."})


def test_extractive_digest_of_the_demo_corpus(demo_bot):
    digest = demo_bot.digest(mode="extractive")
    papers = {p.id: p for p in demo_bot.papers()}
    by_key = {p.key: p.paper_id for p in digest.papers}
    members = [key for theme in digest.themes for key in theme.paper_keys]
    assert sorted(members) == sorted(by_key) and len(members) == len(papers) == len(set(by_key.values()))
    assert 2 <= len(digest.themes) <= 12
    theme_of = {by_key[key]: i for i, theme in enumerate(digest.themes) for key in theme.paper_keys}
    for group in (SPECULATIVE, DIFFUSION):
        assert len({theme_of[pid] for pid in ids_of(demo_bot, group)}) == 1, group
    assert theme_of[ids_of(demo_bot, SPECULATIVE)[0]] != theme_of[ids_of(demo_bot, DIFFUSION)[0]]
    diffusion_theme = digest.themes[theme_of[ids_of(demo_bot, DIFFUSION)[0]]]
    assert "diffusion" in diffusion_theme.name.lower()
    for theme in digest.themes:
        assert theme.cited and theme.name and theme.keywords
        for cited in theme.cited:
            assert by_key[cited.key] == cited.paper_id and cited.key in theme.paper_keys
            assert sentence_exists(papers[cited.paper_id], cited.sentence)
            assert f"{cited.sentence.text.rstrip()} [{cited.key}]" in theme.paragraph
        assert set(re.findall(r"\[(P\d+)\]", theme.paragraph)) == {c.key for c in theme.cited}
        assert all(s.supported for s in theme.support)
    text = digest_markdown(digest)
    assert text.count("\n## ") == len(digest.themes) and all(f"[{key}] " in text for key in by_key)
    assert digest.plan.calls == () and digest.requests == 0


def test_paper_vectors_are_mean_chunk_vectors(demo_bot):
    paper = next(p for p in demo_bot.papers() if len(demo_bot.catalog.chunks_of(p.id)) > 1)
    vectors = demo_bot.vectors.paper_vectors([paper.id, "no-such-paper"])
    assert list(vectors) == [paper.id]
    chunks = demo_bot.catalog.chunks_of(paper.id)
    mean = demo_bot.embedder.embed([c.embed_text for c in chunks]).mean(axis=0)
    assert np.allclose(vectors[paper.id], mean / np.linalg.norm(mean), atol=1e-4)


def test_query_digest_covers_only_the_matching_papers(demo_bot):
    digest = demo_bot.digest(query="speculative decoding with a draft model", k=6, mode="extractive")
    hits = [h.paper_id for h in demo_bot.search("speculative decoding with a draft model", k=6)]
    assert sorted(p.paper_id for p in digest.papers) == sorted(hits)
    assert digest.query and "speculative decoding" in digest_markdown(digest)


def test_a_query_digest_keeps_the_papers_that_match_and_quotes_sentences_that_stand_alone(demo_bot):
    from paperbot.text.standalone import self_contained

    digest = demo_bot.digest(query="KV cache", mode="extractive")
    papers = {p.id: p for p in demo_bot.papers()}
    assert 2 <= len(digest.papers) < demo_bot.settings.digest_k, "a relevance floor, not a fixed k"
    kept = [papers[p.paper_id] for p in digest.papers]
    assert all(re.search(r"\bKV\b|key-value", f"{p.title} {p.abstract}") for p in kept[3:])
    assert not any(p.title.startswith("LLM in a flash") for p in kept), "it never mentions the KV cache"
    assert all(self_contained(c.sentence.text) for theme in digest.themes for c in theme.cited)
    assert all(" " in theme.keywords[0] for theme in digest.themes), "themes are named by two-word phrases"


def test_sentences_that_lean_on_their_context_are_not_self_contained():
    from paperbot.text.standalone import self_contained

    for leaning in ("Within this flash memory-informed framework, we introduce two principal techniques.",
                    "These tokens contribute most of the value.", "To address this, we propose X.",
                    "However, it is slow.", "As shown in Fig. 2, the method wins.",
                    "The aforementioned issues remain."):
        assert not self_contained(leaning), leaning
    for standing in ("In this paper, we introduce SwiftKV, which cuts prefill compute by 50%.",
                     "Speculative decoding accelerates inference with a small draft model."):
        assert self_contained(standing), standing


def test_matching_papers_is_a_relevance_floor_and_themes_prefer_phrases():
    from paperbot.summaries.digest import matching_papers
    from paperbot.summaries.keywords import theme_keywords
    from paperbot.text.terms import Vocabulary
    from paperbot.types import Paper

    def paper(n: int, abstract: str) -> Paper:
        return Paper(f"p{n}", f"Paper {n}", abstract)

    found = [paper(1, "Dense search liked it."), paper(2, "Nothing relevant here."), paper(3, "Also unrelated."),
             paper(4, "We compress the KV cache by 4x."), paper(5, "Diffusion models sample faster."),
             paper(6, "Eviction keeps a small KV cache.")]
    vocabulary = Vocabulary(p.abstract for p in found)
    assert [p.id for p in matching_papers("KV cache", found, vocabulary)] == ["p1", "p2", "p3", "p4", "p6"]
    groups = [[paper(1, "KV cache eviction keeps heavy hitters. Language models are large."),
               paper(2, "KV cache eviction by attention scores. Language models are large.")],
              [paper(3, "Diffusion models sample in fewer denoising steps. Language models are large."),
               paper(4, "Distilled diffusion models need fewer denoising steps. Language models are large.")]]
    names = theme_keywords(groups)
    assert "KV cache" in names[0] and any("denoising" in name or "diffusion" in name.lower() for name in names[1])
    assert all(" " in name for name in names[0] + names[1]), "two-word phrases, with two or more at hand"
    assert not any("Language models" in name for name in names[0] + names[1]), "shared by all: no distinction"


def test_llm_digest_maps_and_reduces_inside_a_tiny_budget(make_bot, llm_settings, fake_openai):
    limit = 600
    bot = make_bot(**llm_settings, max_prompt_tokens=limit, max_answer_tokens=60)
    fake_openai.responder = theme_reply
    ids = ids_of(bot, SAMPLE)
    prepared = bot.prepare_digest(ids, mode="llm")
    assert fake_openai.requests_to("chat/completions") == []  # planning sends nothing
    steps = [c.step for c in prepared.plan.calls]
    assert "map" in steps and "reduce" in steps

    digest = bot.digest(ids, mode="llm")
    requests = fake_openai.requests_to("chat/completions")
    assert len(requests) == len(prepared.plan.calls) == digest.requests >= 4
    for request in requests:
        assert count_messages(request.messages, bot.llm_counter) <= limit
        assert request.body["max_tokens"] == 60
    for planned, request in zip(prepared.plan.calls, requests):
        # Theme and map prompts are counted exactly; merge prompts are bounded before their inputs exist.
        sent = count_messages(request.messages, bot.llm_counter)
        assert sent == planned.prompt_tokens if planned.step != "reduce" else sent <= planned.prompt_tokens
    assert sorted(k for t in digest.themes for k in t.paper_keys) == sorted(p.key for p in digest.papers)
    assert len(digest.papers) == len(ids)
    for theme in digest.themes:
        cited = set(re.findall(r"P\d+", theme.paragraph))
        assert cited and cited <= set(theme.paper_keys)
    reduced = {c.theme for c in prepared.plan.calls if c.step == "reduce"}
    assert all(digest.themes[i].name == "Merged theme" for i in reduced)
    assert digest.usage.prompt_tokens > 0 and digest.mode == "llm" and digest.model == "fake-chat"


def test_dry_run_plan_estimates_the_cost_without_an_api(make_bot, demo_store):
    bot = make_bot(data_dir=demo_store, max_prompt_tokens=800, max_answer_tokens=100)
    plan = bot.prepare_digest(mode="llm").plan  # gpt-4o-mini by default, priced in the table; no API configured
    assert plan.mode == "llm" and plan.model == "gpt-4o-mini" and plan.papers == 115
    assert len(plan.calls) > plan.themes and all(c.prompt_tokens <= 800 for c in plan.calls)
    expected = (plan.prompt_tokens * 0.15 + plan.max_output_tokens * 0.60) / 1e6
    assert plan.estimated_cost_usd == pytest.approx(expected)
    assert {k for c in plan.calls if c.step != "reduce" for k in c.papers} == {f"P{i}" for i in range(1, 116)}
    with pytest.raises(ConfigError, match="LLM mode needs a language model"):  # planned, but cannot run
        bot.digest(mode="llm")


def test_invented_keys_are_removed_from_llm_paragraphs(make_bot, llm_settings, fake_openai):
    bot = make_bot(**llm_settings)
    fake_openai.responder = lambda r: json.dumps(
        {"name": "Fast decoding", "paragraph": f"Draft models help [{keys_in(r)[0]}]. So does magic [P99]."})
    digest = bot.digest(ids_of(bot, SPECULATIVE), mode="llm")
    [theme] = digest.themes
    assert "[P99]" not in theme.paragraph and theme.invalid_keys_removed == 1
    assert theme.name == "Fast decoding" and digest.requests == 1


def test_a_paragraph_without_citations_is_repaired(make_bot, llm_settings, fake_openai):
    bot = make_bot(**llm_settings)
    replies = iter([json.dumps({"name": "Fast decoding", "paragraph": "Draft models help."}), None])
    fake_openai.responder = lambda r: next(replies) or theme_reply(r)
    digest = bot.digest(ids_of(bot, SPECULATIVE), mode="llm")
    first, second = fake_openai.requests_to("chat/completions")
    assert "paragraph cites none of the sources" in second.messages[-1]["content"]
    assert digest.requests == 2 and re.search(r"\[P\d", digest.themes[0].paragraph)


def test_a_budget_too_small_to_merge_says_what_to_raise(make_bot, llm_settings):
    bot = make_bot(**llm_settings, max_prompt_tokens=420, max_answer_tokens=300)
    with pytest.raises(ConfigError, match="PAPERBOT_MAX_PROMPT_TOKENS"):
        bot.prepare_digest(ids_of(bot, SAMPLE), mode="llm")


@pytest.mark.slow
def test_cli_digest_writes_markdown_and_dry_run_prints_the_plan(demo_store, models_dir, tmp_path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")},
           "PAPERBOT_DATA_DIR": str(demo_store), "PAPERBOT_MODELS_DIR": str(models_dir)}

    def run(*args):
        done = subprocess.run([sys.executable, "-m", "paperbot", "digest", *args], env=env, text=True,
                              capture_output=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    target = tmp_path / "digest.md"
    assert "115 papers in" in run("--out", str(target))
    text = target.read_text(encoding="utf-8")
    assert text.startswith("# Digest: 115 papers") and "## 1. " in text and "[P115]" in text
    plan = run("--dry-run", "--mode", "llm")
    assert re.search(r"gpt-4o-mini: \d+ calls for 115 papers", plan) and "cost at most $" in plan
    assert "Nothing was sent." in plan
    assert "no LLM calls" in run("--dry-run")
