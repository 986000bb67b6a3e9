"""Eval sets by name (demo, scifact-train, pubmedqa-dev, scitldr-dev-*) or from a user's BEIR folder or question file."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from evals.items import EvalItem, EvalSet
from paperbot import CorpusError, PaperbotError

NAMED = ("demo", "fresh", "holdout", "tune", "scifact-train", "pubmedqa-dev", "pubmedqa-abstain", "scitldr-dev-title",
         "scitldr-dev-tldr")
DEMO_QUESTIONS = Path(__file__).resolve().parent / "questions" / "demo.jsonl"
# A second, independent question set over the demo corpus: only ever reported on, never fitted on.
FRESH_QUESTIONS = Path(__file__).resolve().parent / "questions" / "fresh.jsonl"
# Another report-only set (issue 12), written after fresh.jsonl's per-item results had been seen while tuning: nobody
# fits on it or looks at its per-item results to tune anything.
HOLDOUT_QUESTIONS = Path(__file__).resolve().parent / "questions" / "holdout.jsonl"
# A third set over the demo corpus, written to fit the answerability scorer on: all of it is tune data.
TUNE_QUESTIONS = Path(__file__).resolve().parent / "questions" / "tune.jsonl"
ABSTAIN_SCIFACT_OTHERS = 635  # pubmedqa-abstain: SciFact abstracts beside the 365 that train claims cite as evidence
DEMO_CORPUS_NAME = "inference-cost-papers.txt"


def datasets_root(given: Path | None) -> Path:
    root = given or (Path(os.environ["PAPERBOT_DATASETS_DIR"]) if os.environ.get("PAPERBOT_DATASETS_DIR") else None)
    if root is None:
        raise PaperbotError("named eval sets need the datasets folder (scifact/, pubmedqa/, scitldr/): "
                            "pass --datasets-dir or set PAPERBOT_DATASETS_DIR (e.g. ../shared/datasets)")
    if not root.is_dir():
        raise PaperbotError(f"datasets folder {root} does not exist; pass --datasets-dir or PAPERBOT_DATASETS_DIR")
    return root


# --- reading files, every error naming file, line and field ---------------------------------------------------------
def read_jsonl(path: Path) -> Iterator[tuple[int, dict]]:
    if not path.is_file():
        raise PaperbotError(f"{path}: no such file")
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise CorpusError(f"{path}:{number}", f"not valid JSON ({exc.msg})", "one JSON object per line") from None
            if not isinstance(record, dict):
                raise CorpusError(f"{path}:{number}", "not a JSON object", "one JSON object per line")
            yield number, record


def _text_field(record: dict, name: str, where: str, *, required: bool = True) -> str:
    value = record.get(name)
    if value is None and not required:
        return ""
    if isinstance(value, int) and not isinstance(value, bool) and name in ("_id", "id"):
        value = str(value)
    if not isinstance(value, str) or (required and not value.strip()):
        raise CorpusError(where, f"field {name!r} is missing or not a non-empty string", f"got {value!r:.60}")
    return value


def read_corpus(path: Path) -> list[dict]:
    """BEIR corpus.jsonl: `_id`, `text`, optional `title`."""
    docs, seen = [], set()
    for number, record in read_jsonl(path):
        where = f"{path}:{number}"
        doc_id = _text_field(record, "_id", where).strip()
        if doc_id in seen:
            raise CorpusError(where, f"_id {doc_id!r} appears twice", "corpus ids must be unique")
        seen.add(doc_id)
        docs.append({"_id": doc_id, "title": _text_field(record, "title", where, required=False),
                     "text": _text_field(record, "text", where)})
    if not docs:
        raise CorpusError(str(path), "no documents", "one JSON object per line with _id, title, text")
    return docs


def read_queries(path: Path) -> dict[str, dict]:
    queries = {}
    for number, record in read_jsonl(path):
        where = f"{path}:{number}"
        queries[_text_field(record, "_id", where).strip()] = {**record, "text": _text_field(record, "text", where)}
    return queries


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    """query-id TAB corpus-id TAB score, with or without a header line; scores <= 0 are not relevant."""
    if not path.is_file():
        raise PaperbotError(f"{path}: no such file")
    qrels: dict[str, dict[str, int]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.rstrip("\n").split("\t")
        if len(fields) == 4:  # TREC style: query-id, iteration, doc-id, relevance
            fields = [fields[0], fields[2], fields[3]]
        if len(fields) != 3:
            raise CorpusError(f"{path}:{number}", f"expected 3 tab-separated fields, found {len(fields)}",
                              "query-id<TAB>corpus-id<TAB>score")
        qid, doc_id, score = (f.strip() for f in fields)
        try:
            grade = int(score)
        except ValueError:
            if number == 1:
                continue  # the header line
            raise CorpusError(f"{path}:{number}", f"score {score!r} is not an integer", "relevance grades are 0, 1, 2...") from None
        if grade > 0:
            qrels.setdefault(qid, {})[doc_id] = grade
    if not qrels:
        raise CorpusError(str(path), "no relevance judgements with a score above 0", "query-id<TAB>corpus-id<TAB>score")
    return qrels


def _pick(folder: Path, candidates: list[str], what: str, split: str | None) -> Path:
    for name in candidates:
        if (folder / name).is_file():
            return folder / name
    found = sorted(p.relative_to(folder).as_posix() for p in [*folder.glob(f"{what}*.*"), *folder.glob(f"{what}/*.tsv")])
    hint = f"found {', '.join(found)}; choose one with --split" if found else f"expected one of {', '.join(candidates)}"
    raise PaperbotError(f"{folder}: no {what} file for split {split!r} ({hint})")


# --- writing the corpus paperbot ingests ------------------------------------------------------------------------------
def write_corpus(docs: list[dict], path: Path, *, prefix: str = "", hide_titles: bool = False) -> Path:
    """Only _id, title and text go in, so the stored paper id is exactly prefix + _id (no DOI or arXiv field wins)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for doc in docs:
        doc_id = prefix + doc["_id"]
        title = "" if hide_titles else " ".join(doc["title"].split())
        # Every paper needs a title; a neutral one adds no words a query could match.
        lines.append(json.dumps({"_id": doc_id, "title": title or f"untitled {doc_id}", "text": doc["text"]},
                                ensure_ascii=False))
    content = "\n".join(lines) + "\n"
    if not path.is_file() or path.read_text(encoding="utf-8") != content:
        path.write_text(content, encoding="utf-8")
    return path


