"""Comparison tables: extractive on three KV-cache papers of the demo corpus, and LLM rows through the real openai
client against a real local server, where a cell is never filled without a sentence that says it."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys

import pytest

from paperbot.summaries.formats import comparison_csv, comparison_markdown
from paperbot.summaries.numbered import numbered_sentences, sentence_exists
from paperbot.summary_types import DEFAULT_ASPECTS, NOT_STATED

KV_PAPERS = ("H₂O: Heavy-Hitter Oracle", "SwiftKV", "InstInfer")


def kv_ids(bot) -> list[str]:
    return [next(p.id for p in bot.papers() if p.title.startswith(prefix)) for prefix in KV_PAPERS]


def assert_cells_cite_their_papers(bot, table) -> None:
    for row in table.rows:
        paper = bot.paper(row.paper_id)
        assert [c.aspect for c in row.cells] == list(table.aspects)
        for cell in row.cells:
            if cell.stated:
                assert sentence_exists(paper, cell.sentence), (row.paper_id, cell)
            else:
                assert cell.text == NOT_STATED and cell.sentence is None


def test_extractive_table_of_three_kv_cache_papers(demo_bot):
    ids = kv_ids(demo_bot)
    table = demo_bot.compare(ids, mode="extractive")
    assert table.aspects == DEFAULT_ASPECTS and [r.paper_id for r in table.rows] == ids
    assert table.mode == "extractive" and table.requests == 0
    assert_cells_cite_their_papers(demo_bot, table)
    filled = [c for r in table.rows for c in r.cells if c.stated]
    assert len(filled) >= 12
    for cell in filled:
        assert cell.text in cell.sentence.text and len(cell.text.split()) <= 20  # a verbatim short phrase
    for row in table.rows:
        gain = row.cell("efficiency gain")
        assert gain.stated and re.search(r"\d", gain.text), row.title  # all three state a number
        assert row.cell("approach").stated
    assert "A6000" in table.rows[2].cell("hardware or setting").sentence.text + table.rows[2].cell("evaluation").text


def test_table_as_markdown_and_csv(demo_bot):
    table = demo_bot.compare(kv_ids(demo_bot), mode="extractive")
    text = comparison_markdown(table)
    assert text.startswith("| paper | task | approach | efficiency gain | hardware or setting | evaluation |")
    assert len([line for line in text.splitlines() if line.startswith("| ")]) == 1 + len(table.rows)
    for row in table.rows:
        for cell in row.cells:
            if cell.stated:
                assert f"s{cell.sentence.index}: {cell.sentence.text}" in text
    rows = list(csv.DictReader(io.StringIO(comparison_csv(table))))
    assert [r["paper_id"] for r in rows] == [r.paper_id for r in table.rows]
    first = table.rows[0].cell("approach")
    assert rows[0]["approach"] == first.text and rows[0]["approach sentence"] == str(first.sentence.index)


def test_an_aspect_the_abstract_is_silent_on_is_not_stated(demo_bot):
    table = demo_bot.compare(kv_ids(demo_bot)[:2], ["quantum error correction", "Memory"], mode="extractive")
    assert table.aspects == ("quantum error correction", "Memory")
    assert all(not r.cell("quantum error correction").stated for r in table.rows)
    assert all(r.cell("Memory").stated and "memory" in r.cell("Memory").text.lower() for r in table.rows)
    assert_cells_cite_their_papers(demo_bot, table)


@pytest.fixture
def llm_bot(make_bot, demo_store, fake_openai):
    return make_bot(data_dir=demo_store, openai_api_key=fake_openai.api_key, openai_base_url=fake_openai.base_url,
                    chat_model="fake-chat", retry_base_seconds=0.01)


def test_llm_cells_without_a_supporting_sentence_become_not_stated(llm_bot, fake_openai):
    h2o = kv_ids(llm_bot)[0]
    sentences = numbered_sentences(llm_bot.paper(h2o).abstract)

    def responder(request):
        return json.dumps({"cells": [
            {"aspect": "task", "text": "long-content generation such as dialogue systems", "sentence": 0},
            {"aspect": "approach", "text": "a KV cache eviction policy", "sentence": 99},  # no sentence 99
            {"aspect": "efficiency gain", "text": "10x faster on TPUs", "sentence": 9},  # says 29x, not 10x on TPUs
            {"aspect": "hardware or setting", "text": "quantum annealers", "sentence": 1},  # not in sentence 1
            {"aspect": "evaluation", "text": "not stated", "sentence": None},
        ]})

    fake_openai.responder = responder
    table = llm_bot.compare([h2o], mode="llm")
    [row] = table.rows
    [request] = fake_openai.requests_to("chat/completions")
    assert request.body["response_format"]["json_schema"]["name"] == "comparison_row"
    assert re.search(r"^\[0\] ", request.messages[-1]["content"], flags=re.M)
    assert row.cell("task").stated and row.cell("task").sentence == sentences[0]
    for aspect in ("approach", "efficiency gain", "hardware or setting", "evaluation"):
        assert row.cell(aspect).text == NOT_STATED and row.cell(aspect).sentence is None
    assert table.rejected_cells == 3 and table.mode == "llm" and table.requests == 1
    assert all(c.sentence is not None for c in row.cells if c.stated)
    assert "3 cell(s) the model filled" in comparison_markdown(table)


def test_llm_row_missing_an_aspect_is_repaired(llm_bot, fake_openai):
    replies = iter([json.dumps({"cells": [{"aspect": "task", "text": "serving", "sentence": 0}]}), None])

    def responder(request):
        reply = next(replies)
        if reply is not None:
            return reply
        return json.dumps({"cells": [{"aspect": "task", "text": "not stated", "sentence": None},
                                     {"aspect": "Memory", "text": "reduces its memory footprint", "sentence": 2}]})

    fake_openai.responder = responder
    table = llm_bot.compare(kv_ids(llm_bot)[:1], ["task", "Memory"], mode="llm")
    first, second = fake_openai.requests_to("chat/completions")
    assert "missing cells for ['memory']" in second.messages[-1]["content"]
    assert table.requests == 2 and table.rows[0].cell("Memory").stated
    assert table.rows[0].cell("Memory").sentence.index == 2


@pytest.mark.slow
def test_cli_compare_formats(demo_store, models_dir):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")},
           "PAPERBOT_DATA_DIR": str(demo_store), "PAPERBOT_MODELS_DIR": str(models_dir)}
    ids = [line.split("\t")[0] for prefix in ("Heavy-Hitter", "SwiftKV", "InstInfer") for line in subprocess.run(
        [sys.executable, "-m", "paperbot", "papers", "--grep", prefix], env=env, text=True, capture_output=True,
        timeout=300).stdout.splitlines()]
    assert len(ids) == 3

    def run(*args):
        done = subprocess.run([sys.executable, "-m", "paperbot", "compare", *ids, *args], env=env, text=True,
                              capture_output=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    table = run()  # in a pipe, the table is plain text: a block per paper, a line per aspect
    assert f"({ids[0]})" in table and "\n  task: " in table and "[s" in table and "SwiftKV" in table
    assert "|" not in table
    markdown = run("--format", "markdown")
    assert markdown.startswith("| paper | task | approach | efficiency gain |") and "SwiftKV" in markdown
    rows = list(csv.reader(io.StringIO(run("--format", "csv", "--aspects", "task,memory"))))
    assert rows[0] == ["paper_id", "title", "task", "task sentence", "task sentence text", "memory",
                       "memory sentence", "memory sentence text"] and len(rows) == 4
    data = json.loads(run("--format", "json"))
    assert [r["paper_id"] for r in data["rows"]] == ids and data["mode"] == "extractive"


def test_cells_end_at_a_phrase_boundary_and_keep_their_number():
    from paperbot.summaries.compare import _CUES, _PHRASE_STARTS, MAX_PHRASE_WORDS, phrase_from

    def hits(text: str) -> int:
        return len(_CUES["efficiency gain"].findall(text))

    h2o = ("Our implementation of H_2O with 20% heavy hitters improves the throughput over three leading inference "
           "systems DeepSpeed Zero-Inference, Hugging Face Accelerate, and FlexGen by up to 29times, 29times, and "
           "3times on OPT-6.7B and OPT-30B.")
    cell = phrase_from(h2o, hits, figures=True)
    assert "by up to 29times" in cell and cell in h2o, "the figure the cell is about is kept"
    assert "throughput" in cell and len(cell.split()) <= MAX_PHRASE_WORDS, "with what it measures, and short"
    swiftkv = ("For Llama-3.1-8B and 70B, SwiftKV reduces the compute requirement of prefill by 50% and the memory "
               "requirement of the KV cache by 62.5% while incurring minimum quality degradation across a wide range "
               "of tasks.")
    cell = phrase_from(swiftkv, hits, figures=True)
    assert cell.endswith("KV cache by 62.5%"), cell
    long_clause = ("We find that one long clause with no commas that describes the memory requirement of the KV cache "
                   "in large language model serving systems reduces memory by 4x overall in the end")
    cell = phrase_from(long_clause, hits, figures=True)
    assert "4x" in cell and not cell.endswith(("the", "of", "KV")), cell
    assert cell.split()[0] in _PHRASE_STARTS or long_clause.startswith(cell), "it starts between phrases too"
