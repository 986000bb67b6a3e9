"""Abstention in the evals: tune/report halves, per-split figures, the PubMedQA answerable/unanswerable pairs, and
searching with a question's own source hidden."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from evals import datasets
from evals.answer_metrics import by_split
from evals.exclusion import Excluding
from evals.items import EvalItem
from evals.tune import half

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def test_split_is_the_sha256_bit_of_the_id_and_twins_follow_their_question():
    for qid in ("q001", "q058", "10808977", "scifact-2", "x"):
        expected = "report" if hashlib.sha256(qid.encode()).digest()[0] & 1 else "tune"
        assert EvalItem(qid, "?", {}).split == expected
        assert EvalItem(f"{qid}/removed", "?", {}).split == expected, "an unanswerable twin goes with its question"
        assert {"report": "heldout", "tune": "tune"}[expected] == half(qid), "the same halves as paperbot tune"
    assert EvalItem("q058", "?", {}).split == "report"


def _row(qid: str, answerable: bool, abstained: bool, kind: str = "fact") -> dict:
    return {"id": qid, "type": kind, "split": EvalItem(qid, "?", {}).split, "answerable": answerable,
            "gold_papers": int(answerable), "abstained": abstained, "cited": [], "citation_keys": 0,
            "invalid_keys_removed": 0, "gold_paper_shown": None, "gold_quote_shown": None,
            "gold_evidence_shown": None, "citation_precision": None, "citation_recall": None, "sentences": 0,
            "supported_sentences": 0}


def test_abstention_figures_per_split():
    report = [q for q in (f"q{n:03d}" for n in range(200)) if EvalItem(q, "?", {}).split == "report"][:4]
    tune = [q for q in (f"q{n:03d}" for n in range(200)) if EvalItem(q, "?", {}).split == "tune"][:3]
    rows = [_row(report[0], True, True), _row(report[1], True, False, "comparison"),
            _row(report[2], False, True), _row(report[3], False, False),
            _row(tune[0], True, False, "comparison"), _row(tune[1], True, True, "comparison"), _row(tune[2], False, True)]
    out = by_split(rows)
    assert out["questions@report"] == 4 and out["questions@tune"] == 3
    assert out["abstained_answerable_rate@report"] == 0.5 and out["abstention_recall@report"] == 0.5
    assert out["comparison_abstained_rate@report"] == 0.0
    assert out["abstained_answerable_rate@tune"] == 0.5 and out["comparison_abstained_rate@tune"] == 0.5
    assert out["abstention_recall@tune"] == 1.0


@pytest.mark.skipif(not (DATASETS / "pubmedqa").is_dir(), reason="needs ../shared/datasets")
def test_pubmedqa_abstain_pairs_each_question_with_its_source_hidden(tmp_path):
    eval_set = datasets.load("pubmedqa-abstain", questions=None, corpus=[], split=None, datasets_dir=DATASETS,
                             demo_corpus=None, work_dir=tmp_path, limit=3, max_corpus=10)
    assert eval_set.answers and len(eval_set.items) == 6
    for answerable, twin in zip(eval_set.items[::2], eval_set.items[1::2]):
        assert answerable.gold and not answerable.exclude and answerable.question == twin.question
        assert twin.id == f"{answerable.id}/removed" and twin.gold == {} and twin.type == "unanswerable"
        assert twin.exclude == tuple(answerable.gold) and twin.split == answerable.split
        assert set(answerable.gold) <= eval_set.paper_ids, "the source stays in the store; retrieval hides it"
    pubmed = sum(p.startswith("pmid:") for p in eval_set.paper_ids)
    scifact = sum(p.startswith("scifact:") for p in eval_set.paper_ids)
    assert pubmed == 500, "every PubMedQA abstract is kept: the other questions' sources are the near misses"
    assert scifact == 365 + 10, "SciFact: the abstracts train claims cite as evidence, plus max_corpus others"


@pytest.mark.slow
def test_excluding_hides_papers_and_keeps_k_ranked_hits(demo_bot):
    question = "Which method keeps only heavy-hitter tokens in the KV cache?"
    hits = demo_bot.retriever.search(question, 5)
    hidden = hits[0].paper_id
    shown = Excluding(demo_bot.retriever, [hidden]).search(question, 5)
    assert hidden not in {h.paper_id for h in shown} and len(shown) == 5
    assert [h.rank for h in shown] == [1, 2, 3, 4, 5]
    assert [h.paper_id for h in shown[:4]] == [h.paper_id for h in hits[1:5]], "the others keep their order"
    answerer = demo_bot.answerer(mode="extractive").searching(Excluding(demo_bot.retriever, [hidden]))
    answer = answerer.ask(question, mode="extractive")
    assert hidden not in {e.paper_id for e in answer.evidence}
