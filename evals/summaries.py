"""Summary quality: extractive TL;DR ROUGE on SciTLDR dev against Lead-1, the title and the one-sentence oracle (one
run), and citation validity of digests and comparisons on the demo corpus.

    python -m evals.summaries --scitldr ../shared/datasets/scitldr --corpus ../shared/corpus/inference-cost-papers.txt \
        [--data-dir STORE] [--out evals/results/summaries.md]

ROUGE is Google's rouge-score (the maintained reimplementation of ROUGE-1.5.5) with its Porter stemmer, F-measure,
max over a paper's references, averaged over papers. The TL;DR weights were tuned on SciTLDR *train*
(evals/tune_tldr.py); dev is only reported. Ingesting SciTLDR would take minutes of embedding, so the TL;DR runs
on Paper objects through paperbot.summaries.summarize.extractive_summary, the function PaperBot.summarize uses.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rouge_score import rouge_scorer

from paperbot.summaries.numbered import numbered_sentences, sentence_exists
from paperbot.summaries.summarize import extractive_summary
from paperbot.text.terms import Vocabulary
from paperbot.types import Paper

METRICS = ("rouge1", "rouge2", "rougeL")
KV_CACHE_PAPERS = ("H₂O: Heavy-Hitter Oracle", "SwiftKV", "InstInfer")
# Papers that must share a theme, by title prefix: the acceptance check of the digest's grouping.
SAME_THEME = {
    "speculative decoding": ("Online Speculative Decoding", "Speculative Decoding with Big Little Decoder"),
    "diffusion": ("Adaptive Guidance: Training-free Acceleration of Conditional Diffusion",
                  "Effortless Efficiency: Low-Cost Pruning of Diffusion Models",
                  "Multi-student Diffusion Distillation", "eDiff-I"),
}


def load_scitldr(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _abstract(row: dict) -> str:
    # SciTLDR's original release has a list of sentences; this copy has one string. Accept both.
    text = row["text"]
    return " ".join(text) if isinstance(text, list) else text


def paper_sentences(row: dict) -> list[str]:
    return [s.text for s in numbered_sentences(_abstract(row))]


def scitldr_vocabulary(rows: list[dict]) -> Vocabulary:
    """IDF over the split's own abstracts, as a store's vocabulary is over its own papers."""
    return Vocabulary(f"{row['title']} {_abstract(row)}" for row in rows)


def rouge_scorer_() -> rouge_scorer.RougeScorer:
    return rouge_scorer.RougeScorer(list(METRICS), use_stemmer=True)


def tldr_rouge(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Mean ROUGE F (x100) of each system: extractive TL;DR, Lead-1, title, and the best single sentence."""
    scorer = rouge_scorer_()
    vocabulary = scitldr_vocabulary(rows)
    totals: dict[str, dict[str, list[float]]] = {}

    def add(system: str, scores: dict[str, float]) -> None:
        for metric, value in scores.items():
            totals.setdefault(system, {}).setdefault(metric, []).append(value)

    def best(candidate: str, refs: list[str]) -> dict[str, float]:
        scored = [scorer.score(ref, candidate) for ref in refs]
        return {m: max(s[m].fmeasure for s in scored) for m in METRICS}

    for row in rows:
        sentences = paper_sentences(row)
        if not sentences:
            continue
        refs = row["tldrs"]
        paper = Paper(id=row.get("_id", ""), title=row["title"], abstract=_abstract(row))
        add("extractive TL;DR", best(extractive_summary(paper, vocabulary).tldr.text, refs))
        add("Lead-1", best(sentences[0], refs))
        add("title", best(row["title"], refs))
        # The oracle picks, per paper, the sentence with the best ROUGE-1 (its other metrics are that sentence's).
        per_sentence = [best(s, refs) for s in sentences]
        add("oracle (best sentence)", max(per_sentence, key=lambda s: s["rouge1"]))
    return {system: {m: 100 * statistics.mean(v) for m, v in metrics.items()} for system, metrics in totals.items()}


