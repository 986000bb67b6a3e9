"""Fit the answerability scorer (paperbot/data/answerability_model.json) on tune rows; report the other halves.

Rows are (question, retrieved evidence) pairs, labelled answerable or not:
- PubMedQA dev questions over the `pubmedqa-abstain` store: answerable with their own abstract, unanswerable with
  it excluded from retrieval (every other abstract kept);
- the demo questions (evals/questions/demo.jsonl) as written, plus each single-paper one with its gold paper
  excluded (unanswerable);
- the tune set (evals/questions/tune.jsonl), the same way: written to be fitted on, so all of it is tune data.
PubMedQA and demo rows are in the 'tune' or 'report' half by sha256 of their question id (evals/items.py). The
model and the thresholds see tune rows only; the thresholds are chosen on out-of-fold probabilities (5 folds by
question id), so they are not set by rows the model has memorised. The second question set
(evals/questions/fresh.jsonl) is never read here.

    python -m evals.train_answerability --datasets-dir ../shared/datasets --work-dir eval-data
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from evals import datasets
from evals.exclusion import Excluding
from evals.items import EvalItem
from evals.stores import open_store
from paperbot import Settings
from paperbot.answer.abstention import decide
from paperbot.answer.answerability import FEATURES, MODEL_FORMAT, features
from paperbot.answer.evidence import build_evidence
from paperbot.text.questions import clean_question

MODEL = Path(__file__).resolve().parents[1] / "paperbot" / "data" / "answerability_model.json"
RESULTS = Path(__file__).resolve().parent / "results" / "answerability.json"
SOURCES = ("pubmedqa", "demo", "tune")
# Limits when choosing thresholds on the tune rows, under the acceptance limits (5% of answerable questions refused
# on question sets, none of the comparisons; 10% on PubMedQA), so the report halves have some room.
MAX_REFUSED_QUESTIONS = 0.04
MAX_REFUSED_COMPARISONS = 0.05  # 1 of the 31 tune comparisons
MAX_REFUSED_PUBMEDQA = 0.06
# Depth 3 lets a tree combine "the subject paper lacks the asked-for value" with how well it covers the question
# (out-of-fold on tune rows, mean of 4 fold seeds: AUC 0.967 vs 0.960 at depth 2 on tune.jsonl rows).
TREES = {"n_estimators": 150, "max_depth": 3, "learning_rate": 0.1, "subsample": 0.8, "random_state": 0}
FOLDS = 5


def _rows_for(bot, items: list[EvalItem], source: str, k: int, *, all_tune: bool = False) -> list[dict]:
    """Features of each item as the answerer sees them: cleaned question, top-k hybrid hits, their evidence."""
    vocabulary = bot.vocabulary()
    rows = []
    for item in items:
        question = clean_question(item.question, bot.settings.max_question_chars).text
        retriever = Excluding(bot.retriever, item.exclude) if item.exclude else bot.retriever
        hits = retriever.search(question, k)
        evidence = build_evidence(hits, question, vocabulary)
        feats = features(question, hits, evidence, vocabulary)
        rows.append({"source": source, "id": item.id, "type": item.type,
                     "split": "tune" if all_tune else item.split, "answerable": bool(item.gold),
                     "missing": bool(feats.missing_names), "x": [feats.values[f] for f in FEATURES]})
    return rows


def _with_removed(items: list[EvalItem]) -> list[EvalItem]:
    out = list(items)
    for item in items:
        if len(item.gold) == 1:
            out.append(EvalItem(f"{item.id}/removed", item.question, {}, "unanswerable", exclude=tuple(item.gold)))
    return out


def collect(root: Path, work_dir: Path, settings: Settings) -> list[dict]:
    k = settings.answer_k
    abstain = datasets.load("pubmedqa-abstain", questions=None, corpus=[], split=None, datasets_dir=root,
                            demo_corpus=None, work_dir=work_dir)
    bot, _ = open_store(abstain, settings)
    rows = _rows_for(bot, abstain.items, "pubmedqa", k)
    demo = datasets.load("demo", questions=None, corpus=[], split=None, datasets_dir=root, demo_corpus=None,
                         work_dir=work_dir)
    bot, _ = open_store(demo, settings, embedder=bot.embedder)
    rows += _rows_for(bot, _with_removed(demo.items), "demo", k)
    tune = datasets.load("tune", questions=None, corpus=[], split=None, datasets_dir=root, demo_corpus=None,
                         work_dir=work_dir)
    rows += _rows_for(bot, _with_removed(tune.items), "tune", k, all_tune=True)
    return rows


def _weights(rows: list[dict]) -> np.ndarray:
    """Each source weighs the same in the fit (the question sets are small but closest to what users ask)."""
    counts = {s: sum(r["source"] == s for r in rows) for s in SOURCES}
    return np.array([len(rows) / (len(SOURCES) * counts[r["source"]]) for r in rows])


def fit(rows: list[dict]):
    from sklearn.ensemble import GradientBoostingClassifier

    x = np.array([r["x"] for r in rows])
    y = np.array([r["answerable"] for r in rows], dtype=int)
    return GradientBoostingClassifier(**TREES).fit(x, y, sample_weight=_weights(rows))


def out_of_fold(rows: list[dict]) -> np.ndarray:
    """Each row's probability from a model fitted without its fold (folds by question id, twins together)."""
    fold = np.array([hashlib.sha256(r["id"].split("/", 1)[0].encode()).digest()[1] % FOLDS for r in rows])
    x = np.array([r["x"] for r in rows])
    p = np.zeros(len(rows))
    for f in range(FOLDS):
        model = fit([r for r, g in zip(rows, fold) if g != f])
        p[fold == f] = model.predict_proba(x[fold == f])[:, 1]
    return p


