"""The command line, run as a user runs it: real processes on a real store."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.corpus_files import demo_records, write_jsonl


@pytest.fixture
def run(tmp_path, models_dir):
    env = {**os.environ, "PAPERBOT_DATA_DIR": str(tmp_path / "cli-store"), "PAPERBOT_MODELS_DIR": str(models_dir)}

    def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "paperbot", *args], env=env, capture_output=True, text=True,
                              timeout=300)
        if check:
            assert done.returncode == 0, done.stderr
        return done

    return run


@pytest.mark.slow
def test_demo_corpus_ingest_then_reingest_then_browse(run, demo_corpus):
    first = run("ingest", str(demo_corpus))
    assert "115 papers: 115 added, 0 updated, 0 unchanged, 0 skipped" in first.stdout
    second = run("ingest", str(demo_corpus))
    assert "115 papers: 0 added, 0 updated, 115 unchanged, 0 skipped" in second.stdout
    listed = run("papers").stdout.splitlines()
    assert len(listed) == 115 and all(line.count("\t") == 2 for line in listed)
    assert len(json.loads(run("papers", "--json").stdout)) == 115
    stats = json.loads(run("stats", "--json").stdout)
    assert stats["papers"] == 115 and stats["chunks"] == stats["lexical_chunks"] > 115
    hits = json.loads(run("search", "keep only heavy-hitter tokens in the KV cache", "--json").stdout)
    assert hits[0]["title"].startswith("H₂O") and len(hits) == 10
    h2o = hits[0]["paper_id"]
    shown = json.loads(run("show", h2o, "--json").stdout)
    assert shown["id"] == h2o and shown["chunks"] and "heavy" in shown["abstract"].lower()
    grep = run("papers", "--grep", "speculative").stdout.splitlines()
    assert 1 <= len(grep) < 115 and all("speculative" in line.lower() or "\t" in line for line in grep)
    assert "rebuilt the catalog and lexical index: 115 papers" in run("reindex").stdout


@pytest.mark.slow  # processes; tests/test_cli_inprocess.py runs the same commands in this process
def test_errors_are_one_clear_line(run, tmp_path, demo_corpus):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"title": "T", "abstract": "A."}\n{"title": "No abstract"}\n')
    failed = run("ingest", str(bad), check=False)
    assert failed.returncode == 1 and f"{bad}:2: empty abstract" in failed.stderr
    skipped = run("ingest", str(bad), "--skip-bad")
    assert "1 added" in skipped.stdout and "1 skipped" in skipped.stdout and f"{bad}:2" in skipped.stdout
    # After the ingest: before it, the store holds no collection and reading commands say that instead.
    missing = run("show", "no-such-paper", check=False)
    assert missing.returncode == 1
    assert "no paper with id 'no-such-paper'" in missing.stderr and "Traceback" not in missing.stderr
    unknown = tmp_path / "notes.docx"
    unknown.write_bytes(b"PK\x03\x04 not a corpus")
    refused = run("ingest", str(unknown), check=False)
    assert refused.returncode == 1 and "unknown format" in refused.stderr


@pytest.mark.slow  # processes; tests/test_cli_inprocess.py runs the same commands in this process
def test_search_filters_from_the_command_line(run, tmp_path, demo_corpus):
    corpus = write_jsonl(tmp_path / "few.jsonl", demo_records(demo_corpus, 5))
    run("ingest", str(corpus))
    hits = json.loads(run("search", "inference", "--year-min", "2023", "--json").stdout)
    assert hits and all(h["year"] >= 2023 for h in hits)
    hits = json.loads(run("search", "inference", "--author", "Author 1", "--json").stdout)
    assert [h["authors"][0] for h in hits] == ["Author 1"]
    bad_mode = run("search", "x", "--mode", "sparse", check=False)
    assert bad_mode.returncode == 1 and "unknown --mode" in bad_mode.stderr
