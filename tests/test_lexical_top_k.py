"""The lexical index's top-k gives exactly what bm25s's `retrieve` gives on the same chunks, filtered or not."""

from __future__ import annotations

import json
from pathlib import Path

import bm25s
import numpy as np

from paperbot.text.terms import terms

QUESTIONS = Path(__file__).resolve().parents[1] / "evals" / "questions" / "demo.jsonl"


def _compare(lexical, model, rows, question, tokens, k, allowed):
    ids = [r[0] for r in rows]
    ours = lexical.search(question, k, allowed)
    mask = None if allowed is None else np.isin([r[1] for r in rows], allowed).astype(np.float32)
    docs, scores = model.retrieve([tokens], k=k, show_progress=False, n_threads=1, weight_mask=mask)
    theirs = [(ids[d], float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]
    np.testing.assert_allclose([s for _, s in ours], [s for _, s in theirs], rtol=1e-6)
    # Chunks may only differ where scores tie at the cut-off; above it they are the same set, in score order.
    cutoff = theirs[-1][1] if theirs else 0
    assert {c for c, s in ours if s > cutoff} == {c for c, s in theirs if s > cutoff}
    assert [s for _, s in ours] == sorted((s for _, s in ours), reverse=True)


def test_top_k_matches_bm25s_retrieve_on_the_demo_questions(demo_bot):
    lexical = demo_bot.lexical
    rows = demo_bot.catalog.lexical_rows()
    repeats = round(demo_bot.settings.title_weight)
    model = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    model.index([terms(title) * repeats + terms(text) for _, _, title, text in rows], show_progress=False)
    papers = sorted({r[1] for r in rows})
    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines() if line.strip()]
    rng = np.random.default_rng(7)
    checked = 0
    for question in questions:
        tokens = [t for t in dict.fromkeys(terms(question)) if t in model.vocab_dict]
        if not tokens:
            assert lexical.search(question, 10) == []
            continue
        for k in (1, 10, 100):
            _compare(lexical, model, rows, question, tokens, k, None)
            allowed = [p for p in papers if rng.random() < 0.3]  # a paper filter
            _compare(lexical, model, rows, question, tokens, k, allowed)
        checked += 1
    assert checked >= 60
