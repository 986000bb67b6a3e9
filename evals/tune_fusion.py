"""Choose fusion parameters on a BEIR train split: rank once per retriever, then grid-search the fusion offline.

    python -m evals.tune_fusion --dataset ../shared/datasets/scifact --data-dir bench-data --collection bench-scifact
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from ranx import Qrels, Run, evaluate

from evals.beir import load_split
from paperbot import PaperBot, Settings
from paperbot.fusion import reciprocal_rank_fusion


def rankings(bot: PaperBot, queries: dict[str, str], mode: str, depth: int) -> dict[str, list[str]]:
    return {qid: [h.paper_id for h in bot.search(text, k=depth, mode=mode)] for qid, text in queries.items()}


def ndcg(qrels: Qrels, ranked: dict[str, list[str]]) -> float:
    run = {q: ({p: float(len(r) - i) for i, p in enumerate(r)} or {"__none__": 0.0}) for q, r in ranked.items()}
    return float(evaluate(qrels, Run(run), "ndcg@10"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--split", default="train")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--collection", required=True)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("evals/results/fusion-tuning.json"))
    args = parser.parse_args()

    split = load_split(args.dataset, args.split)
    qrels = Qrels(split.qrels)
    results: dict = {"split": f"{args.dataset.name}/{args.split}", "queries": len(split.queries)}
    base = Settings(data_dir=args.data_dir, collection=args.collection, candidates=args.depth)
    bot = PaperBot(base)
    dense = rankings(bot, split.queries, "dense", args.depth)
    results["dense"] = ndcg(qrels, dense)
    lexical_by_title_weight = {}
    for title_weight in (0.0, 1.0, 2.0, 3.0):
        tuned = PaperBot(base.model_copy(update={"title_weight": title_weight}), embedder=bot.embedder)
        lexical_by_title_weight[title_weight] = rankings(tuned, split.queries, "lexical", args.depth)
        results[f"lexical title_weight={title_weight}"] = ndcg(qrels, lexical_by_title_weight[title_weight])
    grid = []
    for title_weight, rrf_k, dense_weight in itertools.product(
        lexical_by_title_weight, (5, 10, 20, 30, 60, 100), (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
    ):
        lexical = lexical_by_title_weight[title_weight]
        fused = {
            q: [p for p, _ in reciprocal_rank_fusion([dense[q], lexical[q]], [dense_weight, 1.0], rrf_k)]
            for q in split.queries
        }
        grid.append({"title_weight": title_weight, "rrf_k": rrf_k, "dense_weight": dense_weight,
                     "lexical_weight": 1.0, "ndcg@10": ndcg(qrels, fused)})
    grid.sort(key=lambda row: row["ndcg@10"], reverse=True)
    results["best"] = grid[0]
    results["rrf_k=60 equal weights, title_weight=1"] = next(
        r for r in grid if (r["title_weight"], r["rrf_k"], r["dense_weight"]) == (1.0, 60, 1.0))
    results["top10"] = grid[:10]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(json.dumps({k: v for k, v in results.items() if k != "top10"}, indent=2))


if __name__ == "__main__":
    main()
