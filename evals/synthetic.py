"""Papers for the scale benchmark: the real corpora (ids prefixed by source) and labelled synthetic copies of them."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from paperbot.ingest.loaders import load_papers
from paperbot.text.sentences import sentence_spans
from paperbot.types import Paper

SYNTHETIC_TITLE = re.compile(r"^\[synthetic (\d+)\] ")


def real_papers(datasets: Path, demo_corpus: Path) -> list[Paper]:
    """SciFact, PubMedQA (dev), SciTLDR (train + dev) and the demo corpus, each id prefixed by its source.

    PubMedQA's corpus has no titles; each abstract gets its question as title, which PubMedQA took from the
    paper's title in most cases.
    """
    papers: list[Paper] = []
    for prefix, files in (("scifact", ["scifact/corpus.jsonl"]), ("tldr", ["scitldr/train.jsonl", "scitldr/dev.jsonl"])):
        for paper in load_papers([datasets / f for f in files]).papers:
            papers.append(replace(paper, id=f"{prefix}:{paper.id}"))
    questions = {}
    with (datasets / "pubmedqa" / "queries_dev.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                questions[str(record["_id"])] = record["text"]
    with (datasets / "pubmedqa" / "corpus_dev.jsonl").open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if line.strip():
                record = json.loads(line)
                pid = str(record["_id"])
                papers.append(Paper(id=f"pmid:{pid}", title=record.get("title") or questions[pid],
                                    abstract=record["text"], source=f"pubmedqa/corpus_dev.jsonl:{number}"))
    papers.extend(load_papers([demo_corpus]).papers)
    return papers


def perturb(paper: Paper, n: int, seed: int = 0) -> Paper:
    """Synthetic copy number n of a real paper: sentences shuffled, about 3% of words dropped, a few adjacent
    words swapped; id `synthetic-<n>:<id>`, title `[synthetic n] <title>` (title words kept, so the copy's
    stored vector can be found from its source). Deterministic in (paper, n, seed)."""
    rng = random.Random(f"{seed}:{n}:{paper.id}")
    sentences = [paper.abstract[s:e] for s, e in sentence_spans(paper.abstract)] or [paper.abstract]
    rng.shuffle(sentences)
    out = []
    for sentence in sentences:
        words = [w for w in sentence.split() if rng.random() >= 0.03] or sentence.split()
        for _ in range(max(1, len(words) // 25)):
            if len(words) > 1:
                i = rng.randrange(len(words) - 1)
                words[i], words[i + 1] = words[i + 1], words[i]
        out.append(" ".join(words))
    abstract = " ".join(out)
    if abstract == " ".join(paper.abstract.split()):
        abstract = f"{abstract} (synthetic copy {n})"  # one-word abstracts have nothing to shuffle
    return replace(
        paper, id=f"synthetic-{n}:{paper.id}", title=f"[synthetic {n}] {paper.title}", abstract=abstract,
        url=None, arxiv_id=None, doi=None, source=f"synthetic copy {n} of {paper.source or paper.id}",
    )


def papers_for_chunks(real: Sequence[Paper], chunk_counts: dict[str, int], target: int, seed: int = 0
                      ) -> Iterator[Paper]:
    """Real papers in a seeded order, then synthetic copies 1, 2, ... of them, until about `target` chunks.

    A copy is counted as its source's number of chunks (perturbation keeps the length within a few words);
    the ingest report gives the exact figure. Generated lazily, so a scale run never holds them all.
    """
    order = list(real)
    random.Random(seed).shuffle(order)
    total, n = 0, 0
    while True:
        for paper in order:
            if total >= target:
                return
            total += chunk_counts[paper.id]
            yield paper if n == 0 else perturb(paper, n, seed)
        n += 1
