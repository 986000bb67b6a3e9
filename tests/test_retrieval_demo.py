"""Retrieval on the demo corpus: the developer-written paraphrase questions find their paper."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from paperbot.errors import QuestionError

QUESTIONS = Path(__file__).resolve().parents[1] / "evals" / "questions" / "demo.jsonl"


def _paraphrases() -> list[dict]:
    rows = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("paraphrase") and len(r["gold_paper_ids"]) == 1]


def test_h2o_query_ranks_h2o_first(demo_bot):
    hits = demo_bot.search("keep only heavy-hitter tokens in the KV cache", k=5)
    assert hits[0].title.startswith("H₂O: Heavy-Hitter Oracle")
    assert hits[0].chunks and hits[0].chunks[0].text  # the best chunk comes with its passage


def test_paraphrased_questions_find_their_paper(demo_bot):
    questions = _paraphrases()
    assert len(questions) >= 15
    top1 = top3 = 0
    misses = []
    for q in questions:
        ranked = [h.paper_id for h in demo_bot.search(q["question"], k=3)]
        gold = q["gold_paper_ids"][0]
        top1 += ranked[:1] == [gold]
        top3 += gold in ranked
        if gold not in ranked:
            misses.append(q["id"])
    # Measured: see evals/results; thresholds leave room for noise-free regressions only.
    assert top1 >= 15, f"only {top1} of {len(questions)} at rank 1; missed in top 3: {misses}"
    assert top3 >= 0.8 * len(questions), f"top-3 {top3}/{len(questions)}; missed {misses}"


@pytest.mark.parametrize("mode", ["dense", "lexical", "hybrid"])
def test_every_mode_returns_ranked_papers(demo_bot, mode):
    hits = demo_bot.search("speculative decoding with a draft model", k=5, mode=mode)
    assert len(hits) == 5
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    assert all(a.score >= b.score for a, b in zip(hits, hits[1:]))
    assert "speculative" in (hits[0].title + hits[0].best_chunk.text).lower()


def test_hybrid_hits_keep_all_matching_chunks_best_first(demo_bot):
    hits = demo_bot.search("flash memory DRAM windowing row-column bundling", k=3)
    best = hits[0]
    assert best.title.startswith("LLM in a flash")
    assert len(best.chunks) >= 2
    ranks = [(c.dense_rank, c.lexical_rank) for c in best.chunks]
    assert any(d is not None for d, _ in ranks) and any(lx is not None for _, lx in ranks)


def test_empty_and_stopword_queries(demo_bot):
    with pytest.raises(QuestionError, match="empty"):
        demo_bot.search("   ", k=5)
    assert len(demo_bot.search("the of and", k=3)) == 3  # dense still answers; lexical falls back to the words
