"""What an eval set is made of: the questions, their gold papers, and where the corpus comes from."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class EvalItem:
    id: str
    question: str
    gold: dict[str, int]  # paper id (as stored in paperbot) -> graded relevance; {} = unanswerable
    type: str = "retrieval"  # demo: fact|concept|multi|unanswerable; BEIR: retrieval; PubMedQA: yesno
    gold_quotes: dict[str, str] = field(default_factory=dict)  # paper id -> exact quote (demo set)
    label: str | None = None  # PubMedQA decision: yes|no|maybe
    reference: str | None = None  # a reference answer when the set has one (PubMedQA long answer)
    exclude: tuple[str, ...] = ()  # papers searched as if absent: a question whose own source was removed

    @property
    def split(self) -> str:
        """'tune' or 'report', fixed by the id alone (variants "ID/removed" go with ID); thresholds are fitted on
        'tune' only. The same sha256 bit as evals/tune.half, so 'report' is its held-out half."""
        base = self.id.split("/", 1)[0]
        return "report" if hashlib.sha256(base.encode()).digest()[0] & 1 else "tune"


@dataclass
class EvalSet:
    name: str  # "demo", "scifact-train", "pubmedqa-dev", "scitldr-dev-title", ...
    corpus: list[Path]  # files `paperbot ingest` reads (prefixed/mixed copies live in the work dir)
    items: list[EvalItem]
    answers: bool = False  # True: answer metrics apply (demo questions, pubmedqa, user question sets)
    source: str = ""  # where the set was read from, for the report
    paper_ids: frozenset[str] | None = None  # the papers the corpus files hold, when known without loading them
