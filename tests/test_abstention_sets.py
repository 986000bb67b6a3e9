"""evals/abstention_sets.py: one abstention row per question set, with counts taken from the set itself."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from evals import abstention_sets, datasets

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("PAPERBOT_DEMO_CORPUS") or REPO.parent / "shared" / "corpus" / "inference-cost-papers.txt")


@pytest.fixture(autouse=True)
def _corpus() -> None:
    if not CORPUS.is_file():
        pytest.skip(f"demo corpus not found at {CORPUS} (set PAPERBOT_DEMO_CORPUS or check out ../shared)")


def _run(folder: Path, name: str, items: int, metrics: dict) -> Path:
    folder.mkdir()
    results = {"dataset": {"name": name, "items": items, "corpus": [str(CORPUS)]},
               "configs": {"hybrid": {"answers": {"extractive": {"metrics": metrics}}}}}
    (folder / "results.json").write_text(json.dumps(results), encoding="utf-8")
    return folder


def test_rows_give_k_of_n_from_the_set_and_split_the_demo(tmp_path):
    holdout = datasets.question_file(datasets.HOLDOUT_QUESTIONS, [CORPUS]).items
    answerable = [i for i in holdout if i.gold]
    comparisons = sum(i.type == "comparison" for i in answerable)
    unanswerable = len(holdout) - len(answerable)
    demo = datasets.question_file(datasets.DEMO_QUESTIONS, [CORPUS]).items
    report_answerable = sum(bool(i.gold) for i in demo if i.split == "report")
    runs = {
        "holdout": _run(tmp_path / "h", "holdout", len(holdout), {
            "abstained_answerable_rate": 2 / len(answerable), "comparison_abstained_rate": 0.0,
            "abstention_recall": 3 / unanswerable, "error_rate": 0.0}),
        "demo": _run(tmp_path / "d", "demo", len(demo), {
            "abstained_answerable_rate@report": 1 / report_answerable, "abstention_recall@tune": None}),
    }
    rows = abstention_sets.rows(runs)
    assert [r["set"] for r in rows] == ["holdout", "demo@report", "demo@tune"]
    text = abstention_sets.table(rows)
    assert f"| holdout | 2/{len(answerable)} (" in text
    assert f"| 0/{comparisons} (0.0%) | 3/{unanswerable} (" in text
    assert f"| demo@report | 1/{report_answerable} (" in text
    demo_tune = next(line for line in text.splitlines() if line.startswith("| demo@tune"))
    assert demo_tune.count("n/a") == 3  # not measured, and the demo set has no comparison questions
    assert "report-only" in text and "fitted on" in text


def test_a_run_of_another_set_or_a_limited_run_is_refused(tmp_path):
    wrong = _run(tmp_path / "w", "fresh", 96, {})
    with pytest.raises(SystemExit, match="a run of 'fresh', not 'holdout'"):
        abstention_sets.rows({"holdout": wrong})
    limited = _run(tmp_path / "l", "holdout", 5, {})
    with pytest.raises(SystemExit, match="5 items, the set has"):
        abstention_sets.rows({"holdout": limited})
