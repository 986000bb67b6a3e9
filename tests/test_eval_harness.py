"""`paperbot eval` and `paperbot tune` end to end: real stores, real ranx, real CLI processes, real report files."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evals import datasets
from evals.configs import parse_configs
from evals.retrieval_metrics import retrieval_metrics
from evals.tune import half
from paperbot import CorpusError, PaperbotError, Settings
from tests.conftest import SHARED

SCIFACT = SHARED / "datasets" / "scifact"


# --- metric arithmetic, checkable by hand -------------------------------------------------------------------------
def test_ir_metrics_match_hand_computed_values():
    qrels = {"q1": {"a": 1}, "q2": {"c": 1, "d": 2}, "q3": {}}
    means, per = retrieval_metrics(qrels, {"q1": ["b", "a"], "q2": ["c", "x", "d"], "q3": ["a"]})
    # q1: the only gold paper at rank 2 -> nDCG = 1/log2(3), reciprocal rank 1/2, recall@1 = 0.
    assert per["q1"]["ndcg@10"] == pytest.approx(1 / math.log2(3))
    assert per["q1"]["mrr"] == 0.5 and per["q1"]["recall@1"] == 0.0 and per["q1"]["recall@5"] == 1.0
    # q2: grades c=1 at rank 1, d=2 at rank 3: DCG = 1 + 2/log2(4) = 2; ideal = 2 + 1/log2(3).
    assert per["q2"]["ndcg@10"] == pytest.approx(2 / (2 + 1 / math.log2(3)))
    assert per["q2"]["recall@1"] == 0.5 and per["q2"]["mrr"] == 1.0
    assert "q3" not in per  # unanswerable: no gold, no IR metric
    assert means["mrr"] == pytest.approx(0.75) and means["recall@1"] == pytest.approx(0.25)
    # A query with no hits at all scores 0, it is not dropped.
    empty, _ = retrieval_metrics({"q1": {"a": 1}, "q2": {"b": 1}}, {"q1": [], "q2": ["b"]})
    assert empty["ndcg@10"] == pytest.approx(0.5) and empty["recall@100"] == pytest.approx(0.5)


def test_configs_parse_into_typed_settings_and_reject_bad_ones():
    base = Settings(data_dir="/tmp/unused")
    configs = parse_configs("dense,lexical,hybrid:rrf_k=60:dense_weight=1,chunk=128,hybrid:k=3", base)
    assert [c.mode for c in configs] == ["dense", "lexical", "hybrid", "hybrid", "hybrid"]
    assert configs[2].overrides == {"rrf_k": 60, "dense_weight": 1.0}
    assert configs[3].name == "chunk=128" and configs[3].chunking == 128 and configs[0].chunking is None
    assert configs[4].overrides == {"answer_k": 3}
    assert configs[2].settings(base).rrf_k == 60 and configs[2].settings(base).title_weight == base.title_weight
    with pytest.raises(PaperbotError, match="cannot read 'fusion=2'.*KEY one of"):
        parse_configs("hybrid:fusion=2", base)
    with pytest.raises(PaperbotError, match=r"rrf_k=.0.: Input should be greater than or equal to 1"):
        parse_configs("hybrid:rrf_k=0", base)
    with pytest.raises(PaperbotError, match="twice"):
        parse_configs("dense,dense", base)


def test_tuning_split_is_fixed_by_the_query_id_and_roughly_even():
    ids = [str(i) for i in range(1000)]
    halves = [half(q) for q in ids]
    assert halves == [half(q) for q in ids]
    assert 400 < halves.count("heldout") < 600


# --- user files: clear errors ---------------------------------------------------------------------------------------
def _beir(folder: Path, corpus: list[dict], queries: list[dict], qrels: list[tuple[str, str, int]],
          split: str = "train") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    (folder / f"queries_{split}.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (folder / f"qrels_{split}.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in qrels))
    return folder


def _load(folder: Path, tmp_path: Path, split: str | None = "train"):
    return datasets.load(str(folder), questions=None, corpus=[], split=split, datasets_dir=None, demo_corpus=None,
                         work_dir=tmp_path / "work")


def test_bad_beir_files_name_the_file_line_and_field(tmp_path):
    docs = [{"_id": "d1", "title": "Alpha", "text": "Alpha text."}, {"_id": "d2", "title": "", "text": "Beta."}]
    good = _beir(tmp_path / "good", docs, [{"_id": "q1", "text": "alpha?"}], [("q1", "d1", 1)])
    loaded = _load(good, tmp_path)
    assert [i.gold for i in loaded.items] == [{"d1": 1}] and loaded.paper_ids == {"d1", "d2"}
    written = [json.loads(line) for line in loaded.corpus[0].read_text().splitlines()]
    assert written[1] == {"_id": "d2", "title": "untitled d2", "text": "Beta."}  # every paper needs a title

    broken = tmp_path / "broken"
    shutil.copytree(good, broken)
    (broken / "corpus.jsonl").write_text('{"_id": "d1", "title": "A", "text": "x"}\n{"_id": "d2", "title": "B"}\n')
    with pytest.raises(CorpusError, match=r"corpus.jsonl:2: field 'text' is missing"):
        _load(broken, tmp_path)
    (broken / "corpus.jsonl").write_text('{"_id": "d1", "title": "A", "text": "x"}\n{"_id": "d1", oops\n')
    with pytest.raises(CorpusError, match=r"corpus.jsonl:2: not valid JSON"):
        _load(broken, tmp_path)
    (broken / "corpus.jsonl").write_text('{"_id": "d2", "title": "B", "text": "y"}\n')
    with pytest.raises(CorpusError, match=r"query 'q1' judges corpus id 'd1', which is not in the corpus"):
        _load(broken, tmp_path)
    shutil.copy(good / "corpus.jsonl", broken / "corpus.jsonl")
    (broken / "qrels_train.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\tyes\n")
    with pytest.raises(CorpusError, match=r"qrels_train.tsv:2: score 'yes' is not an integer"):
        _load(broken, tmp_path)
    (broken / "qrels_train.tsv").write_text("q1\td1\t1\nq9\td1\t1\n")  # no header line is fine, q9 is not
    with pytest.raises(CorpusError, match=r"query id 'q9' is not in queries_train.jsonl"):
        _load(broken, tmp_path)
    with pytest.raises(PaperbotError, match=r"no queries file for split 'dev'.*queries_train.jsonl"):
        _load(good, tmp_path, split="dev")


def test_bad_question_files_name_the_line_and_field(tmp_path, demo_corpus):
    path = tmp_path / "qs.jsonl"
    path.write_text('{"id": "a", "question": "What?", "gold_paper_ids": ["p"]}\n{"id": "b", "question": "Why?"}\n')
    with pytest.raises(CorpusError, match=r"qs.jsonl:2: field 'gold_paper_ids' is missing"):
        datasets.question_file(path, [demo_corpus])
    path.write_text('{"id": "a", "question": "What?", "gold": {"p": "high"}}\n')
    with pytest.raises(CorpusError, match=r"qs.jsonl:1: field 'gold' must map paper ids to integer grades"):
        datasets.question_file(path, [demo_corpus])
    path.write_text('{"id": "a", "question": "", "gold_paper_ids": []}\n')
    with pytest.raises(CorpusError, match=r"qs.jsonl:1: field 'question'"):
        datasets.question_file(path, [demo_corpus])
    path.write_text('{"id": "a", "question": "What?", "gold_paper_ids": []}\n')
    with pytest.raises(PaperbotError, match="needs the papers they are about: add --corpus"):
        datasets.question_file(path, [])
    unanswerable = datasets.question_file(path, [demo_corpus])
    assert unanswerable.items[0].type == "unanswerable" and unanswerable.answers


def test_named_sets_need_a_datasets_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("PAPERBOT_DATASETS_DIR", raising=False)
    with pytest.raises(PaperbotError, match="--datasets-dir or set PAPERBOT_DATASETS_DIR"):
        datasets.load("scifact-train", questions=None, corpus=[], split=None, datasets_dir=None, demo_corpus=None,
                      work_dir=tmp_path)


@pytest.mark.skipif(not (SHARED / "datasets").is_dir(), reason="../shared/datasets not present")
def test_named_sets_prefix_ids_when_mixing_and_keep_gold_papers_when_trimmed(tmp_path):
    root = SHARED / "datasets"
    pubmed = datasets.load("pubmedqa-dev", questions=None, corpus=[], split=None, datasets_dir=root,
                           demo_corpus=None, work_dir=tmp_path, limit=5, max_corpus=10)
    assert len(pubmed.items) == 5 and pubmed.answers and all(i.label in ("yes", "no", "maybe") for i in pubmed.items)
    assert all(pid.startswith("pmid:") for i in pubmed.items for pid in i.gold)
    assert {p.split(":")[0] for p in pubmed.paper_ids} == {"pmid", "scifact"}
    assert {pid for i in pubmed.items for pid in i.gold} <= pubmed.paper_ids
    title = datasets.load("scitldr-dev-title", questions=None, corpus=[], split=None, datasets_dir=root,
                          demo_corpus=None, work_dir=tmp_path, limit=3, max_corpus=5)
    first = json.loads(title.corpus[0].read_text().splitlines()[0])
    assert first["title"] == f"untitled {first['_id']}"  # the title is the query: it must not be in the corpus
    assert len(title.paper_ids) == 8 and title.items[0].question and title.items[0].gold == {first["_id"]: 1}


# --- real runs ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def scifact_subset(tmp_path_factory) -> Path:
    """A BEIR folder of the first 30 SciFact claims, the abstracts they cite, and 20 other abstracts."""
    if not SCIFACT.is_dir():
        pytest.skip("../shared/datasets/scifact not present")
    folder = tmp_path_factory.mktemp("scifact-subset")
    qrels = datasets.read_qrels(SCIFACT / "qrels_train.tsv")
    queries = [q for q in datasets.read_queries(SCIFACT / "queries_train.jsonl").values() if q["_id"] in qrels][:30]
    cited = {d for q in queries for d in qrels[q["_id"]]}
    docs = datasets.read_corpus(SCIFACT / "corpus.jsonl")
    kept = [d for d in docs if d["_id"] in cited] + [d for d in docs if d["_id"] not in cited][:20]
    return _beir(folder, kept, [{"_id": q["_id"], "text": q["text"]} for q in queries],
                 [(q["_id"], d, s) for q in queries for d, s in qrels[q["_id"]].items()])


@pytest.fixture(scope="module")
def subset_work(tmp_path_factory) -> Path:
    """One work dir for the subset's stores, so that only the first test embeds it."""
    return tmp_path_factory.mktemp("subset-work")


