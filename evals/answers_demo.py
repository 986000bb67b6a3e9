"""Answer metrics on the developer-written demo questions: gold evidence in the prompt, abstention, citations, speed.

    python -m evals.answers_demo --corpus ../shared/corpus/inference-cost-papers.txt [--mode extractive|llm]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from paperbot import PaperBot, Settings

QUESTIONS = Path(__file__).resolve().parent / "questions" / "demo.jsonl"


def load_questions(path: Path = QUESTIONS) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def evaluate_answers(bot: PaperBot, questions: list[dict], mode: str) -> dict:
    single = [q for q in questions if q["type"] in ("fact", "concept") and len(q["gold_paper_ids"]) == 1]
    rows = []
    for q in questions:
        started = time.perf_counter()
        answer = bot.ask(q["question"], mode=mode)
        wall_ms = (time.perf_counter() - started) * 1e3
        started = time.perf_counter()
        prepared_tokens = bot.prepare(q["question"], mode="llm").prompt_tokens
        prepare_ms = (time.perf_counter() - started) * 1e3
        shown = {e.paper_id: e.text for e in answer.evidence}
        quotes_in = [quote in shown.get(pid, "") for pid, quote in q["gold_quotes"].items()]
        gold = set(q["gold_paper_ids"])
        cited = {c.paper_id for c in answer.citations}
        rows.append({
            "id": q["id"], "type": q["type"], "abstained": answer.abstained, "prompt_tokens": prepared_tokens,
            "gold_quote_shown": all(quotes_in) if quotes_in else None,
            "gold_paper_shown": bool(gold & set(shown)) if gold else None,
            "cited_valid": all(c.key in {e.key for e in answer.evidence} for c in answer.citations),
            "citation_precision": len(cited & gold) / len(cited) if cited and gold else None,
            "citation_recall": len(cited & gold) / len(gold) if gold and not answer.abstained else None,
            "support": [s.supported for s in answer.sentences if s.keys],
            "total_ms": answer.timings.total_ms, "wall_ms": wall_ms, "prepare_ms": prepare_ms,
        })
    by_id = {r["id"]: r for r in rows}
    answerable = [r for r in rows if r["type"] != "unanswerable"]
    unanswerable = [r for r in rows if r["type"] == "unanswerable"]
    single_rows = [by_id[q["id"]] for q in single]
    wall = [r["wall_ms"] for r in rows[1:]]  # the first answer loads the model and the vocabulary
    precision = [r["citation_precision"] for r in rows if r["citation_precision"] is not None]
    recall = [r["citation_recall"] for r in rows if r["citation_recall"] is not None]
    support = [s for r in rows for s in r["support"]]
    return {
        "mode": mode, "questions": len(rows),
        "single_paper_questions": len(single_rows),
        "gold_quote_in_evidence_single": sum(bool(r["gold_quote_shown"]) for r in single_rows) / len(single_rows),
        "max_prompt_tokens": max(r["prompt_tokens"] for r in rows),
        "mean_prompt_tokens": statistics.mean(r["prompt_tokens"] for r in rows),
        "abstained_unanswerable": sum(r["abstained"] for r in unanswerable) / len(unanswerable),
        "abstained_answerable": sum(r["abstained"] for r in answerable) / len(answerable),
        "citation_validity": sum(r["cited_valid"] for r in rows) / len(rows),
        "citation_precision": statistics.mean(precision) if precision else None,
        "citation_recall": statistics.mean(recall) if recall else None,
        "sentence_support_rate": sum(support) / len(support) if support else None,
        "answer_ms_p50": float(np.percentile(wall, 50)), "answer_ms_p95": float(np.percentile(wall, 95)),
        # Everything an LLM answer does besides the model call: retrieval, evidence, budget fitting.
        "llm_prompt_preparation_ms_p95": float(np.percentile([r["prepare_ms"] for r in rows[1:]], 95)),
        "missed_gold_quote": [r["id"] for r in single_rows if not r["gold_quote_shown"]],
        "wrongly_abstained": [r["id"] for r in answerable if r["abstained"]],
        "not_abstained": [r["id"] for r in unanswerable if not r["abstained"]],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--mode", default="extractive", choices=["extractive", "llm"])
    parser.add_argument("--data-dir", type=Path, help="an existing store of the demo corpus (default: a fresh one)")
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="paperbot-eval-"))
    bot = PaperBot(Settings(data_dir=data_dir))
    bot.ingest([args.corpus])
    print(json.dumps(evaluate_answers(bot, load_questions(), args.mode), indent=2))


if __name__ == "__main__":
    main()