def _trim(docs: list[dict], items: list[EvalItem], max_corpus: int | None, prefix: str = "") -> list[dict]:
    """Smoke runs: the gold papers of the items kept, plus the first max_corpus others."""
    if max_corpus is None:
        return docs
    gold = {pid for item in items for pid in item.gold}
    kept, others = [], 0
    for doc in docs:
        if prefix + doc["_id"] in gold:
            kept.append(doc)
        elif others < max_corpus:
            kept.append(doc)
            others += 1
    return kept


def _check_gold(items: list[EvalItem], known: set[str], source: str) -> None:
    for item in items:
        missing = sorted(set(item.gold) - known)
        if missing:
            raise CorpusError(source, f"query {item.id!r} judges corpus id {missing[0]!r}, which is not in the corpus",
                              "every judged document must be in corpus.jsonl")


# --- the sets -------------------------------------------------------------------------------------------------------
def beir_folder(folder: Path, split: str | None, work_dir: Path, *, name: str | None = None,
                limit: int | None = None, max_corpus: int | None = None) -> EvalSet:
    """A user's BEIR folder: corpus.jsonl, queries[_split].jsonl, qrels_split.tsv or qrels/split.tsv."""
    if not folder.is_dir():
        raise PaperbotError(f"--dataset {folder}: not a folder (a BEIR folder holds corpus.jsonl, queries, qrels)")
    suffix = f"_{split}" if split else ""
    queries_path = _pick(folder, [f"queries{suffix}.jsonl", "queries.jsonl"], "queries", split)
    qrels_path = _pick(folder, [f"qrels{suffix}.tsv", f"qrels/{split or 'test'}.tsv", "qrels.tsv"], "qrels", split)
    corpus_path = _pick(folder, ["corpus.jsonl"], "corpus", split)
    queries, qrels = read_queries(queries_path), read_qrels(qrels_path)
    unknown = sorted(set(qrels) - set(queries))
    if unknown:
        raise CorpusError(str(qrels_path), f"query id {unknown[0]!r} is not in {queries_path.name}",
                          "qrels must judge queries of the same split")
    items = [EvalItem(qid, q["text"], qrels[qid]) for qid, q in queries.items() if qid in qrels][:limit]
    docs = read_corpus(corpus_path)
    _check_gold(items, {d["_id"] for d in docs}, str(qrels_path))
    label = name or (f"{folder.name}-{split}" if split else folder.name)
    docs = _trim(docs, items, max_corpus)
    corpus = write_corpus(docs, work_dir / "corpora" / f"{label}.jsonl")
    return EvalSet(label, [corpus], items, source=str(folder), paper_ids=frozenset(d["_id"] for d in docs))