@pytest.fixture
def run(tmp_path, models_dir):
    env = {**os.environ, "PAPERBOT_MODELS_DIR": str(models_dir), "ANONYMIZED_TELEMETRY": "False"}
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "PAPERBOT_DATA_DIR", "PAPERBOT_COLLECTION"):
        env.pop(name, None)

    def run(*args: str, check: bool = True, extra_env: dict | None = None) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "paperbot", *args], env={**env, **(extra_env or {})},
                              capture_output=True, text=True, timeout=900, cwd=tmp_path)
        if check:
            assert done.returncode == 0, done.stderr[-3000:]
        return done

    return run


@pytest.mark.slow
def test_beir_folder_side_by_side_report_and_store_reuse(run, scifact_subset, subset_work, tmp_path):
    work, out = subset_work, tmp_path / "report"
    done = run("eval", "--dataset", str(scifact_subset), "--split", "train", "--work-dir", str(work), "--out", str(out),
               "--configs", "dense,lexical,hybrid,hybrid:rrf_k=60:dense_weight=1,hybrid:chunk=64")
    for name in ("dense", "lexical", "hybrid", "hybrid:rrf_k=60:dense_weight=1", "hybrid:chunk=64", "ndcg@10", "mrr"):
        assert name in done.stdout  # the side-by-side table
    assert {p.name for p in out.iterdir()} >= {"results.json", "report.md", "per_query.jsonl", "metrics.png",
                                               "latency.png"}
    assert all((out / p).stat().st_size > 1000 for p in ("metrics.png", "latency.png"))
    results = json.loads((out / "results.json").read_text())
    assert results["dataset"]["items"] == 30 and results["git"] and results["versions"]["ranx"] != "not installed"
    configs = results["configs"]
    assert configs["hybrid:rrf_k=60:dense_weight=1"]["settings"]["rrf_k"] == 60
    for entry in configs.values():
        assert all(0.0 <= v <= 1.0 for v in entry["retrieval"].values())
        assert entry["retrieval"]["recall@1"] <= entry["retrieval"]["recall@5"] <= entry["retrieval"]["recall@100"]
        assert entry["latency_ms"]["search"]["n"] == 30 and entry["latency_ms"]["search"]["p50"] > 0
    # Claims about 50-odd abstracts: every retriever finds most cited papers.
    assert configs["hybrid"]["retrieval"]["ndcg@10"] > 0.6 and configs["dense"]["retrieval"]["recall@100"] == 1.0
    # The reported means are the means of the per-query values written beside them.
    rows = [json.loads(line) for line in (out / "per_query.jsonl").read_text().splitlines()]
    hybrid = [r["ndcg@10"] for r in rows if r["config"] == "hybrid"]
    # per-query values are written rounded to 5 places
    assert len(hybrid) == 30 and sum(hybrid) / 30 == pytest.approx(configs["hybrid"]["retrieval"]["ndcg@10"], abs=1e-4)
    # One store per chunking; the chunk-size config got its own collection, recorded as such.
    stores = {s["chunker"]: s for s in results["stores"]}
    assert set(stores) == {"sentences-v1", "sentences-v1/max64"}
    assert stores["sentences-v1/max64"]["chunks"] > stores["sentences-v1"]["chunks"]
    report = (out / "report.md").read_text()
    assert "| ndcg@10 |" in report and "![metrics.png](metrics.png)" in report

    again = run("eval", "--dataset", str(scifact_subset), "--split", "train", "--work-dir", str(work),
                "--out", str(tmp_path / "again"), "--configs", "hybrid", "--limit", "5")
    second = json.loads((tmp_path / "again" / "results.json").read_text())
    assert second["stores"][0]["reused"] and second["stores"][0]["ingest_seconds"] < results["seconds"]
    assert second["dataset"]["items"] == 5 and second["limit"] == 5 and "5 items" in again.stdout


