"""Other support models tried against the shipped one: chosen by cross-validation on the tune half, held-out beside.

    python -m evals.support_variants --scifact ../shared/datasets/scifact

Reads what `python -m evals.train_support` cached (bench-data/support-features.npz: the shipped features of every
pair; bench-data/support-embeddings.npz: MiniLM vectors of every claim and sentence), so nothing is embedded again.
Every choice (variant, regularisation C, threshold) is made on 5-fold out-of-fold predictions of the tune half,
folds grouped by claim; the held-out column is printed for the record and chooses nothing. A variant is worth
shipping only when its cross-validated balanced accuracy beats the shipped model's by more than 0.01.
Writes evals/results/support-variants.json (and prints a markdown table).
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np

from evals.report import git_revision
from evals.train_support import _key, balanced_accuracy, best_threshold, load_pairs

COMMAND = "python -m evals.support_variants --scifact ../shared/datasets/scifact"
C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0)


def similarity_stats(claim: np.ndarray, sentences: np.ndarray) -> list[float]:
    """Cosine to the title, the three most similar body sentences, the mean and spread, and the abstract's length."""
    sims = sentences @ claim
    body = np.sort(sims[1:])[::-1] if len(sims) > 1 else sims[:1]
    top = np.concatenate([body, np.repeat(body[-1], 3)])[:3]
    return [float(sims[0]), *map(float, top), float(sims.mean()), float(sims.std()), float(np.log(len(sims)))]


def infersent(claim: np.ndarray, sentences: np.ndarray) -> np.ndarray:
    """InferSent-style pair vectors (u*v, |u-v|) of the claim against its closest sentence and the centroid."""
    closest = sentences[int(np.argmax(sentences @ claim))]
    centroid = sentences.mean(axis=0)
    centroid /= np.linalg.norm(centroid)
    return np.concatenate([claim * closest, np.abs(claim - closest), claim * centroid, np.abs(claim - centroid)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scifact", type=Path, required=True)
    parser.add_argument("--cache-dir", type=Path, default=Path("bench-data"))
    parser.add_argument("--out", type=Path, default=Path("evals/results/support-variants.json"))
    args = parser.parse_args()
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    warnings.filterwarnings("ignore", category=UserWarning)
    cached = np.load(args.cache_dir / "support-features.npz", allow_pickle=False)
    base, labels, split, groups = cached["rows"], cached["labels"], cached["split"], cached["groups"]
    pairs, sources, _ = load_pairs(args.scifact)
    if [p["label"] for p in pairs] != labels.tolist():
        raise SystemExit(f"{args.cache_dir / 'support-features.npz'} is from other pairs; rerun evals.train_support")
    stored = np.load(args.cache_dir / "support-embeddings.npz", allow_pickle=False)
    known = dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))

    def vector(text: str) -> np.ndarray:
        return known[_key(text)].astype(np.float64)

    stats, pair_vectors = [], []
    for p in pairs:
        claim, sentences = vector(p["claim"]), np.stack([vector(s) for s in sources[p["doc"]]])
        stats.append(similarity_stats(claim, sentences))
        pair_vectors.append(infersent(claim, sentences))
    stats, pair_vectors = np.array(stats), np.array(pair_vectors)
    tune, held = split == "tune", split == "heldout"

    def logistic(c: float):
        return lambda: make_pipeline(StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=3000))

    def boosted():
        return HistGradientBoostingClassifier(max_depth=3, learning_rate=0.05, max_iter=200,
                                              class_weight="balanced", random_state=0)

    def measure(rows: np.ndarray, make) -> dict:
        oof = cross_val_predict(make(), rows[tune], labels[tune], groups=groups[tune], cv=GroupKFold(n_splits=5),
                                method="predict_proba")[:, 1]
        cut = best_threshold(labels[tune], oof)
        held_scores = make().fit(rows[tune], labels[tune]).predict_proba(rows[held])[:, 1]
        return {"cv_tune": round(balanced_accuracy(labels[tune], oof, cut), 3),
                "heldout": round(balanced_accuracy(labels[held], held_scores, cut), 3)}

    def best_c(rows: np.ndarray, grid: tuple[float, ...] = C_GRID) -> dict:
        tried = {c: measure(rows, logistic(c)) for c in grid}
        c = max(tried, key=lambda k: tried[k]["cv_tune"])  # chosen on tune only
        return {"C": c, **tried[c]}

    variants = {
        "shipped features, logistic C=1 (the shipped model)": measure(base, logistic(1.0)),
        "shipped features, logistic, C by CV": best_c(base),
        "+ similarity statistics (title, top-3, mean, spread, length)": best_c(np.hstack([base, stats])),
        "+ InferSent pair vectors (u*v and abs(u-v) vs closest and centroid; 1536 dims)":
            # The grid's smallest C only: 1,557 dimensions from 743 pairs need the most regularisation, and each
            # fit takes minutes on a shared 2-core machine.
            best_c(np.hstack([base, stats, pair_vectors]), C_GRID[:1]),
        "shipped features, gradient boosting (depth 3, 200 trees)": measure(base, boosted),
        "+ similarity statistics, gradient boosting": measure(np.hstack([base, stats]), boosted),
    }
    shipped = variants["shipped features, logistic C=1 (the shipped model)"]["cv_tune"]
    for figures in variants.values():
        figures["worth_shipping"] = figures["cv_tune"] > shipped + 0.01
    result = {"command": COMMAND, "selection": "cross-validated balanced accuracy on the tune half (5 folds grouped by "
              "claim); held-out shown, never used to choose", "variants": variants}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    args.out.with_suffix(".md").write_text(markdown(result), encoding="utf-8")
    print(markdown(result))


def markdown(result: dict) -> str:
    lines = [
        "# Support scorer: variants tried against the shipped model", "",
        (f"Command: `{result['command']}` (after `python -m evals.train_support --scifact "
         f"../shared/datasets/scifact`, whose caches it reads). Git commit: {git_revision()}. Balanced accuracies, "
         "not timings: the machine's load does not change them. Same pairs and split as "
         "evals/results/support-model.md."), "",
        f"Selection: {result['selection']}. The held-out column is the report split; nothing below was chosen on it.",
        "", "| variant | C | BA, CV on tune | BA, held out | beats shipped by > 0.01 (CV) |", "|---|---|---|---|---|",
        *(f"| {name} | {f.get('C', '')} | {f['cv_tune']:.3f} | {f['heldout']:.3f} | {f['worth_shipping']} |"
          for name, f in result["variants"].items()), "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
