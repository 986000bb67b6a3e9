"""Answer metrics on the developer-written demo questions (evals/answer_metrics.py on a fresh or given store).

    python -m evals.answers_demo --corpus ../shared/corpus/inference-cost-papers.txt [--mode extractive|llm]
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from evals.answer_metrics import evaluate_answers
from evals.items import EvalItem
from paperbot import PaperBot, Settings

QUESTIONS = Path(__file__).resolve().parent / "questions" / "demo.jsonl"


def load_questions(path: Path = QUESTIONS) -> list[EvalItem]:
    items = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            q = json.loads(line)
            items.append(EvalItem(id=q["id"], question=q["question"], gold={pid: 1 for pid in q["gold_paper_ids"]},
                                  type=q["type"], gold_quotes=q.get("gold_quotes", {})))
    return items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--mode", default="extractive", choices=["extractive", "llm"])
    parser.add_argument("--data-dir", type=Path, help="an existing store of the demo corpus (default: a fresh one)")
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="paperbot-eval-"))
    bot = PaperBot(Settings(data_dir=data_dir))
    bot.ingest([args.corpus])
    from evals.judge import make_judge

    result = evaluate_answers(bot, load_questions(), mode=args.mode, judge=make_judge(bot.settings))
    missed = {
        "missed_gold_quote": [r["id"] for r in result.rows if r.get("answerable") and r["gold_quote_shown"] is False],
        "wrongly_abstained": [r["id"] for r in result.rows if r.get("answerable") and r["abstained"]],
        "not_abstained": [r["id"] for r in result.rows if r.get("answerable") is False and not r["abstained"]],
    }
    print(json.dumps({"mode": args.mode, "judge": result.judge, **result.metrics, **missed}, indent=2))


if __name__ == "__main__":
    main()
