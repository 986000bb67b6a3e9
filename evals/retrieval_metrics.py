"""IR metrics over paper rankings, computed by ranx: nDCG@10, recall@1/5/10/100 and MRR."""

from __future__ import annotations

from ranx import Qrels, Run, evaluate

METRICS = ("ndcg@10", "recall@1", "recall@5", "recall@10", "recall@100", "mrr")


def to_run(rankings: dict[str, list[str]]) -> dict[str, dict[str, float]]:
    """Ranks become descending scores; a query with no hits gets a placeholder ranx accepts (it scores 0)."""
    return {qid: ({pid: float(len(r) - i) for i, pid in enumerate(r)} or {"__no_hit__": 0.0})
            for qid, r in rankings.items()}


def retrieval_metrics(qrels: dict[str, dict[str, int]], rankings: dict[str, list[str]],
                      metrics: tuple[str, ...] = METRICS) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(mean per metric, per-query values) over the queries that have gold papers; unanswerable ones are skipped."""
    judged = {q: g for q, g in qrels.items() if g and q in rankings}
    if not judged:
        return {m: float("nan") for m in metrics}, {}
    run = to_run({q: rankings[q] for q in judged})
    per_query = evaluate(Qrels(judged), Run(run), list(metrics), return_mean=False)
    if len(metrics) == 1:  # ranx returns the bare array for a single metric
        per_query = {metrics[0]: per_query}
    means = {m: float(per_query[m].mean()) for m in metrics}
    ids = list(Run(run).keys())
    per = {qid: {m: float(per_query[m][i]) for m in metrics} for i, qid in enumerate(ids)}
    return means, per
