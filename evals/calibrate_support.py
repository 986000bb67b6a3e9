"""Calibrate the citation-support threshold on SciFact claims: a claim against the abstract that supports it
(positive) or against the best-ranked abstract that holds no evidence for it (hard negative).

    python -m evals.calibrate_support --dataset ../shared/datasets/scifact --data-dir bench-data --collection bench-scifact
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from paperbot import PaperBot, Settings
from paperbot.citations import support
from paperbot.sentences import sentence_spans
from paperbot.types import Evidence


def score(bot: PaperBot, claim: str, paper_id: str) -> float:
    paper = bot.paper(paper_id)
    sentences = tuple(paper.abstract[s:e] for s, e in sentence_spans(paper.abstract))
    evidence = [Evidence("P1", paper.id, paper.title, None, None, sentences, 1, 1.0)]
    return support(f"{claim} [P1]", evidence, bot.vocabulary())[0].score


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--collection", required=True)
    parser.add_argument("--out", type=Path, default=Path("evals/results/support-calibration.json"))
    args = parser.parse_args()
    bot = PaperBot(Settings(data_dir=args.data_dir, collection=args.collection))
    positives, negatives = [], []
    for line in (args.dataset / "queries_train.jsonl").read_text().splitlines():
        record = json.loads(line)
        supporting = [doc for doc, ev in record.get("evidence", {}).items() if ev["label"] == "SUPPORT"]
        if not supporting:
            continue
        claim = record["text"]
        positives.extend(score(bot, claim, doc) for doc in supporting)
        cited = set(record.get("evidence", {}))
        wrong = next((h.paper_id for h in bot.search(claim, k=5) if h.paper_id not in cited), None)
        if wrong:
            negatives.append(score(bot, claim, wrong))
    pos, neg = np.array(positives), np.array(negatives)
    rows = []
    for threshold in np.arange(0.2, 0.85, 0.05):
        tpr, tnr = float((pos >= threshold).mean()), float((neg < threshold).mean())
        rows.append({"threshold": round(float(threshold), 2), "supported_kept": round(tpr, 3),
                     "unsupported_flagged": round(tnr, 3), "balanced_accuracy": round((tpr + tnr) / 2, 3)})
    best = max(rows, key=lambda r: r["balanced_accuracy"])
    result = {"positives": len(pos), "hard_negatives": len(neg), "best": best, "grid": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "grid"}, indent=2))
    for row in rows:
        print(row)


if __name__ == "__main__":
    main()
