"""Browsing commands start without loading Chroma, the models, tiktoken, the LLM client, numpy or the web app."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from paperbot.config import Settings
from paperbot.ingest.chunking import CHUNKER_VERSION
from paperbot.store.catalog import Catalog
from paperbot.store.lexical import LexicalIndex
from paperbot.store.lexical_manifest import MANIFEST, saved_live_chunks
from paperbot.types import Chunk, Paper

HEAVY = ("chromadb", "gradio", "openai", "tiktoken", "onnxruntime", "tokenizers", "scipy", "bm25s", "numba", "httpx",
         "numpy", "slugify", "filelock")

# Runs the real command line in a fresh interpreter, then reports which heavy top-level packages it imported.
_PROBE = """
import json, sys
heavy = set(json.loads(sys.argv[2]))
sys.argv = ["paperbot", *json.loads(sys.argv[1])]
from paperbot.cli.commands import main
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
else:
    code = 0
loaded = sorted({name.split(".")[0] for name in sys.modules} & heavy)
sys.stderr.write("\\nPROBE " + json.dumps({"code": code, "loaded": loaded}) + "\\n")
"""


@pytest.fixture(scope="module")
def catalog_store(tmp_path_factory):
    """A store whose catalog and BM25 index exist (as after an ingest) and whose Chroma files do not: a browsing
    command that touched Chroma would fail or create them."""
    data = tmp_path_factory.mktemp("startup")
    catalog = Catalog(data / "papers.sqlite3")
    paper = Paper(id="kv-cache-paper", title="Evicting the KV cache", abstract="We keep heavy hitters. It is fast.",
                  year=2023)
    chunk = Chunk(id="kv-cache-paper#0", paper_id=paper.id, title=paper.title, index=0, text=paper.abstract,
                  char_start=0, char_end=len(paper.abstract), embed_tokens=12, tiktoken_tokens=10)
    catalog.write([(paper, "hash-1", [chunk])])
    catalog.set_meta("embedder", "chroma-onnx/all-MiniLM-L6-v2")
    catalog.set_meta("chunker", CHUNKER_VERSION)
    LexicalIndex(data / "papers.bm25", catalog, title_weight=Settings().title_weight).rebuild()
    catalog.close()
    return data


def test_stats_counts_the_saved_index_from_its_manifest(tmp_path):
    """The count stats shows is the loaded index's, deletions included; an index a reader could not use counts 0."""
    catalog = Catalog(tmp_path / "papers.sqlite3")
    entries = []
    for n in range(9):
        paper = Paper(id=f"p{n}", title=f"Paper {n}", abstract="Sparse attention. Quantised weights.", year=2024)
        entries.append((paper, f"hash-{n}", [Chunk(f"p{n}#{i}", paper.id, paper.title, i, "Sparse attention.", 0, 17,
                                                   5, 4) for i in range(2)]))
    catalog.write(entries[:8])
    index = LexicalIndex(tmp_path / "papers.bm25", catalog, title_weight=2.0)
    index.rebuild()
    catalog.write(entries[8:])
    index.refresh()
    catalog.delete_papers(["p0"])
    index.refresh()
    folder = tmp_path / "papers.bm25"
    manifest = json.loads((folder / MANIFEST).read_text())
    # Two segments, the first still holding p0's chunks, marked deleted (too few of its 16 to rewrite it).
    assert [len(s["deleted"]) for s in manifest["segments"]] == [2, 0]
    assert saved_live_chunks(folder, 2.0) == len(index.chunk_ids()) == 16
    assert saved_live_chunks(folder, 1.0) == 0  # built with another title weight: a reader would not use it
    assert saved_live_chunks(tmp_path / "nowhere", 2.0) == 0
    (folder / manifest["segments"][0]["name"]).unlink()
    assert saved_live_chunks(folder, 2.0) == 0  # a segment missing: no usable index
    (folder / MANIFEST).write_text("{not json")
    assert saved_live_chunks(folder, 2.0) == 0
    catalog.close()


def _run(args: list[str], env_extra: dict | None = None) -> tuple[str, dict]:
    env = {**os.environ, "ANONYMIZED_TELEMETRY": "False", **(env_extra or {})}
    done = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(args), json.dumps(HEAVY)], capture_output=True,
                          text=True, timeout=120, env=env)
    probe = [line for line in done.stderr.splitlines() if line.startswith("PROBE ")]
    assert probe, done.stderr[-2000:]
    return done.stdout, json.loads(probe[-1][len("PROBE "):])


def test_help_loads_no_heavy_package():
    stdout, probe = _run(["--help"])
    assert probe == {"code": 0, "loaded": []}
    assert "ingest" in stdout and "papers" in stdout


@pytest.mark.parametrize("command", [["papers", "--json"], ["show", "kv-cache-paper", "--json"], ["stats", "--json"]])
def test_browsing_reads_the_catalog_alone(catalog_store, command):
    stdout, probe = _run(["--data-dir", str(catalog_store), *command])
    # stats counts the BM25 index's chunks from its manifest, without loading the index's arrays (numpy).
    assert probe == {"code": 0, "loaded": []}
    shown = json.loads(stdout)
    if command[0] == "papers":
        assert [p["id"] for p in shown] == ["kv-cache-paper"]
    elif command[0] == "show":
        assert shown["title"] == "Evicting the KV cache" and len(shown["chunks"]) == 1
    else:
        assert (shown["papers"], shown["chunks"], shown["lexical_chunks"]) == (1, 1, 1)
        assert shown["embedder"] == "chroma-onnx/all-MiniLM-L6-v2"
    assert not (catalog_store / "chroma").exists()


@pytest.mark.slow  # opens Chroma: seconds
def test_stats_asks_chroma_when_the_catalog_records_another_embedder(catalog_store, tmp_path):
    """A catalog that records another embedder than the one configured is not trusted: Chroma's collection decides."""
    store = tmp_path / "copy"
    shutil.copytree(catalog_store, store)
    _, probe = _run(["--data-dir", str(store), "stats", "--json"],
                    {"PAPERBOT_EMBEDDER": "openai", "OPENAI_API_KEY": "sk-test"})
    assert "chromadb" in probe["loaded"]