@pytest.mark.slow
def test_tuner_reproduces_the_online_fusion_and_reports_the_held_out_half(scifact_subset, subset_work, tmp_path,
                                                                           models_dir, embedder):
    from evals import tune
    from evals.stores import open_store
    from paperbot import PaperBot

    eval_set = _load(scifact_subset, tmp_path)
    base = Settings(data_dir=subset_work, models_dir=models_dir)
    result = tune.tune(eval_set, base)
    assert result["sizes"]["tune"] + result["sizes"]["heldout"] == 30 and min(result["sizes"].values()) > 5
    assert result["chosen"]["rrf_k"] in tune.RRF_K and result["chosen"]["title_weight"] in tune.TITLE_WEIGHT
    chosen = result["results"]["hybrid (chosen)"]
    assert set(chosen) == {"tune", "heldout", "full"} and 0 < chosen["heldout"]["ndcg@10"] <= 1
    assert result["top10_on_tune_half"][0]["tune_ndcg@10"] == pytest.approx(chosen["tune"]["ndcg@10"])
    # Offline fusion of the per-retriever rankings is exactly what the retriever returns online.
    bot, _ = open_store(eval_set, base, embedder=embedder)
    item = eval_set.items[0]
    dense = {item.id: [h.paper_id for h in bot.search(item.question, k=100, mode="dense")]}
    lexical = {item.id: [h.paper_id for h in bot.search(item.question, k=100, mode="lexical")]}
    online = [h.paper_id for h in bot.search(item.question, k=100, mode="hybrid")]
    assert tune.fuse(dense, lexical, base.rrf_k, base.dense_weight)[item.id] == online
    assert isinstance(bot, PaperBot)


