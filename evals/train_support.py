"""Train the learned support scorer on SciFact train claims against abstracts, and report it on held-out claims.

    python -m evals.train_support --scifact ../shared/datasets/scifact

Pairs (claim, abstract sentences with the title first), labelled from SciFact's evidence:
  support        the claim against an abstract whose evidence SUPPORTs it                       positive
  contradict     the claim against an abstract whose evidence CONTRADICTs it                    negative
  nei            a claim whose cited abstracts hold no evidence (SciFact's NOT ENOUGH INFO)     negative
  hard-negative  a claim with evidence against the top BM25 abstract it does not cite           negative
Claims are split by sha256(claim id) (evals.tune.half): the model, its threshold and the lexical scorer's threshold
are fitted on the 'tune' half only (threshold from 5-fold out-of-fold predictions, folds grouped by claim); every
reported figure is on the 'heldout' half. The ablation drops one feature group, refits on tune, reports heldout.
Writes paperbot/data/support_model.json (the shipped weights) and evals/results/support-model.{json,md}.
scikit-learn is used here only; paperbot reads the weights with numpy.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from evals.tune import half
from paperbot.config import Settings
from paperbot.support.checks import NumberChecked
from paperbot.support.features import FEATURE_NAMES, GROUPS
from paperbot.support.learned import DEFAULT_MODEL_FILE, LearnedSupportScorer, SupportModel
from paperbot.support.scorer import DEFAULT_THRESHOLD, LexicalSupportScorer
from paperbot.text.sentences import sentence_spans
from paperbot.text.terms import Vocabulary, terms

MODEL_NAME = "learned-v1"
COMMAND = "python -m evals.train_support --scifact ../shared/datasets/scifact"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def load_pairs(folder: Path) -> tuple[list[dict], dict[str, list[str]], Vocabulary]:
    corpus = {str(r["_id"]): r for r in read_jsonl(folder / "corpus.jsonl")}
    sources = {doc: [r["title"], *(r["text"][s:e] for s, e in sentence_spans(r["text"]))] for doc, r in corpus.items()}
    vocabulary = Vocabulary(f"{r['title']} {r['text']}" for r in corpus.values())
    cited: dict[str, set[str]] = {}
    for line in (folder / "qrels_train.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        query, doc, *_ = line.split("\t")
        cited.setdefault(query, set()).add(doc)
    import bm25s  # hard negatives only; paperbot's own BM25 index needs an ingested store

    doc_ids = list(corpus)
    index = bm25s.BM25()
    index.index([terms(f"{corpus[d]['title']} {corpus[d]['text']}") for d in doc_ids], show_progress=False)
    pairs = []
    for record in read_jsonl(folder / "queries_train.jsonl"):
        qid, claim, evidence = str(record["_id"]), record["text"], record.get("evidence") or {}
        for doc, item in evidence.items():
            label = item["label"]
            pairs.append({"claim_id": qid, "claim": claim, "doc": doc, "kind": label.lower(),
                          "label": int(label == "SUPPORT")})
        if not evidence:
            for doc in sorted(cited.get(qid, ())):
                pairs.append({"claim_id": qid, "claim": claim, "doc": doc, "kind": "nei", "label": 0})
            continue
        known = cited.get(qid, set()) | set(evidence)
        ranked, _ = index.retrieve([terms(claim)], k=10, show_progress=False)
        wrong = next((doc_ids[i] for i in ranked[0] if doc_ids[i] not in known), None)
        if wrong is not None:
            pairs.append({"claim_id": qid, "claim": claim, "doc": wrong, "kind": "hard-negative", "label": 0})
    return pairs, sources, vocabulary


class CachedEmbedder:
    """The real MiniLM embedder behind a dict, so the runtime scorer re-scores pairs without embedding twice."""

    def __init__(self, embedder) -> None:
        self._embedder = embedder
        self.vectors: dict[str, np.ndarray] = {}
        self.known: dict[str, np.ndarray] = {}  # from the cache file, by sha256 of the text

    def embed(self, texts):
        for text in texts:
            if text not in self.vectors and _key(text) in self.known:
                self.vectors[text] = self.known[_key(text)]
        missing = list(dict.fromkeys(t for t in texts if t not in self.vectors))
        if missing:
            self.vectors.update(zip(missing, self._embedder.embed(missing), strict=True))
        return np.stack([self.vectors[t] for t in texts])

    def save(self, path: Path) -> None:
        # Keyed by the texts' sha256: a fixed-width key, where the texts themselves would pad to the longest abstract.
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, keys=np.array([_key(t) for t in self.vectors]), vectors=np.stack(list(self.vectors.values())))

    def load(self, path: Path) -> None:
        cached = np.load(path, allow_pickle=False)
        self.known = dict(zip(cached["keys"].tolist(), cached["vectors"], strict=True))


def _key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def balanced_accuracy(labels: np.ndarray, scores: np.ndarray, threshold: float) -> float:
    predicted = scores >= threshold
    return float(((predicted[labels == 1]).mean() + (~predicted[labels == 0]).mean()) / 2)


def best_threshold(labels: np.ndarray, scores: np.ndarray) -> float:
    grid = np.unique(np.round(scores, 4))
    candidates = (grid[:-1] + grid[1:]) / 2 if len(grid) > 1 else grid
    return float(max(candidates, key=lambda t: balanced_accuracy(labels, scores, t)))


def fit(rows: np.ndarray, labels: np.ndarray, groups: np.ndarray, columns: list[int]) -> tuple[object, float]:
    """Logistic regression on standardised features; threshold from out-of-fold predictions on the same half."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def model():
        return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000))

    oof = cross_val_predict(model(), rows[:, columns], labels, groups=groups, cv=GroupKFold(n_splits=5),
                            method="predict_proba")[:, 1]
    return model().fit(rows[:, columns], labels), best_threshold(labels, oof)


