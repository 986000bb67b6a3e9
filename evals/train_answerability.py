"""Fit the answerability scorer (paperbot/data/answerability_model.json) on the tune halves; report the other halves.

Rows are (question, retrieved evidence) pairs, labelled answerable or not:
- SciFact train claims with evidence: answerable over a store holding their cited abstracts; unanswerable with
  those abstracts excluded from retrieval (every other abstract kept);
- PubMedQA dev questions, the same way with their own abstract (the `pubmedqa-abstain` eval set);
- the demo questions: answerable and unanswerable as written, plus each single-paper question with its gold paper
  excluded (unanswerable).
Every row is in the 'tune' or 'report' half by sha256 of its question id (evals/items.py). The model and the
threshold are fitted on 'tune' rows only; figures are written for both halves, the report half first. The second
question set (evals/questions/fresh.jsonl) is never read here.

    python -m evals.train_answerability --datasets-dir ../shared/datasets --work-dir eval-data
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from evals import datasets
from evals.exclusion import Excluding
from evals.items import EvalItem
from evals.stores import open_store
from paperbot import Settings
from paperbot.answerability import FEATURES, MODEL_FORMAT, features
from paperbot.evidence import build_evidence
from paperbot.questions import clean_question

MODEL = Path(__file__).resolve().parents[1] / "paperbot" / "data" / "answerability_model.json"
RESULTS = Path(__file__).resolve().parent / "results" / "answerability.json"
# Target when fitting the threshold on the tune halves: refuse at most this share of answerable questions in any
# source (1 of the 28 answerable demo tune questions), under the acceptance limits (5% on question sets, 10% on
# PubMedQA).
MAX_REFUSED_TUNE = 0.04
SOURCES = ("scifact", "pubmedqa", "demo")


def _rows_for(bot, items: list[EvalItem], source: str, k: int) -> list[dict]:
    """Features of each item as the answerer sees them: cleaned question, top-k hybrid hits, their evidence."""
    vocabulary = bot.vocabulary()
    rows = []
    for item in items:
        question = clean_question(item.question, bot.settings.max_question_chars).text
        retriever = Excluding(bot.retriever, item.exclude) if item.exclude else bot.retriever
        hits = retriever.search(question, k)
        evidence = build_evidence(hits, question, vocabulary)
        feats = features(question, hits, evidence, vocabulary)
        rows.append({"source": source, "id": item.id, "type": item.type, "split": item.split,
                     "answerable": bool(item.gold), "x": [feats.values[f] for f in FEATURES]})
    return rows


def _scifact_items(root: Path) -> list[EvalItem]:
    claims = datasets.read_queries(root / "scifact" / "queries_train.jsonl")
    qrels = datasets.read_qrels(root / "scifact" / "qrels_train.tsv")
    items = []
    for cid, claim in claims.items():
        cited = tuple(f"scifact:{d}" for d in (claim.get("evidence") or {}))
        if not cited:  # cited abstracts that hold no evidence: neither clearly answerable nor a clean negative
            continue
        excluded = tuple(dict.fromkeys([*cited, *(f"scifact:{d}" for d in qrels.get(cid, {}))]))
        items.append(EvalItem(f"scifact-{cid}", claim["text"], dict.fromkeys(cited, 1), "claim"))
        items.append(EvalItem(f"scifact-{cid}/removed", claim["text"], {}, "unanswerable", exclude=excluded))
    return items


def _demo_items(eval_set) -> list[EvalItem]:
    items = list(eval_set.items)
    for item in eval_set.items:
        if len(item.gold) == 1:
            items.append(EvalItem(f"{item.id}/removed", item.question, {}, "unanswerable", exclude=tuple(item.gold)))
    return items


def collect(root: Path, work_dir: Path, settings: Settings) -> list[dict]:
    k = settings.answer_k
    rows = []
    abstain = datasets.load("pubmedqa-abstain", questions=None, corpus=[], split=None, datasets_dir=root,
                            demo_corpus=None, work_dir=work_dir)
    bot, _ = open_store(abstain, settings)
    embedder = bot.embedder
    rows += _rows_for(bot, _scifact_items(root), "scifact", k)
    rows += _rows_for(bot, abstain.items, "pubmedqa", k)
    demo = datasets.load("demo", questions=None, corpus=[], split=None, datasets_dir=root, demo_corpus=None,
                         work_dir=work_dir)
    bot, _ = open_store(demo, settings, embedder=embedder)
    rows += _rows_for(bot, _demo_items(demo), "demo", k)
    return rows


def fit(rows: list[dict]):
    """Logistic regression on the tune rows, each source weighted equally (the demo set is small but closest to
    what users ask); returns (mean, scale, weights, bias)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    tune = [r for r in rows if r["split"] == "tune"]
    x = np.array([r["x"] for r in tune])
    y = np.array([r["answerable"] for r in tune], dtype=int)
    counts = {s: sum(r["source"] == s for r in tune) for s in SOURCES}
    weight = np.array([len(tune) / (len(SOURCES) * counts[r["source"]]) for r in tune])
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=1.0, max_iter=1000).fit(scaler.transform(x), y, sample_weight=weight)
    return scaler.mean_, scaler.scale_, model.coef_[0], float(model.intercept_[0])


