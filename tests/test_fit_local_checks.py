"""The local-model fit's answerability rules applied to recorded rows, and the report's per-half figures."""

from __future__ import annotations

import json

from evals.fit_focus import gated, objective, summarise
from evals.local_model_report import attribution_interval, halves, wilson


def _row(split: str, answerable: bool, p: float, *, declined: bool = False, model_declined: bool = False) -> dict:
    return {"split": split, "answerable": answerable, "single": answerable, "declined": declined,
            "model_declined": model_declined, "attributed": 0 if declined else 1,
            "attributed_gold": 0 if declined else int(answerable), "gold_kept": 0 if declined else int(answerable),
            "claims": 1, "off_question": 0, "probability": p}


ROWS = [
    _row("tune", True, 0.9),
    _row("tune", True, 0.8, declined=True, model_declined=True),  # the model refused an answerable question
    _row("tune", False, 0.2),  # an unanswerable question the model answered
    _row("tune", False, 0.75, declined=True, model_declined=True),
]


def test_the_written_answer_threshold_declines_below_it_and_the_fallback_answers_model_declines_above_it() -> None:
    assert [r["declined"] for r in gated(ROWS, 0.0, 1.0)] == [False, True, False, True], "both off: as recorded"
    assert [r["declined"] for r in gated(ROWS, 0.3, 1.0)] == [False, True, True, True]
    assert [r["declined"] for r in gated(ROWS, 0.0, 0.8)] == [False, False, False, True], "0.75 < 0.8: stands"
    assert [r["declined"] for r in gated(ROWS, 0.0, 0.7)] == [False, False, False, False]
    low = gated(ROWS, 0.3, 1.0)[2]
    assert low["attributed"] == 0 and low["gold_kept"] == 0 and not low["model_declined"]


def test_the_objective_rewards_declined_unanswerable_and_penalises_refused_answerable() -> None:
    recorded, stricter = summarise(gated(ROWS, 0.0, 1.0)), summarise(gated(ROWS, 0.3, 1.0))
    assert stricter["unanswerable_declined_n"] == recorded["unanswerable_declined_n"] + 1
    assert objective(stricter) == objective(recorded) + 2
    fallback = summarise(gated(ROWS, 0.0, 0.8))
    assert fallback["answerable_refused_n"] == 0 and objective(fallback) == objective(recorded) + 2


def test_report_halves_count_each_half_from_the_per_item_rows(tmp_path) -> None:
    rows = [{"config": "hybrid", "id": "q1", "ndcg@10": 1.0},  # a retrieval row: not an answer
            {"answer_mode": "llm", "split": "tune", "answerable": True, "abstained": False, "gold_papers": 1,
             "attributed": 2, "attributed_gold": 1},
            {"answer_mode": "llm", "split": "tune", "answerable": False, "abstained": True, "gold_papers": 0},
            {"answer_mode": "llm", "split": "report", "answerable": True, "abstained": True, "gold_papers": 1,
             "attributed": 0, "attributed_gold": 0}]
    (tmp_path / "per_query.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    figures = halves(tmp_path)
    assert figures["tune"] == {"questions": 2, "attributed_sentences": 2, "attribution_accuracy": 0.5,
                               "unanswerable": 1, "unanswerable_declined": 1, "answerable": 1,
                               "answerable_refused": 0}
    assert figures["report"]["answerable_refused"] == 1 and figures["report"]["attribution_accuracy"] is None


def test_the_wilson_interval_is_honest_at_small_counts(tmp_path) -> None:
    low, high = wilson(9, 9)
    assert 0.70 < low < 0.71 and high == 1.0, "9 of 9 right: the true rate may still be 0.70"
    assert wilson(0, 0) is None
    low, high = wilson(45, 50)
    assert low < 0.9 < high and high - low < wilson(9, 10)[1] - wilson(9, 10)[0], "narrower with more items"
    rows = [{"answer_mode": "llm", "gold_papers": 1, "attributed": 3, "attributed_gold": 2},
            {"answer_mode": "llm", "gold_papers": 2, "attributed": 4, "attributed_gold": 0},  # not single-paper
            {"answer_mode": "extractive", "gold_papers": 1, "attributed": 5, "attributed_gold": 0}]
    (tmp_path / "per_query.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    figures = attribution_interval(tmp_path)
    assert figures["attributed_sentences"] == 3 and figures["correct"] == 2 and figures["wilson95"] == wilson(2, 3)
