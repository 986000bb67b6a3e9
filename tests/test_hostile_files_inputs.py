"""Hostile inputs end in a clear message naming the file or option, never a traceback, a hang or a silent success
(issue 14, items 3, 7 and 9): deeply nested JSON, FIFOs and devices, symlink loops, sentences without full stops,
overflowing or reversed year filters, a bad or unknown --collection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from paperbot.errors import CorpusError
from paperbot.ingest.loaders import load_papers
from paperbot.text.sentences import sentence_spans
from paperbot.types import Paper, SearchFilters

GOOD = {"title": "Speculative Decoding with Small Drafts", "abstract": "A small model drafts tokens. It is fast."}


def _cli(env_store: Path, models_dir: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "PAPERBOT_"))}
    env.update(PAPERBOT_DATA_DIR=str(env_store), PAPERBOT_MODELS_DIR=str(models_dir), ANONYMIZED_TELEMETRY="False")
    return subprocess.run([sys.executable, "-m", "paperbot", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


# --- item 7: deeply nested JSON ----------------------------------------------------------------------------------
def test_deeply_nested_json_line_is_one_bad_record_not_a_crash(tmp_path):
    path = tmp_path / "deep.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + "[" * 100_000 + "]" * 100_000 + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match=r"deep\.jsonl:2: JSON nested too deeply"):
        load_papers([path])
    loaded = load_papers([path], skip_bad=True)  # the one line is skipped, not the whole ingest
    assert [p.title for p in loaded.papers] == [GOOD["title"]]
    assert [(s.source, s.reason) for s in loaded.skipped] == [(f"{path}:2", "JSON nested too deeply to be a paper record")]


def test_deeply_nested_json_document_is_a_corpus_error(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" + "{\"a\": [" * 50_000 + "]}" * 50_000 + "]", encoding="utf-8")
    with pytest.raises(CorpusError, match="nested too deeply"):
        load_papers([path])


# --- item 7: FIFOs and devices are refused, not read --------------------------------------------------------------
def test_fifo_and_device_are_refused_by_name(tmp_path):
    fifo = tmp_path / "papers.jsonl"
    os.mkfifo(fifo)  # nothing ever writes to it: opening it to read would block for ever
    for path, kind in ((fifo, "a FIFO"), (Path("/dev/zero"), "a device")):
        with pytest.raises(CorpusError, match=f"^{path}: {kind}.*not a regular file"):
            load_papers([path])
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(GOOD) + "\n", encoding="utf-8")
    loaded = load_papers([fifo, "/dev/zero", good], skip_bad=True)
    assert len(loaded.papers) == 1 and [s.source for s in loaded.skipped] == [str(fifo), "/dev/zero"]


def test_files_over_the_size_limit_are_refused_before_reading(tmp_path):
    from paperbot.ingest.loaders import LoadLimits

    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps(GOOD) + "\n" + " " * 5000 + "\n", encoding="utf-8")
    with pytest.raises(CorpusError, match="over the limit of 0 MB per file"):
        load_papers([path], limits=LoadLimits(max_file_bytes=1000))


# --- item 9: a folder holding only a symlink loop is reported, not a success --------------------------------------
def test_folder_with_only_a_symlink_loop_is_reported(tmp_path):
    folder = tmp_path / "papers"
    folder.mkdir()
    (folder / "loop.jsonl").symlink_to(folder / "loop.jsonl")
    with pytest.raises(CorpusError, match="the folder holds no files to read"):
        load_papers([folder])
    skipped = load_papers([folder], skip_bad=True).skipped
    assert any(s.source == str(folder / "loop.jsonl") and "symlink loop" in s.reason for s in skipped), skipped


# --- item 3: a sentence without full stops costs time linear in its length --------------------------------------
def test_sentences_are_capped_so_text_without_full_stops_splits_in_bounded_pieces():
    from paperbot.text.sentences import MAX_SENTENCE_CHARS

    words = "token cache memory attention decoding layer batch quantization throughput latency".split()
    text = " ".join(words[i % len(words)] for i in range(40_000))  # ~300 KB, not one full stop
    spans = sentence_spans(text)
    assert spans and all(0 < end - start <= MAX_SENTENCE_CHARS for start, end in spans)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(text[s:e] == text[s:e].strip() for s, e in spans)
    # Nothing lost: the pieces are the text, cut only at spaces.
    assert " ".join(text[s:e] for s, e in spans) == text
    # A run with no space at all is cut hard at the cap.
    assert max(e - s for s, e in sentence_spans("x" * (3 * MAX_SENTENCE_CHARS))) == MAX_SENTENCE_CHARS
    normal = "We propose a method. It is 3.5x faster, e.g. on GPUs. See Fig. 2 for details."
    assert len(sentence_spans(normal)) == 3


class _CountingEmbedder:
    """The real embedder, counting the characters it is asked to tokenize: the chunker's work, measured without a
    clock."""

    def __init__(self, inner) -> None:
        self._inner = inner
        self.chars = 0

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def count_tokens(self, texts):
        self.chars += sum(map(len, texts))
        return self._inner.count_tokens(texts)


def test_chunking_an_abstract_without_full_stops_does_linear_work(embedder, models_dir):
    from paperbot.ingest.chunking import Chunker
    from paperbot.llm.tokens import TiktokenCounter, encoding_for_model, use_cache_dir

    use_cache_dir(models_dir / "tiktoken")
    counter = TiktokenCounter(encoding_for_model(None))
    words = "token cache memory attention decoding layer batch quantization throughput latency".split()
    work = {}
    for n in (4_000, 16_000):
        counting = _CountingEmbedder(embedder)
        text = " ".join(words[i % len(words)] for i in range(n))
        chunks = Chunker(counting, counter.count_many).chunk(Paper(id="x", title="No Full Stops", abstract=text))
        assert chunks and all(c.embed_tokens <= 256 for c in chunks)
        work[n] = counting.chars / len(text)
    # Characters tokenized per character of text stay flat when the text grows 4x (it grew 4x before the cap).
    assert work[16_000] < 1.5 * work[4_000], work


# --- item 7 and 9: filters, collections, in the CLI ---------------------------------------------------------------
def test_year_filters_out_of_range_or_reversed_are_clear_errors():
    from paperbot.errors import FilterError

    with pytest.raises(FilterError, match="a year must be a whole number from 0 to 9999"):
        SearchFilters(year_min=10**20)
    with pytest.raises(FilterError, match="--year-min 2024 is after --year-max 2020"):
        SearchFilters(year_min=2024, year_max=2020)
    assert SearchFilters(year_min=2020, year_max=2020).year_min == 2020


@pytest.mark.slow
def test_cli_gives_one_line_errors_and_creates_nothing_for_an_unknown_collection(tmp_path, models_dir):
    store = tmp_path / "store"
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps(GOOD) + "\n", encoding="utf-8")
    assert _cli(store, models_dir, "ingest", str(corpus)).returncode == 0
    before = sorted(p.name for p in store.iterdir())

    cases = {
        ("search", "draft", "--year-min", str(10**20)): "a year must be a whole number from 0 to 9999",
        ("search", "draft", "--year-min", "2024", "--year-max", "2020"): "--year-min 2024 is after --year-max 2020",
        ("--collection", "a b", "papers"): "--collection='a b': a collection name is 3 to 62 letters",
        ("--collection", "typo", "papers"): "no collection 'typo' in the store at",
        ("--collection", "typo", "ask", "what is drafted?"): "it holds: papers. Pass one of those with --collection",
        ("ingest", "/dev/zero"): "/dev/zero: a device, not a regular file",
    }
    for args, expected in cases.items():
        done = _cli(store, models_dir, *args)
        message = " ".join(done.stderr.split())
        assert done.returncode == 1 and "Traceback" not in done.stderr, (args, done.stderr[-2000:])
        assert message.startswith("error: ") and expected in message, (args, message)
    assert sorted(p.name for p in store.iterdir()) == before  # no typo.sqlite3, lock or folder
    from paperbot.store.vectors import collection_names, connect

    assert collection_names(connect(None, store / "chroma")[0]) == ["papers"]
