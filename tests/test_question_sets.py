"""Checks the question sets over the demo corpus: demo.jsonl, the report-only fresh.jsonl and holdout.jsonl, and tune.jsonl.

Each file must follow the schema in evals/questions/README.md, load through the eval loader, and have gold quotes
that are exact substrings of the demo corpus abstracts; the report-only sets must have their promised composition and
must not repeat a question of another set, since they exist to measure the bot on questions nobody tuned for.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

import pytest

from evals.datasets import question_file
from paperbot.ingest.loaders import load_papers

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = REPO / "evals" / "questions"
SETS = {"demo": QUESTIONS / "demo.jsonl", "fresh": QUESTIONS / "fresh.jsonl", "tune": QUESTIONS / "tune.jsonl",
        "holdout": QUESTIONS / "holdout.jsonl"}
ID_PATTERN = {"demo": re.compile(r"q\d{3}"), "fresh": re.compile(r"f\d{3}"), "tune": re.compile(r"t\d{3}"),
              "holdout": re.compile(r"h\d{3}")}
CORPUS = Path(os.environ.get("PAPERBOT_DEMO_CORPUS") or REPO.parent / "shared" / "corpus" / "inference-cost-papers.txt")

TYPES = {"fact", "concept", "multi", "comparison", "unanswerable"}
FIELDS = {"id", "question", "type", "gold_paper_ids", "gold_quotes", "paraphrase", "notes"}
REQUIRED = FIELDS - {"notes"}
# Word-set overlap above this means a fresh question merely rewords a demo one (the closest pair today is ~0.36).
MAX_OVERLAP = 0.6


def _read(name: str) -> list[dict]:
    lines = SETS[name].read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.fixture(scope="module")
def abstracts() -> dict[str, str]:
    if not CORPUS.is_file():
        pytest.skip(f"demo corpus not found at {CORPUS} (set PAPERBOT_DEMO_CORPUS or check out ../shared)")
    return {paper.id: paper.abstract for paper in load_papers([CORPUS]).papers}


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


@pytest.mark.parametrize("name", sorted(SETS))
def test_schema(name: str) -> None:
    questions = _read(name)
    ids = [q.get("id") for q in questions]
    assert len(ids) == len(set(ids)), f"{name}: question ids must be unique"
    for q in questions:
        where = f"{name} {q.get('id')}"
        assert REQUIRED <= set(q) <= FIELDS, f"{where}: fields {sorted(set(q) ^ REQUIRED)}"
        assert ID_PATTERN[name].fullmatch(q["id"]), f"{where}: id does not follow {ID_PATTERN[name].pattern}"
        assert q["type"] in TYPES, f"{where}: type {q['type']!r}"
        assert isinstance(q["question"], str) and q["question"].strip() == q["question"] != "", where
        assert isinstance(q["paraphrase"], bool), where
        assert isinstance(q["gold_paper_ids"], list) and isinstance(q["gold_quotes"], dict), where
        assert len(set(q["gold_paper_ids"])) == len(q["gold_paper_ids"]), f"{where}: a gold paper is listed twice"
        assert set(q["gold_quotes"]) == set(q["gold_paper_ids"]), f"{where}: one quote per gold paper"
        if q["type"] == "unanswerable":
            assert q["gold_paper_ids"] == [], f"{where}: unanswerable questions have no gold"
        elif q["type"] in ("multi", "comparison"):
            assert 2 <= len(q["gold_paper_ids"]) <= 4, f"{where}: {q['type']} questions have 2-4 gold papers"
        else:
            assert len(q["gold_paper_ids"]) == 1, f"{where}: {q['type']} questions have one gold paper"
        if q["paraphrase"]:
            assert len(q["gold_paper_ids"]) == 1, f"{where}: paraphrase questions are single-paper"


@pytest.mark.parametrize("name", sorted(SETS))
def test_gold_ids_and_quotes_match_corpus(name: str, abstracts: dict[str, str]) -> None:
    assert len(abstracts) == 115
    for q in _read(name):
        for paper_id, quote in q["gold_quotes"].items():
            assert paper_id in abstracts, f"{name} {q['id']}: unknown paper id {paper_id}"
            assert quote in abstracts[paper_id], f"{name} {q['id']}: quote is not an exact substring of {paper_id}"
            assert 5 <= len(quote.split()) <= 40, f"{name} {q['id']}: quote should be 5-40 words"


@pytest.mark.parametrize("name", sorted(SETS))
def test_loads_through_the_eval_loader(name: str, abstracts: dict[str, str]) -> None:
    questions = _read(name)
    loaded = question_file(SETS[name], [CORPUS])
    assert loaded.name == name and loaded.answers
    assert [i.id for i in loaded.items] == [q["id"] for q in questions]
    for item, q in zip(loaded.items, questions):
        assert item.type == q["type"]
        assert set(item.gold) == set(q["gold_paper_ids"])
        assert item.gold_quotes == q["gold_quotes"]


def _unanswerable_kinds(questions: list[dict]) -> Counter:
    """Unanswerable questions say in their notes whether they are on-topic near-misses or plainly off-topic."""
    kinds = Counter(q.get("notes", "").split(":", 1)[0] for q in questions if q["type"] == "unanswerable")
    assert set(kinds) <= {"near-miss", "off-topic"}, kinds
    return kinds


def _assert_rewords_none(questions: list[dict], others: dict[str, set[str]], *, own: str | None = None) -> None:
    """No question rewords one of `others` (word overlap); with `own`, none repeats another of its own set either."""
    seen: set[frozenset[str]] = set()
    for q in questions:
        words = _words(q["question"])
        if own is not None:
            assert frozenset(words) not in seen, f"{q['id']} repeats another {own} question"
            seen.add(frozenset(words))
        for other_id, other in others.items():
            overlap = len(words & other) / len(words | other)
            assert overlap <= MAX_OVERLAP, f"{q['id']} rewords {other_id} (word overlap {overlap:.2f})"


def test_fresh_composition() -> None:
    fresh = _read("fresh")
    types = Counter(q["type"] for q in fresh)
    assert len(fresh) >= 66
    assert types["fact"] >= 12 and types["concept"] >= 10
    assert types["multi"] >= 12 and types["comparison"] >= 12
    kinds = _unanswerable_kinds(fresh)
    assert kinds["near-miss"] >= 15 and kinds["off-topic"] >= 2
    named = [q for q in fresh if q["type"] == "fact" and not q["paraphrase"]]
    assert len(named) >= 5, "several fact questions name a specific model, dataset or method"


def test_fresh_does_not_repeat_demo_questions() -> None:
    demo, fresh = _read("demo"), _read("fresh")
    assert not {q["id"] for q in demo} & {q["id"] for q in fresh}
    _assert_rewords_none(fresh, {q["id"]: _words(q["question"]) for q in demo}, own="fresh")


def test_tune_composition() -> None:
    """The set the answerability scorer is fitted on (issue 12): every kind of question, and many near-misses."""
    tune = _read("tune")
    types = Counter(q["type"] for q in tune)
    assert len(tune) >= 120
    assert types["fact"] >= 20 and types["concept"] >= 10 and types["multi"] >= 10 and types["comparison"] >= 20
    kinds = _unanswerable_kinds(tune)
    assert kinds["near-miss"] >= 40 and kinds["off-topic"] >= 5


def test_tune_does_not_reword_demo_or_fresh_questions() -> None:
    """Fitting on a rewording of a report question would leak it into the fit."""
    others = {q["id"]: _words(q["question"]) for q in _read("demo") + _read("fresh")}
    _assert_rewords_none(_read("tune"), others)


def test_holdout_composition() -> None:
    """The report-only set of issue 12: every kind of question, with at least 20 on-topic near-misses."""
    holdout = _read("holdout")
    types = Counter(q["type"] for q in holdout)
    assert len(holdout) >= 85
    assert types["fact"] >= 22 and types["concept"] >= 10 and types["multi"] >= 14 and types["comparison"] >= 14
    kinds = _unanswerable_kinds(holdout)
    assert kinds["near-miss"] >= 20
    named = [q for q in holdout if q["type"] == "fact" and not q["paraphrase"]]
    assert len(named) >= 10, "many fact questions name a specific model, dataset, method or GPU"


def test_holdout_does_not_reword_another_set() -> None:
    """A holdout question that rewords a demo, fresh or tune one would carry that set's tuning (or its seen results)."""
    others = {q["id"]: _words(q["question"]) for name in ("demo", "fresh", "tune") for q in _read(name)}
    _assert_rewords_none(_read("holdout"), others, own="holdout")