@pytest.fixture
def demo_work(tmp_path, demo_store) -> Path:
    """A copy of the session's demo store, used as an eval work dir (collection `papers`)."""
    work = tmp_path / "demo-work"
    shutil.copytree(demo_store, work)
    return work


@pytest.mark.slow
def test_demo_questions_extractive_answers_and_a_user_question_file(run, demo_work, demo_corpus, tmp_path):
    out = tmp_path / "demo-report"
    done = run("eval", "--dataset", "demo", "--demo-corpus", str(demo_corpus), "--limit", "6", "--mode", "extractive",
               "--configs", "lexical,hybrid", "--work-dir", str(demo_work), "--collection", "papers", "--out", str(out))
    results = json.loads((out / "results.json").read_text())
    assert results["dataset"]["name"] == "demo" and results["dataset"]["answers"]
    assert results["configs"]["lexical"]["answers"] == {}  # answers are retrieved hybrid: asked once
    answers = results["configs"]["hybrid"]["answers"]["extractive"]
    assert answers["errors"] == 0 and answers["metrics"]["citation_validity"] == 1.0
    assert answers["latency_ms"]["total"]["n"] >= 5 and answers["tokens_per_answer"]["p50"] > 0
    assert (out / "tokens.png").stat().st_size > 1000 and "## Answers" in (out / "report.md").read_text()
    assert "citation_precision (extractive)" in done.stdout

    questions = tmp_path / "mine.jsonl"
    questions.write_text("\n".join(json.dumps(q) for q in [
        {"id": "h2o", "question": "Which method keeps heavy-hitter tokens in the KV cache?",
         "gold_paper_ids": ["h2o-heavy-hitter-oracle-for-efficient-generative-cba233"]},
        {"id": "none", "question": "How do octopuses taste with their arms?", "gold_paper_ids": []},
    ]) + "\n")
    mine = tmp_path / "mine-report"
    run("eval", "--questions", str(questions), "--corpus", str(demo_corpus), "--mode", "extractive",
        "--configs", "hybrid", "--work-dir", str(demo_work), "--collection", "papers", "--out", str(mine))
    results = json.loads((mine / "results.json").read_text())
    assert results["dataset"]["name"] == "mine" and results["dataset"]["judged_items"] == 1
    assert results["configs"]["hybrid"]["retrieval"]["recall@5"] == 1.0
    assert results["configs"]["hybrid"]["answers"]["extractive"]["metrics"]["abstention_recall"] is not None

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "question": "Q?", "gold_paper_ids": ["no-such-paper"]}\n')
    failed = run("eval", "--questions", str(bad), "--corpus", str(demo_corpus), "--mode", "extractive",
                 "--work-dir", str(demo_work), "--collection", "papers", check=False)
    assert failed.returncode == 1 and "Traceback" not in failed.stderr
    assert "gold paper 'no-such-paper'" in failed.stderr and "`paperbot papers` lists them" in failed.stderr