def question_file(path: Path, corpus: list[Path], *, limit: int | None = None) -> EvalSet:
    """JSONL of questions with gold paper ids (the demo.jsonl format, see evals/questions/README.md)."""
    if not corpus:
        raise PaperbotError(f"--questions {path} needs the papers they are about: add --corpus FILE (any ingest format)")
    items = []
    seen = set()
    for number, record in read_jsonl(path):
        where = f"{path}:{number}"
        qid = _text_field(record, "id", where).strip()
        if qid in seen:
            raise CorpusError(where, f"id {qid!r} appears twice", "question ids must be unique")
        seen.add(qid)
        question = _text_field(record, "question", where)
        if "gold" in record:
            gold = record["gold"]
            if not isinstance(gold, dict) or not all(isinstance(v, int) and not isinstance(v, bool) for v in gold.values()):
                raise CorpusError(where, "field 'gold' must map paper ids to integer grades", 'e.g. {"arxiv:2306.14048": 1}')
        else:
            ids = record.get("gold_paper_ids")
            if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
                raise CorpusError(where, "field 'gold_paper_ids' is missing or not a list of paper ids",
                                  "[] marks a question the papers cannot answer; `paperbot papers` lists ids")
            gold = dict.fromkeys(ids, 1)
        quotes = record.get("gold_quotes") or {}
        if not isinstance(quotes, dict):
            raise CorpusError(where, "field 'gold_quotes' must map paper ids to quotes", '{"paper id": "exact quote"}')
        kind = record.get("type") or ("unanswerable" if not gold else "question")
        items.append(EvalItem(qid, question, {str(k): v for k, v in gold.items() if v > 0}, str(kind), quotes,
                              record.get("label"), record.get("reference")))
    if not items:
        raise CorpusError(str(path), "no questions", "one JSON object per line with id, question, gold_paper_ids")
    missing = [p for p in corpus if not p.exists()]
    if missing:
        raise PaperbotError(f"--corpus {missing[0]}: no such file or folder")
    name = {DEMO_QUESTIONS: "demo", FRESH_QUESTIONS: "fresh", HOLDOUT_QUESTIONS: "holdout",
            TUNE_QUESTIONS: "tune"}.get(path.resolve(), path.stem)
    return EvalSet(name, list(corpus), items[:limit], answers=True, source=str(path))