def demo_checks(bot) -> dict:
    """Digest and comparison on the demo store (extractive): themes, grouping and citation validity."""
    papers = {p.id: p for p in bot.papers()}
    started = time.perf_counter()
    digest = bot.digest(mode="extractive")
    digest_s = time.perf_counter() - started
    by_key = {p.key: p.paper_id for p in digest.papers}
    cited = [c for t in digest.themes for c in t.cited]
    valid = [sentence_exists(papers[c.paper_id], c.sentence) and c.sentence.text in next(
        t.paragraph for t in digest.themes if c in t.cited) and by_key[c.key] == c.paper_id for c in cited]
    membership = [key for t in digest.themes for key in t.paper_keys]
    theme_of = {by_key[key]: i for i, t in enumerate(digest.themes) for key in t.paper_keys}

    def theme_ids(prefixes: tuple[str, ...]) -> set[int]:
        return {theme_of[pid] for pid, p in papers.items() if p.title.startswith(prefixes)}

    together = {name: len(theme_ids(prefixes)) == 1 for name, prefixes in SAME_THEME.items()}

    ids = [next(pid for pid, p in papers.items() if p.title.startswith(prefix)) for prefix in KV_CACHE_PAPERS]
    started = time.perf_counter()
    table = bot.compare(ids, mode="extractive")
    compare_s = time.perf_counter() - started
    cells = [(row, c) for row in table.rows for c in row.cells]
    filled = [(row, c) for row, c in cells if c.stated]
    return {
        "papers": len(papers), "themes": len(digest.themes), "theme_sizes": [len(t.paper_keys) for t in digest.themes],
        "every_paper_in_one_theme": sorted(membership) == sorted(by_key) and len(set(membership)) == len(papers),
        "grouped_together": together, "theme_names": [t.name for t in digest.themes],
        "digest_citations": len(cited), "digest_citations_valid": sum(valid),
        "digest_seconds": digest_s,
        "compare_cells": len(cells), "compare_filled": len(filled),
        "compare_filled_valid": sum(sentence_exists(papers[row.paper_id], c.sentence) and c.text in c.sentence.text
                                    for row, c in filled),
        "compare_seconds": compare_s,
    }


def markdown(command: str, rouge: dict, rows: int, demo: dict | None) -> str:
    lines = ["# Summaries: TL;DR quality and citation validity", "", f"Command: `{command}`", "",
             f"## SciTLDR dev ({rows} papers), ROUGE F x100, max over references", "",
             "| system | ROUGE-1 | ROUGE-2 | ROUGE-L |", "|---|---|---|---|"]
    for system, scores in rouge.items():
        lines.append(f"| {system} | {scores['rouge1']:.2f} | {scores['rouge2']:.2f} | {scores['rougeL']:.2f} |")
    lines += ["", "The extractive TL;DR is one abstract sentence chosen by `paperbot/summaries/tldr.py` (title similarity, "
              "centrality, position, contribution cues; weights tuned on SciTLDR train with `evals/tune_tldr.py`). "
              "The oracle is the abstract sentence with the best ROUGE-1 against the references: the ceiling of any "
              "one-sentence extractive TL;DR."]
    if demo is not None:
        lines += ["", f"## Demo corpus ({demo['papers']} papers), extractive digest and comparison", "",
                  f"- digest: {demo['themes']} themes of sizes {demo['theme_sizes']}; every paper in exactly one "
                  f"theme: {demo['every_paper_in_one_theme']}; grouped together: "
                  + ", ".join(f"{k} {'yes' if v else 'NO'}" for k, v in demo["grouped_together"].items()),
                  f"- digest citations valid (sentence exists in the cited paper, quoted in the paragraph): "
                  f"{demo['digest_citations_valid']}/{demo['digest_citations']} ({demo['digest_seconds']:.1f} s)",
                  "- theme names: " + "; ".join(demo["theme_names"]),
                  f"- compare {', '.join(KV_CACHE_PAPERS)}: {demo['compare_filled']}/{demo['compare_cells']} cells "
                  f"filled, {demo['compare_filled_valid']}/{demo['compare_filled']} cite a sentence of their paper "
                  f"that contains the phrase ({demo['compare_seconds']:.1f} s)"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scitldr", type=Path, required=True, help="folder with SciTLDR dev.jsonl")
    parser.add_argument("--corpus", type=Path, help="the demo corpus, for the digest and comparison checks")
    parser.add_argument("--data-dir", type=Path, help="an existing store of the demo corpus (default: a fresh one)")
    parser.add_argument("--models-dir", type=Path, help="offline model files [env PAPERBOT_MODELS_DIR]")
    parser.add_argument("--out", type=Path, help="write the Markdown report here")
    args = parser.parse_args()

    rows = load_scitldr(args.scitldr / "dev.jsonl")
    rouge = tldr_rouge(rows)
    for system, scores in rouge.items():
        print(f"{system:24} " + "  ".join(f"{m} {v:.2f}" for m, v in scores.items()))
    demo = None
    if args.corpus or args.data_dir:
        from paperbot import PaperBot, Settings

        overrides = {"models_dir": args.models_dir} if args.models_dir else {}
        with tempfile.TemporaryDirectory() as scratch:
            bot = PaperBot(Settings(data_dir=args.data_dir or Path(scratch), **overrides))
            if not args.data_dir:
                bot.ingest([args.corpus])
            demo = demo_checks(bot)
        print(json.dumps(demo, ensure_ascii=False, indent=2))
    if args.out:
        command = "python -m evals.summaries " + " ".join(sys.argv[1:])
        args.out.write_text(markdown(command, rouge, len(rows), demo), encoding="utf-8")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