def _yes_no(rows: list[dict]) -> np.ndarray:
    return np.array([r["x"][FEATURES.index("yes_no")] > 0.5 for r in rows])


def declined(rows: list[dict], p: np.ndarray, thresholds: tuple[float, float, float]) -> np.ndarray:
    """abstention.decide() over rows, negated: True where the answer is declined."""
    return np.array([not decide(float(q), names_missing=r["missing"], yes_no=bool(yn), threshold=thresholds[0],
                                missing_name_threshold=thresholds[1], yes_no_threshold=thresholds[2])
                     for r, q, yn in zip(rows, p, _yes_no(rows))])


def choose_thresholds(rows: list[dict], p: np.ndarray) -> tuple[float, float, float]:
    """On tune rows: the (answerable, missing-name, yes/no) thresholds declining the most unanswerable rows (question
    sets and PubMedQA weighing the same) within every refusal limit, searched together: chosen one after the other,
    the first pair used up the refusal budget the yes/no threshold needs for PubMedQA's questions, nearly all of which
    are yes/no. Ties go to the lowest thresholds."""
    grid = np.round(np.arange(0.01, 0.99, 0.01), 2)
    answerable = np.array([r["answerable"] for r in rows], dtype=bool)
    questions = np.array([r["source"] != "pubmedqa" for r in rows])
    comparison = np.array([r["type"] == "comparison" for r in rows]) & answerable
    missing = np.array([r["missing"] for r in rows], dtype=bool)
    yes_no = _yes_no(rows)
    masks = {"refused": questions & answerable, "declined": questions & ~answerable, "comparisons": comparison,
             "pubmedqa_refused": ~questions & answerable, "pubmedqa_declined": ~questions & ~answerable}
    best, score = (0.0, 0.0, 0.0), -1.0
    for low in grid:
        above = grid[grid >= low]
        out = out_at(p, missing, yes_no, (low, above[:, None, None], above[None, :, None]))  # out[h, y, row]
        rate = {k: out[:, :, m].mean(axis=2) if m.any() else np.zeros(out.shape[:2]) for k, m in masks.items()}
        fits = ((rate["refused"] <= MAX_REFUSED_QUESTIONS) & (rate["comparisons"] <= MAX_REFUSED_COMPARISONS)
                & (rate["pubmedqa_refused"] <= MAX_REFUSED_PUBMEDQA))
        total = np.where(fits, rate["declined"] + rate["pubmedqa_declined"], -1.0)
        h, y = np.unravel_index(int(np.argmax(total)), total.shape)
        if total[h, y] > score + 1e-12:
            best, score = (float(low), float(above[h]), float(above[y])), float(total[h, y])
    # The search's arithmetic must be abstention.decide()'s: recount the chosen point through it.
    assert np.array_equal(declined(rows, p, best), out_at(p, missing, yes_no, best))
    return best


def out_at(p: np.ndarray, missing: np.ndarray, yes_no: np.ndarray, thresholds: tuple) -> np.ndarray:
    """Declined rows at (answerable, missing-name, yes/no) thresholds, by array arithmetic: abstention.decide() takes
    the largest threshold that applies. The thresholds may be arrays that broadcast against the rows (a grid)."""
    low, high, yes = thresholds
    return p < np.maximum(np.where(missing, np.maximum(low, high), low), np.where(yes_no, yes, 0.0))


