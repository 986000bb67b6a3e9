"""The CI eval gate: thresholds checked against real eval results; raising one above the measured value fails the
`paperbot eval --gate` command, and the committed thresholds pass on the demo set."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evals.gate import THRESHOLDS, check, load_thresholds, main
from paperbot.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


def _results(**metrics) -> dict:
    return {"dataset": {"name": "tiny", "items": 3}, "stores": [{"papers": 10}],
            "configs": {"hybrid": {"retrieval": {"ndcg@10": 0.8},
                                   "answers": {"extractive": {"metrics": {"citation_recall": 0.9, **metrics}}}}}}


def _thresholds(tmp_path: Path, configs: dict, **run) -> Path:
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps({"runs": [{"dataset": "tiny", "items": 3, **run, "configs": configs}]}))
    return path


def test_min_and_max_bounds_name_metric_value_and_threshold(tmp_path):
    configs = {"hybrid": {"retrieval": {"ndcg@10": {"min": 0.75}},
                          "answers/extractive": {"citation_recall": {"min": 0.95},
                                                 "abstained_answerable_rate": {"max": 0.05}}}}
    failures = check(_results(abstained_answerable_rate=0.1), _thresholds(tmp_path, configs))
    assert failures == [
        "tiny hybrid answers/extractive citation_recall = 0.9000 < min 0.9500",
        "tiny hybrid answers/extractive abstained_answerable_rate = 0.1000 > max 0.0500",
    ]
    assert check(_results(abstained_answerable_rate=0.01), _thresholds(tmp_path, {
        "hybrid": {"retrieval": {"ndcg@10": {"min": 0.8}}}})) == [], "a value equal to its minimum passes"


def test_missing_and_uncomputable_metrics_fail(tmp_path):
    configs = {"hybrid": {"answers/extractive": {"judge_correctness": {"min": 0.5}, "no_such_metric": {"min": 0}},
                          "answers/llm": {"citation_recall": {"min": 0.5}}},
               "dense": {"retrieval": {"ndcg@10": {"min": 0.5}}}}
    failures = check(_results(judge_correctness=None), _thresholds(tmp_path, configs))
    assert any("judge_correctness: could not be computed (null)" in f for f in failures)
    assert any("no_such_metric: not in the results" in f for f in failures)
    assert any("answers in llm mode were not run" in f for f in failures)
    assert any("config 'dense' was not run" in f for f in failures)


def test_a_run_the_thresholds_were_not_measured_on_fails(tmp_path):
    path = _thresholds(tmp_path, {"hybrid": {"retrieval": {"ndcg@10": {"min": 0.5}}}}, papers=999)
    [failure] = check(_results(), path)
    assert "no thresholds for 'tiny' with 3 items, 10 papers (it has: tiny (3 items, 999 papers))" in failure


def test_malformed_thresholds_name_the_place(tmp_path):
    path = _thresholds(tmp_path, {"hybrid": {"retrieval": {"ndcg@10": {"at_least": 0.5}}}})
    with pytest.raises(ConfigError, match=r"runs\[0\]\.configs\.hybrid\.retrieval\.ndcg@10"):
        check(_results(), path)


def test_committed_thresholds_are_well_formed_and_documented():
    runs = load_thresholds(THRESHOLDS)
    assert {r["dataset"] for r in runs} == {"demo", "scifact-train", "fresh", "holdout", "pubmedqa-abstain"}
    data = json.loads(THRESHOLDS.read_text())
    assert "measured" in data["readme"] and all(r.get("measured") for r in runs)


# --- real runs ---------------------------------------------------------------------------------------------------

def _eval(work: Path, out: Path, gate: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
    command = [sys.executable, "-m", "paperbot", "--data-dir", str(work), "eval", "--dataset", "demo",
               "--mode", "extractive", "--configs", "hybrid", "--collection", "papers", "--out", str(out),
               "--gate", str(gate)]
    return subprocess.run(command, check=False, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_gate_fails_a_threshold_raised_above_the_measured_value_and_passes_the_committed_ones(
        tmp_path, demo_store, demo_corpus, models_dir, monkeypatch):
    monkeypatch.setenv("PAPERBOT_MODELS_DIR", str(models_dir))
    monkeypatch.setenv("PAPERBOT_DEMO_CORPUS", str(demo_corpus))
    work = tmp_path / "store"
    shutil.copytree(demo_store, work)  # the demo corpus, already embedded
    # The committed demo thresholds with one raised to 0.01 above what the previous full run measured.
    raised = json.loads(THRESHOLDS.read_text())
    demo = next(r for r in raised["runs"] if r["dataset"] == "demo")
    before = demo["measured"]["hybrid"]["answers/extractive"]["citation_recall"]
    demo["configs"]["hybrid"]["answers/extractive"]["citation_recall"] = {"min": round(before + 0.01, 4)}
    raised_path = tmp_path / "raised.json"
    raised_path.write_text(json.dumps(raised))

    failed = _eval(work, tmp_path / "run", raised_path)
    assert failed.returncode == 1, failed.stderr[-3000:]
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    measured = results["configs"]["hybrid"]["answers"]["extractive"]["metrics"]["citation_recall"]
    assert measured == pytest.approx(before, abs=5e-5), "the demo run is deterministic"
    expected = f"demo hybrid answers/extractive citation_recall = {measured:.4f} < min {before + 0.01:.4f}"
    assert expected in " ".join(failed.stderr.split()), failed.stderr[-3000:]
    assert sum("gate:" in line for line in failed.stderr.splitlines()) == 1, "only the raised threshold fails"
    assert (tmp_path / "run" / "report.md").is_file(), "the report is written before the gate decides"

    # The same real results meet every committed threshold; re-checking a saved run exits 0 / 1 accordingly.
    assert check(results, THRESHOLDS) == []
    assert main([str(tmp_path / "run" / "results.json")]) == 0
    assert main([str(tmp_path / "run" / "results.json"), str(raised_path)]) == 1


def test_gate_table_lists_every_threshold_with_its_measured_value_and_verdict(tmp_path):
    from evals.gate import table

    configs = {"hybrid": {"retrieval": {"ndcg@10": {"min": 0.75}},
                          "answers/extractive": {"citation_recall": {"min": 0.95}}}}
    lines = table(_results(), _thresholds(tmp_path, configs))
    assert lines[0].split() == ["metric", "measured", "bound", "verdict"]
    assert lines[1].split() == ["tiny", "hybrid", "retrieval", "ndcg@10", "0.8000", "min", "0.7500", "ok"]
    assert lines[2].split()[-4:] == ["0.9000", "min", "0.9500", "FAIL"]
