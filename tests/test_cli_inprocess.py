"""The command line's logic in this process (`paperbot.cli.commands.main` with argv, output captured): what test_cli.py and
test_cli_ask.py check through real processes, in the slow tier. The bot the CLI builds gets the session's cached
embedder, so no test here loads or runs the model again."""

from __future__ import annotations

import json
import re
import sys

import pytest

from paperbot.bot import PaperBot
from paperbot.cli.commands import main
from tests.corpus_files import demo_records, write_jsonl


@pytest.fixture
def run(monkeypatch, capsys, embedder, models_dir):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "PAPERBOT_DATA_DIR", "PAPERBOT_COLLECTION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PAPERBOT_MODELS_DIR", str(models_dir))
    monkeypatch.setattr(PaperBot, "_build_embedder", lambda self: embedder)

    def run(store, *args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["paperbot", "--data-dir", str(store), *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def test_ask_without_llm_is_extractive_and_cited(run, demo_store):
    code, stdout, stderr = run(demo_store, "ask", "Which papers reduce KV cache memory, and by how much?")
    assert code == 0, stderr
    assert "Extractive answer (no LLM)" in stdout
    body = stdout.split("References")[0]
    lines = [line for line in body.splitlines() if line.strip() and not line.startswith("Extractive")]
    assert lines and all(re.search(r"\[P\d+\]$", line) for line in lines), lines
    refs = re.findall(r"^\s+\[(P\d+)\] ", stdout, flags=re.M)
    assert set(refs) == {k for line in lines for k in re.findall(r"P\d+", line)}
    code, stdout, _ = run(demo_store, "ask", "Which method keeps only heavy-hitter tokens in the KV cache?", "--json")
    data = json.loads(stdout)
    assert code == 0 and data["mode"] == "extractive" and data["citations"]
    assert data["usage"]["total_tokens"] == 0 and isinstance(data["unsupported_sentences"], list)


def test_errors_are_one_clear_line(run, tmp_path):
    store = tmp_path / "store"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "T", "abstract": "A."}\n{"title": "No abstract"}\n')
    code, _, stderr = run(store, "ingest", str(bad))
    assert code == 1 and f"{bad}:2: empty abstract" in stderr
    code, stdout, _ = run(store, "ingest", str(bad), "--skip-bad")
    assert code == 0 and "1 added" in stdout and "1 skipped" in stdout and f"{bad}:2" in stdout
    code, _, stderr = run(store, "show", "no-such-paper")
    assert code == 1 and "no paper with id 'no-such-paper'" in stderr and "Traceback" not in stderr
    unknown = tmp_path / "notes.docx"
    unknown.write_bytes(b"PK\x03\x04 not a corpus")
    code, _, stderr = run(store, "ingest", str(unknown))
    assert code == 1 and "unknown format" in stderr


def test_search_filters_from_the_command_line(run, tmp_path, demo_corpus):
    store = tmp_path / "store"
    code, _, stderr = run(store, "ingest", str(write_jsonl(tmp_path / "few.jsonl", demo_records(demo_corpus, 5))))
    assert code == 0, stderr
    code, stdout, _ = run(store, "search", "inference", "--year-min", "2023", "--json")
    hits = json.loads(stdout)
    assert code == 0 and hits and all(h["year"] >= 2023 for h in hits)
    code, stdout, _ = run(store, "search", "inference", "--author", "Author 1", "--json")
    assert [h["authors"][0] for h in json.loads(stdout)] == ["Author 1"]
    code, _, stderr = run(store, "search", "x", "--mode", "sparse")
    assert code == 1 and "unknown --mode" in stderr


def test_eval_help_names_every_named_dataset(run, tmp_path, monkeypatch):
    from evals.datasets import NAMED

    monkeypatch.setenv("COLUMNS", "400")  # one line per option: names are not cut by rich's wrapping
    code, stdout, stderr = run(tmp_path, "eval", "--help")
    assert code == 0, stderr
    listed = " ".join(stdout.split())
    assert [name for name in NAMED if name not in listed] == []
