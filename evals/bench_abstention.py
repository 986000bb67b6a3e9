"""Extractive answer latency with the learned abstention against the committed rule (git HEAD), in the same run.

The baseline is the `paperbot/answer/abstention.py` of a git revision (default HEAD), loaded from git and put in the
answerer's place; the two alternate question by question (ABAB...), so machine load hits both alike. Each
variant's abstention figures on the set come with it (answerable refused, comparison refused, unanswerable
declined): `--questions fresh` or `holdout` gives them on a report-only question set (nothing is fitted here).

    python -m evals.bench_abstention --corpus ../shared/corpus/inference-cost-papers.txt --work-dir eval-data
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

import paperbot.answer.answerer as answer_module
from evals import datasets
from evals.report import git_revision
from evals.stores import open_store
from paperbot import Settings

OUT = Path(__file__).resolve().parent / "results" / "abstention-bench-{}.json"


def _moved(match: re.Match) -> str:
    name = match.group(1)
    for package in ("", "text.", "answer.", "retrieval."):
        if importlib.util.find_spec(f"paperbot.{package}{name}") is not None:
            return f"from paperbot.{package}{name} import"
    return match.group(0)


def baseline_assess(revision: str):
    """The old assess(question, hits, evidence, *, strict) adapted to today's call (extractive: strict)."""
    root = Path(__file__).resolve().parents[1]
    for path in ("paperbot/answer/abstention.py", "paperbot/abstention.py"):  # where it lived before the answer/ package
        shown = subprocess.run(["git", "show", f"{revision}:{path}"], check=False, capture_output=True, text=True,
                               cwd=root)
        if shown.returncode == 0:
            break
    else:
        raise SystemExit(f"{revision} has no paperbot/answer/abstention.py or paperbot/abstention.py: pick another "
                         "--baseline")
    # Modules it imports that have since moved into a package (paperbot.terms -> paperbot.text.terms).
    source = re.sub(r"^from paperbot\.(\w+) import", _moved, shown.stdout, flags=re.MULTILINE)
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as handle:
        handle.write(source)
    spec = importlib.util.spec_from_file_location("abstention_baseline", handle.name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return lambda question, hits, evidence, vocabulary, **_: module.assess(question, hits, evidence, strict=True)


def _abstention(items, abstained: dict[str, bool]) -> dict[str, float | None]:
    def rate(chosen):
        return round(sum(abstained[i.id] for i in chosen) / len(chosen), 4) if chosen else None

    answerable = [i for i in items if i.gold]
    return {"answerable_refused": rate(answerable),
            "comparison_refused": rate([i for i in answerable if i.type == "comparison"]),
            "unanswerable_declined": rate([i for i in items if not i.gold])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True, help="the demo corpus")
    parser.add_argument("--work-dir", type=Path, default=Path("eval-data"))
    parser.add_argument("--baseline", default="HEAD", help="git revision whose abstention is the baseline")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--questions", choices=("demo", "fresh", "holdout"), default="demo")
    args = parser.parse_args(argv)
    eval_set = datasets.demo(None, args.corpus, questions={"demo": datasets.DEMO_QUESTIONS,
                                                           "fresh": datasets.FRESH_QUESTIONS,
                                                           "holdout": datasets.HOLDOUT_QUESTIONS}[args.questions])
    bot, _ = open_store(eval_set, Settings(data_dir=args.work_dir.resolve()))
    variants = {"baseline": baseline_assess(args.baseline), "learned": answer_module.assess}
    questions = [item.question for item in eval_set.items]
    bot.ask(questions[0], mode="extractive")  # loads the embedder, vocabulary and model: not a sample
    samples: dict[str, list[float]] = {name: [] for name in variants}
    abstained: dict[str, dict[str, bool]] = {name: {} for name in variants}
    for _ in range(args.repeats):
        for item in eval_set.items:
            for name, assess in variants.items():
                answer_module.assess = assess
                started = time.perf_counter()
                result = bot.ask(item.question, mode="extractive")
                samples[name].append((time.perf_counter() - started) * 1e3)
                abstained[name][item.id] = result.abstained
    answer_module.assess = variants["learned"]
    stats = {name: {"p50_ms": round(float(np.percentile(v, 50)), 2), "p95_ms": round(float(np.percentile(v, 95)), 2),
                    "n": len(v), **_abstention(eval_set.items, abstained[name])} for name, v in samples.items()}
    result = {
        "what": f"extractive bot.ask wall time per {args.questions} question, baseline (committed rule) vs learned "
                "abstention, alternating question by question in one process; abstention figures on the whole set",
        "command": "python -m evals.bench_abstention " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "git": git_revision(),
        "baseline": args.baseline, "questions": len(questions), "repeats": args.repeats, "stats": stats,
        "p95_ratio": round(stats["learned"]["p95_ms"] / stats["baseline"]["p95_ms"], 3),
    }
    Path(str(OUT).format(args.questions)).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
