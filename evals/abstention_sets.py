"""Abstention on every demo-corpus question set side by side, from their `paperbot eval` runs' results.json.

One row per set (the demo set's report and tune halves apart): answerable refused, comparisons refused and
unanswerable declined, as k/n. Which rows were fitted on and which are report-only is written beside each, so the
figure to quote (the report-only sets, the demo's report half) is not confused with one measured on fitted data.

    python -m evals.abstention_sets demo=RUN_DIR tune=RUN_DIR fresh=RUN_DIR holdout=RUN_DIR [--config hybrid]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from evals import datasets
from evals.items import EvalItem

SETS = {"demo": datasets.DEMO_QUESTIONS, "tune": datasets.TUNE_QUESTIONS, "fresh": datasets.FRESH_QUESTIONS,
        "holdout": datasets.HOLDOUT_QUESTIONS}
ROLE = {"demo@report": "report half (sha256 of the id); nothing fitted on it",
        "demo@tune": "tune half: the answerability model is fitted on it",
        "tune": "written to be fitted on: all of it is fitted on",
        "fresh": "report-only, but its per-item results were seen while tuning",
        "holdout": "report-only; nothing fitted or tuned on it, per-item results not read"}


def _counts(items: list[EvalItem]) -> dict[str, int]:
    answerable = [i for i in items if i.gold]
    return {"answerable": len(answerable), "comparison": sum(i.type == "comparison" for i in answerable),
            "unanswerable": len(items) - len(answerable)}


def _cell(rate: float | None, n: int) -> str:
    if not n or rate is None:
        return "n/a"
    return f"{round(rate * n)}/{n} ({100 * rate:.1f}%)"


def rows(runs: dict[str, Path], config: str = "hybrid", mode: str = "extractive") -> list[dict]:
    """One row per set (demo: per half) with the run's rates and the set's own counts."""
    out = []
    for name, run_dir in runs.items():
        results = json.loads((run_dir / "results.json").read_text(encoding="utf-8"))
        if results["dataset"]["name"] != name:
            raise SystemExit(f"{run_dir}: a run of {results['dataset']['name']!r}, not {name!r}")
        metrics = results["configs"][config]["answers"][mode]["metrics"]
        items = datasets.question_file(SETS[name], [Path(p) for p in results["dataset"]["corpus"]]).items
        if results["dataset"]["items"] != len(items):
            raise SystemExit(f"{run_dir}: {results['dataset']['items']} items, the set has {len(items)} (a --limit run?)")
        halves = [("@report", "report"), ("@tune", "tune")] if name == "demo" else [("", None)]
        for suffix, split in halves:
            chosen = [i for i in items if split is None or i.split == split]
            out.append({"set": name + suffix, "role": ROLE[name + suffix], "counts": _counts(chosen),
                        "error_rate": metrics.get("error_rate"),
                        **{key: metrics.get(key + suffix) for key in
                           ("abstained_answerable_rate", "comparison_abstained_rate", "abstention_recall")}})
    return out


def table(found: list[dict]) -> str:
    lines = ["| set | answerable refused | comparisons refused | unanswerable declined | what it is |",
             "|---|---|---|---|---|"]
    for r in found:
        c = r["counts"]
        lines.append(f"| {r['set']} | {_cell(r['abstained_answerable_rate'], c['answerable'])} | "
                     f"{_cell(r['comparison_abstained_rate'], c['comparison'])} | "
                     f"{_cell(r['abstention_recall'], c['unanswerable'])} | {r['role']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", metavar="SET=RUN_DIR", help=f"SET is one of {', '.join(SETS)}")
    parser.add_argument("--config", default="hybrid")
    args = parser.parse_args(argv)
    runs = {}
    for given in args.runs:
        name, _, folder = given.partition("=")
        if name not in SETS or not folder:
            parser.error(f"{given!r}: expected SET=RUN_DIR with SET one of {', '.join(SETS)}")
        runs[name] = Path(folder)
    found = rows(runs, args.config)
    errors = [r["set"] for r in found if r["error_rate"]]
    print(table(found))
    if errors:
        print(f"\nerrors in {', '.join(errors)}: the rates leave the failed questions out", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