def probabilities(rows: list[dict], mean, scale, weights, bias) -> np.ndarray:
    x = np.array([r["x"] for r in rows])
    return 1 / (1 + np.exp(-(((x - mean) / scale) @ weights + bias)))


def _missing(rows: list[dict]) -> np.ndarray:
    return np.array([r["x"][FEATURES.index("names_found_all")] < 1 for r in rows])


def declined(rows: list[dict], p: np.ndarray, thresholds: tuple[float, float]) -> np.ndarray:
    """abstention.decide() over rows, negated: True where the answer is declined."""
    return p < np.where(_missing(rows), thresholds[1], thresholds[0])


def choose_thresholds(rows: list[dict], p: np.ndarray) -> tuple[float, float]:
    """(answerable_threshold, missing_name_threshold) on the tune rows: of the pairs at which no source refuses more
    than MAX_REFUSED_TUNE of its answerable questions, the one declining the most unanswerable ones (mean over
    sources; ties: the lower thresholds)."""
    tune = [i for i, r in enumerate(rows) if r["split"] == "tune"]
    sub, q = [rows[i] for i in tune], p[tune]
    masks = {s: (np.array([r["source"] == s for r in sub]), np.array([r["answerable"] for r in sub]))
             for s in SOURCES}
    grid = np.round(np.arange(0.01, 0.99, 0.01), 2)
    best, best_score = (0.0, 0.0), -1.0
    for low in grid:
        for high in grid[grid >= low]:
            out = declined(sub, q, (low, high))
            if any(np.mean(out[m & a]) > MAX_REFUSED_TUNE for m, a in masks.values()):
                continue
            score = float(np.mean([np.mean(out[m & ~a]) for m, a in masks.values()]))
            if score > best_score:
                best, best_score = (float(low), float(high)), score
    return best


def figures(rows: list[dict], p: np.ndarray, thresholds: tuple[float, float]) -> dict:
    """Per split (report first), per source: answerable refused, unanswerable declined, and counts."""
    out = {}
    for split in ("report", "tune"):
        out[split] = {}
        for source in SOURCES:
            mine = [i for i, r in enumerate(rows) if r["split"] == split and r["source"] == source]
            out_ = declined([rows[i] for i in mine], p[mine], thresholds)
            answerable = np.array([rows[i]["answerable"] for i in mine], dtype=bool)
            out[split][source] = {
                "answerable": int(answerable.sum()), "unanswerable": int((~answerable).sum()),
                "answerable_refused": float(out_[answerable].mean()) if answerable.any() else None,
                "unanswerable_declined": float(out_[~answerable].mean()) if (~answerable).any() else None,
            }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets-dir", type=Path, required=True)
    parser.add_argument("--work-dir", type=Path, default=Path("eval-data"))
    parser.add_argument("--features-cache", type=Path, default=None, help="reuse (or write) the feature rows here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    settings = Settings(data_dir=args.work_dir.resolve())
    if args.features_cache and args.features_cache.is_file():
        rows = json.loads(args.features_cache.read_text(encoding="utf-8"))
    else:
        rows = collect(args.datasets_dir, args.work_dir.resolve(), settings)
        if args.features_cache:
            args.features_cache.write_text(json.dumps(rows), encoding="utf-8")
    mean, scale, weights, bias = fit(rows)
    p = probabilities(rows, mean, scale, weights, bias)
    thresholds = choose_thresholds(rows, p)
    figs = figures(rows, p, thresholds)
    tune_ids = sorted(r["id"] for r in rows if r["split"] == "tune")
    body = {"format": MODEL_FORMAT, "features": list(FEATURES), "mean": [round(float(v), 6) for v in mean],
            "scale": [round(float(v), 6) for v in scale], "weights": [round(float(v), 6) for v in weights],
            "bias": round(bias, 6)}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
    model = {**body, "version": f"answerability-{digest}", "threshold": thresholds[0],
             "missing_name_threshold": thresholds[1],
             "trained_on": {"rows": len(tune_ids), "split": "tune (sha256 of the question id, evals/items.py)",
                            "sources": {s: sum(r["source"] == s and r["split"] == "tune" for r in rows)
                                        for s in SOURCES},
                            "tune_ids_sha256": hashlib.sha256("\n".join(tune_ids).encode()).hexdigest()},
             "command": "python -m evals.train_answerability " + " ".join(sys.argv[1:] if argv is None else argv)}
    MODEL.write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")
    result = {"model": model["version"], "threshold": thresholds[0], "missing_name_threshold": thresholds[1],
              "max_refused_tune": MAX_REFUSED_TUNE, "command": model["command"],
              "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "seconds": round(time.perf_counter() - started, 1),
              "weights": dict(zip(FEATURES, model["weights"])), "figures": figs}
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"thresholds": thresholds, "weights": result["weights"], "figures": figs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
