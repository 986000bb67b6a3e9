"""Collect the real local model's eval runs (demo, PubMedQA) and its recorded speed into evals/results/local-model.*.

    python -m evals.local_model_report --demo RUN_DIR --pubmedqa RUN_DIR --holdout RUN_DIR --recordings CACHE_DIR \\
        --out evals/results/local-model

RUN_DIRs are `paperbot eval --out` folders (results.json, per_query.jsonl); CACHE_DIR is evals/record_proxy.py's
folder, whose recordings keep the generation times of the recording run (a replay's wall times are not speed).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import statistics
from collections import Counter
from pathlib import Path

from evals.record_proxy import stats

QUALITY = ("questions", "error_rate", "citation_validity", "attribution_accuracy", "attribution_accuracy_per_question",
           "attributed_sentences",
           "sentences_flagged_rate", "sentence_support_rate", "citation_precision", "citation_recall",
           "abstained_answerable_rate", "abstention_recall", "abstained_answerable_rate@report",
           "abstention_recall@report", "abstention_precision", "pubmedqa_accuracy", "judge_error_rate",
           "prompt_tokens_mean", "completion_tokens_mean", "first_token_ms_p50", "first_token_ms_p95",
           "total_ms_p50", "total_ms_p95")


def _answers(run: Path) -> tuple[dict, dict]:
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    config = next(iter(results["configs"].values()))
    return results, config["answers"]["llm"]


def _majority(run: Path) -> dict:
    rows = [json.loads(line) for line in (run / "per_query.jsonl").read_text().splitlines()]
    labels = [r["label"] for r in rows if r.get("answer_mode") == "llm" and r.get("label")]
    if not labels:
        return {}
    label, count = Counter(labels).most_common(1)[0]
    return {"majority_label": label, "majority_baseline_accuracy": count / len(labels), "decided": len(labels),
            "gold_counts": dict(Counter(labels))}


def halves(run: Path) -> dict:
    """Per half of the items (sha256 split): attribution accuracy on single-paper questions, unanswerable questions
    declined, answerable ones refused, and answers whose model decline was replaced by quoted sentences."""
    rows = [json.loads(line) for line in (run / "per_query.jsonl").read_text().splitlines()]
    rows = [r for r in rows if r.get("answer_mode") == "llm"]
    out = {}
    for half in sorted({r["split"] for r in rows}):
        part = [r for r in rows if r["split"] == half]
        single = [r for r in part if r.get("gold_papers") == 1]
        attributed = sum(r.get("attributed", 0) for r in single)
        answerable = [r for r in part if r["answerable"]]
        unanswerable = [r for r in part if not r["answerable"]]
        out[half] = {
            "questions": len(part), "attributed_sentences": attributed,
            "attribution_accuracy": sum(r.get("attributed_gold", 0) for r in single) / attributed if attributed else None,
            "unanswerable": len(unanswerable), "unanswerable_declined": sum(r["abstained"] for r in unanswerable),
            "answerable": len(answerable), "answerable_refused": sum(r["abstained"] for r in answerable),
        }
    return out


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float] | None:
    """The Wilson score interval (95% by default) of a proportion: honest at small n and near 0 or 1."""
    if n == 0:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return round(centre - half, 4), round(centre + half, 4)


def attribution_interval(run: Path) -> dict:
    """Single-paper attribution accuracy from the per-item rows, with its Wilson 95% interval."""
    rows = [json.loads(line) for line in (run / "per_query.jsonl").read_text().splitlines()]
    single = [r for r in rows if r.get("answer_mode") == "llm" and r.get("gold_papers") == 1]
    attributed = sum(r.get("attributed", 0) for r in single)
    correct = sum(r.get("attributed_gold", 0) for r in single)
    return {"single_paper_questions": len(single), "attributed_sentences": attributed, "correct": correct,
            "attribution_accuracy": correct / attributed if attributed else None,
            "wilson95": wilson(correct, attributed)}


def collect(demo: Path | None, pubmedqa: Path | None, recordings: Path | None, logs: list[Path] = (),
            holdout: Path | None = None) -> dict:
    out: dict = {}
    for name, run in (("demo", demo), ("pubmedqa", pubmedqa), ("holdout", holdout)):
        if run is None:
            continue
        results, answers = _answers(run)
        metrics = answers["metrics"]
        entry = {"run": str(run), "command": results["command"], "git": results.get("git"),
                 "date": results["date"], "items": results["dataset"]["items"], "errors": answers["errors"],
                 "metrics": {k: metrics.get(k) for k in QUALITY if k in metrics},
                 "wall_seconds": results["seconds"]}
        if name == "pubmedqa":
            entry["baseline"] = _majority(run)
        else:
            entry["halves"] = halves(run)
            entry["single_paper_attribution"] = attribution_interval(run)
        out[name] = entry
    if recordings is not None:
        out["speed_recorded"] = stats(recordings)
    if logs:
        out["speed_server"] = server_speed(list(logs))
    return out


_PERF = re.compile(r"llama_perf_context_print:\s+(prompt eval|eval) time =\s+([\d.]+) ms /\s+(\d+) (?:tokens|runs)")


def server_speed(logs: list[Path]) -> dict:
    """llama.cpp's own per-request timings from the server logs: prompt and output tokens per second."""
    prompt, output = [], []
    for log in logs:
        for kind, ms, count in _PERF.findall(log.read_text(encoding="utf-8", errors="replace")):
            if float(ms) >= 1 and int(count) > 1:  # the warm-up and cached prompts take no time
                (prompt if kind == "prompt eval" else output).append((int(count), float(ms)))
    def rate(pairs):
        return sum(n for n, _ in pairs) / (sum(ms for _, ms in pairs) / 1e3) if pairs else None
    return {"requests_timed": len(prompt), "prompt_tokens_per_second": rate(prompt),
            "output_tokens_per_second": rate(output),
            "prompt_tokens_evaluated_median": statistics.median(n for n, _ in prompt) if prompt else None}


def _fmt(value) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def markdown_table(summary: dict) -> str:
    names = [n for n in ("demo", "holdout", "pubmedqa") if n in summary]
    keys = [k for k in QUALITY if any(k in summary[n]["metrics"] for n in names)]
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for key in keys:
        lines.append(f"| {key} | " + " | ".join(_fmt(summary[n]["metrics"].get(key)) for n in names) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m evals.local_model_report")
    parser.add_argument("--demo", type=Path)
    parser.add_argument("--pubmedqa", type=Path)
    parser.add_argument("--holdout", type=Path, help="the report-only holdout questions' run (never fitted on)")
    parser.add_argument("--recordings", type=Path)
    parser.add_argument("--server-log", type=Path, action="append", default=[],
                        help="llama.cpp server log(s) of the recording run (per-request timings)")
    parser.add_argument("--out", type=Path, required=True, help="writes OUT.json and prints the Markdown table")
    args = parser.parse_args(argv)
    summary = collect(args.demo, args.pubmedqa, args.recordings, args.server_log, args.holdout)
    args.out.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(markdown_table(summary))
    for key in ("speed_recorded", "speed_server"):
        if key in summary:
            print(json.dumps(summary[key], indent=2))
    if "pubmedqa" in summary:
        print(json.dumps(summary["pubmedqa"].get("baseline"), indent=2))
    for name in ("demo", "holdout"):
        if name in summary:
            print(name, json.dumps(summary[name]["single_paper_attribution"]))


if __name__ == "__main__":
    main()