def demo(root: Path | None, demo_corpus: Path | None, *, limit: int | None = None,
         questions: Path = DEMO_QUESTIONS) -> EvalSet:
    if demo_corpus is None and os.environ.get("PAPERBOT_DEMO_CORPUS"):
        demo_corpus = Path(os.environ["PAPERBOT_DEMO_CORPUS"])
    if demo_corpus is None:
        demo_corpus = datasets_root(root).parent / "corpus" / DEMO_CORPUS_NAME
    if not demo_corpus.is_file():
        raise PaperbotError(f"demo corpus {demo_corpus} not found; pass --demo-corpus or set PAPERBOT_DEMO_CORPUS")
    return question_file(questions, [demo_corpus], limit=limit)


def scifact_train(root: Path, work_dir: Path, *, limit=None, max_corpus=None) -> EvalSet:
    return beir_folder(root / "scifact", "train", work_dir, name="scifact-train", limit=limit, max_corpus=max_corpus)


def pubmedqa_dev(root: Path, work_dir: Path, *, limit=None, max_corpus=None) -> EvalSet:
    """PubMedQA questions over their abstracts mixed with the SciFact corpus as distractors."""
    folder = root / "pubmedqa"
    queries, qrels = read_queries(folder / "queries_dev.jsonl"), read_qrels(folder / "qrels_dev.tsv")
    items = [
        EvalItem(qid, q["text"], {f"pmid:{d}": g for d, g in qrels[qid].items()}, "yesno",
                 label=q.get("decision"), reference=q.get("long_answer"))
        for qid, q in queries.items() if qid in qrels
    ][:limit]
    pubmed = read_corpus(folder / "corpus_dev.jsonl")
    scifact = _trim(read_corpus(root / "scifact" / "corpus.jsonl"), [], max_corpus)
    pubmed = _trim(pubmed, items, max_corpus, prefix="pmid:")
    corpora = work_dir / "corpora"
    files = [write_corpus(pubmed, corpora / "pubmedqa-dev.jsonl", prefix="pmid:"),
             write_corpus(scifact, corpora / "pubmedqa-dev-distractors.jsonl", prefix="scifact:")]
    ids = frozenset([*(f"pmid:{d['_id']}" for d in pubmed), *(f"scifact:{d['_id']}" for d in scifact)])
    return EvalSet("pubmedqa-dev", files, items, answers=True, source=str(folder), paper_ids=ids)


def pubmedqa_abstain(root: Path, work_dir: Path, *, limit=None, max_corpus=None) -> EvalSet:
    """Answerable / unanswerable pairs: each PubMedQA dev question over a corpus holding its own abstract
    (answerable), and the same question with that abstract excluded from retrieval (id "QID/removed",
    unanswerable), the other PubMedQA abstracts and SciFact abstracts kept. The SciFact part is the abstracts
    that SciFact train claims cite as evidence (so evals/train_answerability.py fits on the same store) plus
    the first `max_corpus` others (default 635: 1,000 SciFact abstracts in all)."""
    folder = root / "pubmedqa"
    queries, qrels = read_queries(folder / "queries_dev.jsonl"), read_qrels(folder / "qrels_dev.tsv")
    items = []
    for qid, q in list((qid, q) for qid, q in queries.items() if qid in qrels)[:limit]:
        gold = {f"pmid:{d}": g for d, g in qrels[qid].items()}
        items.append(EvalItem(qid, q["text"], gold, "answerable", label=q.get("decision"),
                              reference=q.get("long_answer")))
        items.append(EvalItem(f"{qid}/removed", q["text"], {}, "unanswerable", exclude=tuple(gold)))
    pubmed = read_corpus(folder / "corpus_dev.jsonl")
    claims = read_queries(root / "scifact" / "queries_train.jsonl")
    cited = {doc for claim in claims.values() for doc in (claim.get("evidence") or {})}
    others = ABSTAIN_SCIFACT_OTHERS if max_corpus is None else max_corpus
    scifact, kept = [], 0
    for doc in read_corpus(root / "scifact" / "corpus.jsonl"):
        if doc["_id"] in cited or kept < others:
            kept += doc["_id"] not in cited
            scifact.append(doc)
    corpora = work_dir / "corpora"
    files = [write_corpus(pubmed, corpora / "pubmedqa-abstain.jsonl", prefix="pmid:"),
             write_corpus(scifact, corpora / "pubmedqa-abstain-scifact.jsonl", prefix="scifact:")]
    ids = frozenset([*(f"pmid:{d['_id']}" for d in pubmed), *(f"scifact:{d['_id']}" for d in scifact)])
    return EvalSet("pubmedqa-abstain", files, items, answers=True, source=str(folder), paper_ids=ids)


