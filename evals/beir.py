"""Read BEIR-layout datasets (corpus.jsonl, queries_*.jsonl, qrels_*.tsv) into queries and relevance judgements."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path


@dataclass
class BeirSplit:
    corpus: Path
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]


def load_split(folder: Path, split: str = "train", corpus_name: str = "corpus.jsonl") -> BeirSplit:
    queries = {}
    with (folder / f"queries_{split}.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                queries[str(record["_id"])] = record["text"]
    qrels: dict[str, dict[str, int]] = {}
    with (folder / f"qrels_{split}.tsv").open(encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter="\t")
        next(reader)
        for qid, docid, score in reader:
            if int(score) > 0:
                qrels.setdefault(qid, {})[docid] = int(score)
    queries = {q: t for q, t in queries.items() if q in qrels}
    return BeirSplit(folder / corpus_name, queries, qrels)