@pytest.mark.slow
def test_gate_fails_the_command_when_a_threshold_is_missed(run, scifact_subset, subset_work, tmp_path):
    thresholds = tmp_path / "thresholds.json"
    thresholds.write_text(json.dumps({"runs": [{"dataset": f"{scifact_subset.name}-train", "items": 5, "configs": {
        "lexical": {"retrieval": {"ndcg@10": {"min": 0.0}, "recall@100": {"max": 0.01}}}}}]}))
    done = run("eval", "--dataset", str(scifact_subset), "--split", "train", "--limit", "5", "--configs", "lexical",
               "--work-dir", str(subset_work), "--out", str(tmp_path / "r"), "--gate", str(thresholds),
               check=False)
    assert done.returncode == 1, done.stderr[-2000:]
    assert "gate:" in done.stderr and "recall@100" in done.stderr and "ndcg@10" not in done.stderr
    assert (tmp_path / "r" / "results.json").is_file()  # the report is written before the gate judges it


@pytest.mark.slow
def test_llm_mode_through_the_command_reports_judge_tokens_and_cost(run, demo_work, demo_corpus, tmp_path,
                                                                    fake_openai):
    from tests.test_answer_metrics import _responder

    fake_openai.responder = _responder()
    out = tmp_path / "llm-report"
    run("eval", "--dataset", "demo", "--demo-corpus", str(demo_corpus), "--limit", "3", "--mode", "llm",
        "--configs", "hybrid", "--work-dir", str(demo_work), "--collection", "papers", "--out", str(out),
        extra_env={"OPENAI_BASE_URL": fake_openai.base_url, "OPENAI_API_KEY": fake_openai.api_key,
                   "PAPERBOT_CHAT_MODEL": "fake-chat", "PAPERBOT_PRICE_INPUT_PER_M": "1",
                   "PAPERBOT_PRICE_OUTPUT_PER_M": "2", "PAPERBOT_RETRY_BASE_SECONDS": "0.01"})
    answers = json.loads((out / "results.json").read_text())["configs"]["hybrid"]["answers"]["llm"]
    m = answers["metrics"]
    assert answers["errors"] == 0 and m["error_rate"] == 0.0 and m["judge_error_rate"] == 0.0
    assert m["judge_correctness"] == 1.0 and m["judge_faithfulness"] == 0.5 and answers["judge"] == "judge: fake-chat"
    assert answers["cost_usd"] > 0 and m["completion_tokens_mean"] > 0
    assert {"first_token", "judge"} <= set(answers["latency_ms"])
    assert (out / "tokens.png").is_file() and "judge: fake-chat" in (out / "report.md").read_text()
    assert fake_openai.api_key not in (out / "results.json").read_text() + (out / "report.md").read_text()