def rates(labels: np.ndarray, kinds: np.ndarray, scores: np.ndarray, threshold: float) -> dict:
    supported = scores >= threshold
    out = {"balanced_accuracy": round(balanced_accuracy(labels, scores, threshold), 3),
           "support_vs_hard_negative": round(balanced_accuracy(
               labels[np.isin(kinds, ["support", "hard-negative"])],
               scores[np.isin(kinds, ["support", "hard-negative"])], threshold), 3)}
    for kind in ("support", "contradict", "nei", "hard-negative"):
        mask = kinds == kind
        share = supported[mask].mean() if kind == "support" else (~supported[mask]).mean()
        out["kept_support" if kind == "support" else f"flagged_{kind}"] = round(float(share), 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scifact", type=Path, required=True, help="the SciFact folder (BEIR layout with evidence)")
    parser.add_argument("--models-dir", type=Path, default=None, help="default: PAPERBOT_MODELS_DIR")
    parser.add_argument("--model-out", type=Path, default=DEFAULT_MODEL_FILE)
    parser.add_argument("--results", type=Path, default=Path("evals/results/support-model"))
    parser.add_argument("--cache", type=Path, default=Path("bench-data/support-embeddings.npz"),
                        help="MiniLM vectors of every text, kept between runs (embedding is most of the time)")
    args = parser.parse_args()
    started = time.perf_counter()
    import sklearn

    from paperbot.store.minilm import MiniLMEmbedder

    settings = Settings(models_dir=args.models_dir) if args.models_dir else Settings()
    pairs, sources, vocabulary = load_pairs(args.scifact)
    embedder = CachedEmbedder(MiniLMEmbedder(settings.minilm_dir))
    if args.cache.is_file():
        embedder.load(args.cache)
    print(f"{len(pairs)} pairs: {dict(Counter(p['kind'] for p in pairs))}", file=sys.stderr)

    claims = [p["claim"] for p in pairs]
    texts = [sources[p["doc"]] for p in pairs]
    labels = np.array([p["label"] for p in pairs])
    kinds = np.array([p["kind"] for p in pairs])
    split = np.array([half(p["claim_id"]) for p in pairs])
    groups = np.array([p["claim_id"] for p in pairs])
    probe = LearnedSupportScorer(embedder, vocabulary, model=_placeholder())
    rows = probe.features(claims, texts)
    print(f"features in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    embedder.save(args.cache)
    tune, held = split == "tune", split == "heldout"
    np.savez(args.cache.with_name("support-features.npz"), rows=rows, labels=labels, kinds=kinds, split=split,
             groups=groups)

    all_columns = list(range(len(FEATURE_NAMES)))
    pipeline, threshold = fit(rows[tune], labels[tune], groups[tune], all_columns)
    scaler, regression = pipeline[0], pipeline[1]
    model = SupportModel(
        # Rounded, so that a rerun writes the same file (the last digits vary with BLAS summation order).
        name=MODEL_NAME, features=FEATURE_NAMES, mean=np.round(scaler.mean_, 8), scale=np.round(scaler.scale_, 8),
        coefficients=np.round(regression.coef_[0], 8), intercept=round(float(regression.intercept_[0]), 8),
        threshold=round(threshold, 4), embedder=embedder._embedder.id,
        provenance={
            "command": COMMAND, "data": "SciFact train claims (queries_train.jsonl evidence, qrels_train.tsv)",
            "split": "fitted on claims with an even first byte of sha256(claim id) ('tune'); the odd half is the "
                     "held-out report split", "pairs_fitted": int(tune.sum()),
            "model": "sklearn StandardScaler + LogisticRegression(C=1, class_weight=balanced); threshold: best "
                     "balanced accuracy of 5-fold out-of-fold predictions on the tune half",
            "scikit_learn": sklearn.__version__,
        },
    )
    args.model_out.write_text(json.dumps(model.to_json(), indent=1) + "\n", encoding="utf-8")

    # Held-out figures through the runtime scorers themselves (quote shortcut and number check included).
    learned = LearnedSupportScorer(embedder, vocabulary, model=model)
    lexical = LexicalSupportScorer(vocabulary)

    def scored(scorer, mask):
        return np.array(scorer.score([c for c, m in zip(claims, mask) if m], [t for t, m in zip(texts, mask) if m]))

    lexical_threshold = best_threshold(labels[tune], scored(lexical, tune))
    results = {
        "command": COMMAND,
        "pairs": {s: dict(sorted(Counter(kinds[split == s].tolist()).items())) for s in ("tune", "heldout")},
        "claims": {s: len(set(groups[split == s])) for s in ("tune", "heldout")},
        "learned": {"name": MODEL_NAME, "threshold": model.threshold,
                    "heldout": rates(labels[held], kinds[held], scored(learned, held), model.threshold),
                    "tune": rates(labels[tune], kinds[tune], scored(learned, tune), model.threshold)},
        "lexical": {"threshold": round(lexical_threshold, 4),
                    "heldout": rates(labels[held], kinds[held], scored(lexical, held), lexical_threshold),
                    "tune": rates(labels[tune], kinds[tune], scored(lexical, tune), lexical_threshold)},
        "lexical_number_checked": {
            "heldout": rates(labels[held], kinds[held], scored(NumberChecked(lexical), held), lexical_threshold)},
        "lexical_shipped_threshold": {"threshold": DEFAULT_THRESHOLD, "heldout": rates(
            labels[held], kinds[held], scored(lexical, held), DEFAULT_THRESHOLD)},
        "coefficients": dict(zip(FEATURE_NAMES, np.round(model.coefficients, 3).tolist())),
        "ablation": {},
    }
    for group, names in GROUPS.items():
        columns = [i for i, name in enumerate(FEATURE_NAMES) if name not in names]
        reduced, cut = fit(rows[tune], labels[tune], groups[tune], columns)
        held_scores = reduced.predict_proba(rows[held][:, columns])[:, 1]
        results["ablation"][f"without {group}"] = rates(labels[held], kinds[held], held_scores, cut)
    for group, names in (("embedding only", GROUPS["embedding"]), ("coverage only", GROUPS["coverage"])):
        columns = [i for i, name in enumerate(FEATURE_NAMES) if name in names]
        reduced, cut = fit(rows[tune], labels[tune], groups[tune], columns)
        held_scores = reduced.predict_proba(rows[held][:, columns])[:, 1]
        results["ablation"][group] = rates(labels[held], kinds[held], held_scores, cut)
    full = rates(labels[held], kinds[held], pipeline.predict_proba(rows[held])[:, 1], threshold)
    results["ablation"]["all features (model only, no hard checks)"] = full
    print(f"{time.perf_counter() - started:.0f}s", file=sys.stderr)  # not in the results: a rerun writes the same files
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    args.results.with_suffix(".md").write_text(markdown(results), encoding="utf-8")
    print(markdown(results))
    if round(lexical_threshold, 4) != DEFAULT_THRESHOLD:
        print(f"the lexical threshold fitted on tune is {lexical_threshold:.4f}, the shipped one {DEFAULT_THRESHOLD}: "
              "set lexical_support_threshold's default in paperbot/config.py to the fitted value", file=sys.stderr)


def _placeholder() -> SupportModel:
    """A model that is never used to score: the probe only computes features."""
    n = len(FEATURE_NAMES)
    return SupportModel("features-only", FEATURE_NAMES, np.zeros(n), np.ones(n), np.zeros(n), 0.0, 0.5, "")


def markdown(r: dict) -> str:
    def row(name: str, figures: dict) -> str:
        return (f"| {name} | {figures['balanced_accuracy']:.3f} | {figures['support_vs_hard_negative']:.3f} | "
                f"{figures['kept_support']:.3f} | {figures['flagged_contradict']:.3f} | {figures['flagged_nei']:.3f} | "
                f"{figures['flagged_hard-negative']:.3f} |")

    header = ("| scorer | balanced accuracy | BA support vs hard negative | support kept | contradict flagged | "
              "NEI flagged | hard negative flagged |\n|---|---|---|---|---|---|---|")
    lines = [
        "# Support scorer: learned vs lexical on held-out SciFact claims", "",
        f"Command: `{r['command']}`", "",
        f"Claims split by sha256(claim id): tune {r['claims']['tune']} claims {r['pairs']['tune']}, held out "
        f"{r['claims']['heldout']} claims {r['pairs']['heldout']}. Every threshold and weight is fitted on tune; "
        "every figure below is on the held-out half unless it says tune.", "",
        "Pairs: `support` = a claim against an abstract whose evidence supports it (positive); `contradict` = "
        "against an abstract whose evidence contradicts it; `nei` = a claim whose cited abstracts hold no evidence "
        "(SciFact's NOT ENOUGH INFO); `hard-negative` = against the top BM25 abstract it does not cite. Balanced "
        "accuracy = (support kept + all negatives flagged) / 2, all three negative kinds pooled; the second column "
        "is support against hard negatives only (the construction of the earlier lexical calibration, 0.70 with "
        "hybrid-retrieved negatives on all of train). Scorers run as paperbot runs them: a sentence quoted from its "
        "source scores 1, a number its source never states scores 0.", "",
        f"Issue 12's target, held-out balanced accuracy >= 0.80: "
        f"{'met' if r['learned']['heldout']['balanced_accuracy'] >= 0.80 else 'NOT met'} "
        f"({r['learned']['heldout']['balanced_accuracy']:.3f}). Other models and features tried, chosen by "
        "cross-validation on tune: evals/results/support-variants.md (`python -m evals.support_variants`).", "",
        header,
        row(f"{r['learned']['name']} (threshold {r['learned']['threshold']})", r["learned"]["heldout"]),
        row(f"lexical (threshold {r['lexical']['threshold']} fitted on tune)", r["lexical"]["heldout"]),
        row("lexical + number check (the runtime fallback)", r["lexical_number_checked"]["heldout"]),
        row(f"lexical at the shipped threshold {r['lexical_shipped_threshold']['threshold']} (Settings."
            "lexical_support_threshold)", r["lexical_shipped_threshold"]["heldout"]),
        row(f"{r['learned']['name']}, tune half (for the gap)", r["learned"]["tune"]),
        row("lexical, tune half", r["lexical"]["tune"]),
        "", "## Ablation (refit on tune without a feature group, held-out figures, no hard checks)", "", header,
        *(row(name, figures) for name, figures in r["ablation"].items()),
        "", "## Coefficients (standardised features)", "",
        *(f"- `{name}`: {value}" for name, value in r["coefficients"].items()), "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
