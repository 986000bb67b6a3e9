"""Tune the extractive TL;DR weights (paperbot/summaries/tldr.py) on SciTLDR train: grid search on ROUGE-1, dev never seen.

    python -m evals.tune_tldr --data ../shared/datasets/scitldr

Each sentence's ROUGE-1 F (max over the references) is computed once; a weight vector then only picks one
sentence per paper, so the whole grid takes seconds. Prints the best weights to paste into TLDR_WEIGHTS.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from evals.summaries import load_scitldr, paper_sentences, rouge_scorer_, scitldr_vocabulary
from paperbot.summaries.tldr import FEATURES, TLDR_WEIGHTS, TldrWeights, features

GRID = {
    "title": [1.0],  # the scale: only ratios matter
    "centrality": [0.0, 0.5, 1.0, 1.5, 2.0, 3.0],
    "position": [0.0, 0.1, 0.25, 0.5, 1.0],
    "last": [-0.5, -0.25, 0.0, 0.25],
    "cue": [0.0, 0.2, 0.3, 0.4, 0.6],
    "length": [0.0, 0.1, 0.2, 0.4],
    "short": [-1.0, 0.0],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="folder with SciTLDR train.jsonl")
    args = parser.parse_args()
    rows = load_scitldr(args.data / "train.jsonl")
    vocabulary = scitldr_vocabulary(rows)
    scorer = rouge_scorer_()
    table, gains = [], []
    for row in rows:
        sentences = paper_sentences(row)
        if not sentences:
            continue
        table.append(features(row["title"], sentences, vocabulary))
        gains.append(np.array([max(scorer.score(ref, s)["rouge1"].fmeasure for ref in row["tldrs"])
                               for s in sentences]))

    def mean_rouge1(weights: np.ndarray) -> float:
        return 100 * float(np.mean([g[int(np.argmax(f @ weights))] for f, g in zip(table, gains)]))

    best = (mean_rouge1(TLDR_WEIGHTS.vector), TLDR_WEIGHTS.vector)
    print(f"current TLDR_WEIGHTS: ROUGE-1 {best[0]:.2f} on train ({len(table)} papers)")
    for combo in itertools.product(*(GRID[name] for name in FEATURES)):
        score = mean_rouge1(np.array(combo))
        if score > best[0] + 1e-9:
            best = (score, np.array(combo))
    weights = TldrWeights(*(float(v) for v in best[1]))
    print(f"best on train: ROUGE-1 {best[0]:.2f} with {weights}")


if __name__ == "__main__":
    main()
