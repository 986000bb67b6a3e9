"""evals/train_answerability.py's threshold search: all three thresholds together, within every refusal limit."""

from __future__ import annotations

import numpy as np

from evals.train_answerability import (
    MAX_REFUSED_PUBMEDQA,
    MAX_REFUSED_QUESTIONS,
    choose_thresholds,
    declined,
)
from paperbot.answer.answerability import FEATURES

YES_NO = FEATURES.index("yes_no")


def _row(number: int, source: str, answerable: bool, *, yes_no: bool = False) -> dict:
    x = [0.0] * len(FEATURES)
    x[YES_NO] = float(yes_no)
    return {"source": source, "id": f"{source}-{number}", "type": "fact", "split": "tune", "answerable": answerable,
            "missing": False, "x": x}


def _rows() -> tuple[list[dict], np.ndarray]:
    """Question-set rows: answerable from p 0.3 up, unanswerable below 0.25, and one answerable yes/no question at
    0.2. PubMedQA yes/no rows: answerable from 0.5 up, unanswerable up to 0.45."""
    rows, p = [], []
    for i in range(50):
        rows += [_row(2 * i, "tune", True), _row(2 * i + 1, "tune", False)]
        p += [0.3 + 0.014 * i, 0.005 * i]
    rows.append(_row(100, "tune", True, yes_no=True))
    p.append(0.2)
    for i in range(100):
        rows += [_row(2 * i, "pubmedqa", True, yes_no=True), _row(2 * i + 1, "pubmedqa", False, yes_no=True)]
        p += [0.5 + 0.005 * i, 0.0045 * i]
    return rows, np.array(p)


def _masks(rows: list[dict]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    answerable = np.array([r["answerable"] for r in rows])
    pubmedqa = np.array([r["source"] == "pubmedqa" for r in rows])
    yes = np.array([r["x"][YES_NO] > 0.5 for r in rows])
    return answerable, pubmedqa, yes


def test_the_yes_no_threshold_is_not_held_down_by_a_budget_the_first_pair_used_up():
    rows, p = _rows()
    thresholds = choose_thresholds(rows, p)
    assert thresholds[0] <= 0.3 and thresholds[2] > 0.4
    out = declined(rows, p, thresholds)
    answerable, pubmedqa, _ = _masks(rows)
    assert out[pubmedqa & ~answerable].mean() > 0.95, "PubMedQA's unanswerable rows (up to 0.45) are declined"
    assert out[pubmedqa & answerable].mean() <= MAX_REFUSED_PUBMEDQA
    assert out[~pubmedqa & answerable].mean() <= MAX_REFUSED_QUESTIONS  # the yes/no question's refusal counts
    assert out[~pubmedqa & ~answerable].mean() == 1.0


def test_no_threshold_is_raised_past_a_refusal_limit():
    rows, p = _rows()
    answerable, pubmedqa, _ = _masks(rows)
    p = np.where(pubmedqa & answerable, p - 0.45, p)  # now PubMedQA's answerable rows start at 0.05
    thresholds = choose_thresholds(rows, p)
    assert declined(rows, p, thresholds)[pubmedqa & answerable].mean() <= MAX_REFUSED_PUBMEDQA
    assert thresholds[2] < 0.1
