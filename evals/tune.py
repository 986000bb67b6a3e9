"""Tune fusion parameters on one half of a split (chosen by hashing query ids) and report the other half.

Each retriever ranks every query once (the lexical one once per title weight, since that changes the index); the
fusion grid is then scored offline, which is what makes a few hundred combinations take seconds.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

from evals.items import EvalSet
from evals.retrieval_metrics import retrieval_metrics
from evals.stores import open_store
from paperbot import PaperBot, Settings
from paperbot.retrieval.fusion import reciprocal_rank_fusion

DEPTH = 100
RRF_K = (1, 2, 5, 10, 20, 30, 60, 100)
DENSE_WEIGHT = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)
TITLE_WEIGHT = (0.0, 1.0, 2.0, 3.0)
TUNED = ("rrf_k", "dense_weight", "title_weight")


def half(query_id: str) -> str:
    """'tune' or 'heldout', fixed by the id alone, so every run and machine splits the same way."""
    return "heldout" if hashlib.sha256(query_id.encode()).digest()[0] & 1 else "tune"


def fuse(dense: dict[str, list[str]], lexical: dict[str, list[str]], rrf_k: int, dense_weight: float,
         lexical_weight: float = 1.0) -> dict[str, list[str]]:
    """The same weighted RRF the retriever applies, over the same per-paper rankings (candidates = DEPTH)."""
    return {q: [p for p, _ in reciprocal_rank_fusion([dense[q], lexical[q]], [dense_weight, lexical_weight], rrf_k)]
            [:DEPTH] for q in dense}


def tune(eval_set: EvalSet, base: Settings, *, collection: str | None = None, progress=None) -> dict:
    """base carries the store location; its fusion values are the current defaults the result is compared with."""
    base = base.model_copy(update={"candidates": DEPTH})
    bot, info = open_store(eval_set, base, collection=collection)
    queries = {item.id: item.question for item in eval_set.items if item.gold}
    qrels = {item.id: item.gold for item in eval_set.items if item.gold}
    halves = {name: {q: g for q, g in qrels.items() if half(q) == name} for name in ("tune", "heldout")}

    def rank(b: PaperBot, mode: str) -> dict[str, list[str]]:
        out = {}
        for qid, text in queries.items():
            out[qid] = [h.paper_id for h in b.search(text, k=DEPTH, mode=mode)]
            if progress:
                progress(1)
        return out

    dense = rank(bot, "dense")
    lexical = {}
    for weight in TITLE_WEIGHT:  # each title weight rebuilds the BM25 index once
        b = PaperBot(base.model_copy(update={"collection": info.collection, "title_weight": weight}),
                     embedder=bot.embedder)
        b.refresh_lexical_index()  # readers only load an index; a writer builds it, under the store lock
        lexical[weight] = rank(b, "lexical")
    PaperBot(base.model_copy(update={"collection": info.collection}), embedder=bot.embedder).refresh_lexical_index()

    def scores(rankings: dict[str, list[str]]) -> dict[str, dict[str, float]]:
        return {name: retrieval_metrics(judged, rankings)[0] for name, judged in (*halves.items(), ("full", qrels))}

    grid = []
    for title_weight, rrf_k, dense_weight in itertools.product(TITLE_WEIGHT, RRF_K, DENSE_WEIGHT):
        fused = fuse(dense, lexical[title_weight], rrf_k, dense_weight, base.lexical_weight)
        grid.append({"title_weight": title_weight, "rrf_k": rrf_k, "dense_weight": dense_weight,
                     "tune_ndcg@10": retrieval_metrics(halves["tune"], fused, ("ndcg@10",))[0]["ndcg@10"],
                     "_fused": fused})
    # Highest on the tuning half; ties go to the larger rrf_k and the weights nearest 1 (the less specific choice).
    grid.sort(key=lambda r: (-round(r["tune_ndcg@10"], 6), -r["rrf_k"], abs(r["dense_weight"] - 1),
                             abs(r["title_weight"] - 1)))
    best = grid[0]
    current = next((r for r in grid if (r["title_weight"], r["rrf_k"], r["dense_weight"])
                    == (base.title_weight, base.rrf_k, base.dense_weight)), None)
    current_fused = current["_fused"] if current else fuse(
        dense, lexical.get(base.title_weight) or lexical[1.0], base.rrf_k, base.dense_weight, base.lexical_weight)
    chosen = {k: best[k] for k in TUNED}
    return {
        "dataset": eval_set.name, "store": vars(info), "queries": len(qrels),
        "split_rule": "heldout when the first byte of sha256(query id) is odd, else tune",
        "sizes": {name: len(judged) for name, judged in halves.items()},
        "grid": {"rrf_k": RRF_K, "dense_weight": DENSE_WEIGHT, "title_weight": TITLE_WEIGHT,
                 "lexical_weight": base.lexical_weight, "candidates": DEPTH},
        "chosen": chosen,
        "previous_defaults": {k: getattr(base, k) for k in TUNED},
        "results": {
            "dense": scores(dense),
            "lexical (title_weight=chosen)": scores(lexical[best["title_weight"]]),
            "hybrid (previous defaults)": scores(current_fused),
            "hybrid (chosen)": scores(best["_fused"]),
        },
        "top10_on_tune_half": [{k: v for k, v in r.items() if k != "_fused"} for r in grid[:10]],
    }


def config_lines(result: dict) -> str:
    return ", ".join(f"{k}={v:g}" for k, v in result["chosen"].items())


def write(result: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