def scitldr_dev(root: Path, work_dir: Path, by: str, *, limit=None, max_corpus=None) -> EvalSet:
    """Known-item retrieval: a dev paper's title (titles hidden in the corpus) or first TLDR finds that paper;
    the train papers are distractors."""
    folder = root / "scitldr"
    dev = [record for _, record in read_jsonl(folder / "dev.jsonl")]
    items = [
        EvalItem(f"{r['_id']}-{by}", r["title"] if by == "title" else r["tldrs"][0], {f"tldr:{r['_id']}": 1})
        for r in dev if (r.get("title") if by == "title" else r.get("tldrs"))
    ][:limit]
    docs = read_corpus(folder / "dev.jsonl") + read_corpus(folder / "train.jsonl")
    docs = _trim(docs, items, max_corpus, prefix="tldr:")
    corpus = write_corpus(docs, work_dir / "corpora" / f"scitldr-{'untitled' if by == 'title' else 'titled'}.jsonl",
                          prefix="tldr:", hide_titles=by == "title")
    return EvalSet(f"scitldr-dev-{by}", [corpus], items, source=str(folder),
                   paper_ids=frozenset(f"tldr:{d['_id']}" for d in docs))


def load(dataset: str | None, *, questions: Path | None, corpus: list[Path], split: str | None,
         datasets_dir: Path | None, demo_corpus: Path | None, work_dir: Path, limit: int | None = None,
         max_corpus: int | None = None) -> EvalSet:
    """The eval set a command line names: --dataset NAME|PATH, or --questions FILE --corpus FILES."""
    if questions is not None:
        if dataset:
            raise PaperbotError("give either --dataset or --questions, not both")
        return question_file(questions, corpus, limit=limit)
    if not dataset:
        raise PaperbotError(f"name an eval set: --dataset {'|'.join(NAMED)}|PATH, or --questions FILE --corpus FILES")
    if dataset == "demo":
        return demo(datasets_dir, demo_corpus, limit=limit)
    if dataset == "fresh":
        return demo(datasets_dir, demo_corpus, limit=limit, questions=FRESH_QUESTIONS)
    if dataset == "holdout":
        return demo(datasets_dir, demo_corpus, limit=limit, questions=HOLDOUT_QUESTIONS)
    if dataset == "tune":
        return demo(datasets_dir, demo_corpus, limit=limit, questions=TUNE_QUESTIONS)
    if dataset in NAMED:
        root = datasets_root(datasets_dir)
        if dataset == "scifact-train":
            return scifact_train(root, work_dir, limit=limit, max_corpus=max_corpus)
        if dataset == "pubmedqa-dev":
            return pubmedqa_dev(root, work_dir, limit=limit, max_corpus=max_corpus)
        if dataset == "pubmedqa-abstain":
            return pubmedqa_abstain(root, work_dir, limit=limit, max_corpus=max_corpus)
        return scitldr_dev(root, work_dir, dataset.rsplit("-", 1)[1], limit=limit, max_corpus=max_corpus)
    path = Path(dataset)
    if not path.exists():
        raise PaperbotError(f"--dataset {dataset!r} is neither a named set ({', '.join(NAMED)}) nor a folder")
    return beir_folder(path, split, work_dir, limit=limit, max_corpus=max_corpus)