def figures(rows: list[dict], p: np.ndarray, thresholds) -> dict:
    """Per source: answerable refused, unanswerable declined (comparisons apart), and counts."""
    out = declined(rows, p, thresholds)
    result = {}
    for source in SOURCES:
        mine = [i for i, r in enumerate(rows) if r["source"] == source]
        if not mine:
            continue
        sub = [rows[i] for i in mine]
        answerable = np.array([r["answerable"] for r in sub], dtype=bool)
        comparison = np.array([r["type"] == "comparison" for r in sub])
        o = out[mine]
        result[source] = {
            "answerable": int(answerable.sum()), "unanswerable": int((~answerable).sum()),
            "answerable_refused": float(o[answerable].mean()) if answerable.any() else None,
            "comparison_refused": float(o[answerable & comparison].mean()) if (answerable & comparison).any() else None,
            "unanswerable_declined": float(o[~answerable].mean()) if (~answerable).any() else None,
        }
    return result


def export(model) -> dict:
    """The fitted trees as plain lists (numpy reads them at run time; sklearn is for training only)."""
    trees = []
    for estimator in model.estimators_[:, 0]:
        t = estimator.tree_
        trees.append({"feature": [int(v) for v in t.feature], "threshold": [round(float(v), 6) for v in t.threshold],
                      "left": [int(v) for v in t.children_left], "right": [int(v) for v in t.children_right],
                      "value": [round(float(v), 6) for v in t.value[:, 0, 0]]})
    # The ensemble's starting logit: what it predicts before any tree (the weighted prior).
    zero = np.zeros((1, len(FEATURES)))
    init = float(model.decision_function(zero)[0]) - model.learning_rate * sum(
        float(e.predict(zero)[0]) for e in model.estimators_[:, 0])
    return {"init": round(init, 6), "rate": model.learning_rate, "trees": trees}


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
    tune = [r for r in rows if r["split"] == "tune"]
    report = [r for r in rows if r["split"] == "report"]
    oof = out_of_fold(tune)
    thresholds = choose_thresholds(tune, oof)
    model = fit(tune)
    body = {"format": MODEL_FORMAT, "features": list(FEATURES), **export(model)}
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:12]
    tune_ids = sorted(r["id"] for r in tune)
    command = "python -m evals.train_answerability " + " ".join(sys.argv[1:] if argv is None else argv)
    saved = {**body, "version": f"answerability-{digest}", "threshold": thresholds[0],
             "missing_name_threshold": thresholds[1], "yes_no_threshold": thresholds[2],
             "trained_on": {"rows": len(tune), "split": "tune (sha256 of the question id, evals/items.py; all of "
                            "evals/questions/tune.jsonl)",
                            "sources": {s: sum(r["source"] == s for r in tune) for s in SOURCES},
                            "tune_ids_sha256": hashlib.sha256("\n".join(tune_ids).encode()).hexdigest()},
             "trees_params": TREES, "command": command}
    MODEL.write_text(json.dumps(saved, separators=(",", ":")) + "\n", encoding="utf-8")
    from paperbot.answer.answerability import parse_model
    runtime = parse_model(saved, str(MODEL))  # what paperbot will load must give sklearn's probabilities
    x_report = np.array([r["x"] for r in report])
    p_report = model.predict_proba(x_report)[:, 1]
    check = np.array([1 / (1 + np.exp(-runtime.logit(x))) for x in x_report[:50]])
    assert np.allclose(check, p_report[:50], atol=1e-4), "exported trees disagree with sklearn"
    importance = dict(zip(FEATURES, (round(float(v), 4) for v in model.feature_importances_)))
    result = {"model": saved["version"], "thresholds": dict(zip(("answerable", "missing_name", "yes_no"), thresholds)),
              "limits": {"questions_refused": MAX_REFUSED_QUESTIONS, "comparisons_refused": MAX_REFUSED_COMPARISONS,
                         "pubmedqa_refused": MAX_REFUSED_PUBMEDQA},
              "command": command, "date": datetime.now(UTC).isoformat(timespec="seconds"),
              "seconds": round(time.perf_counter() - started, 1), "feature_importance": importance,
              "figures": {"report": figures(report, p_report, thresholds),
                          "tune_out_of_fold": figures(tune, oof, thresholds),
                          "tune_in_sample": figures(tune, model.predict_proba(np.array([r["x"] for r in tune]))[:, 1],
                                                    thresholds)}}
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
