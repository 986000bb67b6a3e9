"""The lexical index's own top-k scoring gives exactly what bm25s's `retrieve` gives, filtered or not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from paperbot.store.lexical import _top_k
from paperbot.terms import terms

QUESTIONS = Path(__file__).resolve().parents[1] / "evals" / "questions" / "demo.jsonl"


def _compare(model, tokens, k, mask):
    ours_docs, ours_scores = _top_k(model, tokens, k, mask)
    docs, scores = model.retrieve([tokens], k=k, show_progress=False, n_threads=1, weight_mask=mask)
    docs, scores = docs[0], scores[0]
    np.testing.assert_allclose(ours_scores, scores, rtol=1e-6)
    # Documents may only differ where scores tie at the cut-off; above it they are the same set, in score order.
    cutoff = scores[-1]
    assert {d for d, s in zip(ours_docs, ours_scores) if s > cutoff} == {d for d, s in zip(docs, scores) if s > cutoff}
    assert list(ours_scores) == sorted(ours_scores, reverse=True)


def test_top_k_matches_bm25s_retrieve_on_the_demo_questions(demo_bot):
    lexical = demo_bot.lexical
    lexical.ensure_fresh()
    model = lexical._model
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]
    rng = np.random.default_rng(7)
    checked = 0
    for question in questions:
        tokens = [t for t in dict.fromkeys(terms(question)) if t in lexical._vocabulary]
        if not tokens:
            continue
        for k in (1, 10, 100):
            _compare(model, tokens, k, None)
            mask = (rng.random(model.scores["num_docs"]) < 0.3).astype(np.float32)  # a paper filter
            _compare(model, tokens, k, mask)
        checked += 1
    assert checked >= 60
