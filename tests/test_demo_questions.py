"""Checks the developer-written question set for the demo corpus (evals/questions/demo.jsonl).

Every gold paper id must exist in the demo corpus and every gold quote must be an exact
substring of that paper's (whitespace-normalised) abstract, so the file stays in step with
the corpus and the id scheme.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from paperbot.ingest.loaders import load_papers

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = REPO / "evals" / "questions" / "demo.jsonl"
CORPUS = REPO.parent / "shared" / "corpus" / "inference-cost-papers.txt"

TYPES = {"fact", "concept", "multi", "unanswerable"}


@pytest.fixture(scope="module")
def questions() -> list[dict]:
    lines = QUESTIONS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def abstracts() -> dict[str, str]:
    if not CORPUS.is_file():
        pytest.skip(f"demo corpus not found at {CORPUS} (../shared is not checked out next to this repo)")
    papers = load_papers([CORPUS]).papers
    return {paper.id: paper.abstract for paper in papers}


def test_shape_and_counts(questions: list[dict]) -> None:
    assert len(questions) >= 60
    ids = [q["id"] for q in questions]
    assert len(ids) == len(set(ids)), "question ids must be unique"
    for q in questions:
        assert q["type"] in TYPES, q["id"]
        assert isinstance(q["question"], str) and q["question"].strip(), q["id"]
        assert isinstance(q["paraphrase"], bool), q["id"]
        assert set(q["gold_quotes"]) == set(q["gold_paper_ids"]), f"{q['id']}: one quote per gold paper"
    types = Counter(q["type"] for q in questions)
    assert types["fact"] >= 25
    assert types["concept"] >= 10
    assert types["multi"] >= 8
    assert types["unanswerable"] >= 12
    paraphrased = [q for q in questions if q["paraphrase"]]
    assert len(paraphrased) >= 25
    for q in paraphrased:
        assert len(q["gold_paper_ids"]) == 1, f"{q['id']}: paraphrase questions are single-paper"


def test_gold_by_type(questions: list[dict]) -> None:
    for q in questions:
        if q["type"] == "unanswerable":
            assert q["gold_paper_ids"] == [] and q["gold_quotes"] == {}, q["id"]
        elif q["type"] == "multi":
            assert 2 <= len(q["gold_paper_ids"]) <= 4, q["id"]
        else:
            assert len(q["gold_paper_ids"]) == 1, q["id"]


def test_gold_ids_and_quotes_match_corpus(questions: list[dict], abstracts: dict[str, str]) -> None:
    assert len(abstracts) == 115
    for q in questions:
        for paper_id in q["gold_paper_ids"]:
            assert paper_id in abstracts, f"{q['id']}: unknown paper id {paper_id}"
        for paper_id, quote in q["gold_quotes"].items():
            assert quote in abstracts[paper_id], f"{q['id']}: quote is not an exact substring of {paper_id}"
            assert 5 <= len(quote.split()) <= 40, f"{q['id']}: quote should be 5-40 words"
