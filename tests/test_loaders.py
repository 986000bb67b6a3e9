"""The loader dispatcher, the daily-papers page loader, and the shared demo and SciFact corpora."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from paperbot.errors import CorpusError
from paperbot.ingest.loaders import detect_format, expand_paths, load_papers
from paperbot.ingest.loaders.daily_page import load_daily_page
from paperbot.types import Paper

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DEMO_CORPUS = SHARED / "corpus" / "inference-cost-papers.txt"
SCIFACT_CORPUS = SHARED / "datasets" / "scifact" / "corpus.jsonl"

ABSTRACT = (
    "Large language models are expensive to serve at scale. We study where the cost goes. "
    "Our method halves the memory needed for the KV cache. Experiments on three models confirm it."
)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- format detection and dispatch --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.jsonl", '{"title": "t"}', "jsonl"),
        ("a.json", "[]", "jsonl"),
        ("a.csv", "title,abstract\n", "csv"),
        ("a.tsv", "title\tabstract\n", "csv"),
        ("a.bib", "@misc{x}", "bibtex"),
        ("a.atom", "<feed/>", "arxiv-atom"),
        ("a.txt", "New\n", "daily"),
        ("noext", '{"title": "t"}', "jsonl"),
        ("noext2", "@article{x,}", "bibtex"),
        ("feed.txt", '<?xml version="1.0"?><feed/>', "arxiv-atom"),
    ],
)
def test_detect_format(tmp_path: Path, name: str, content: str, expected: str) -> None:
    assert detect_format(write(tmp_path, name, content)) == expected


def test_unknown_format_is_a_corpus_error_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "thesis.docx"
    path.write_bytes(b"PK\x03\x04 zipped word file")
    with pytest.raises(CorpusError) as caught:
        detect_format(path)
    assert caught.value.source == str(path) and caught.value.problem == "unknown format"
    assert ".jsonl" in caught.value.hint
    with pytest.raises(CorpusError, match="thesis.docx: unknown format"):
        load_papers([path])
    skipped = load_papers([path], skip_bad=True).skipped
    assert [(s.source, s.reason) for s in skipped] == [(str(path), "unknown format")]


def test_missing_path_is_a_corpus_error(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no such file or folder"):
        expand_paths([tmp_path / "nope.jsonl"])


def test_skip_bad_returns_good_papers_and_skipped_records_with_sources(tmp_path: Path) -> None:
    lines = ['{"title": "Good", "abstract": "Fine."}', "not json", '{"title": "", "abstract": "x"}']
    jsonl = write(tmp_path, "a.jsonl", "\n".join(lines) + "\n")
    write(tmp_path, "b.csv", "title,abstract\nAlso good,Fine.\n")
    bad_csv = write(tmp_path, "c.csv", "name,summary\nA,B\n")
    result = load_papers([tmp_path], skip_bad=True)
    assert [p.title for p in result.papers] == ["Good", "Also good"]
    assert [s.source for s in result.skipped] == [f"{jsonl}:2", f"{jsonl}:3", str(bad_csv)]
    assert "invalid JSON" in result.skipped[0].reason and "title" in result.skipped[1].reason
    assert [p.source for p in result.papers] == [f"{jsonl}:1", f"{tmp_path / 'b.csv'}:2"]


def test_strict_mode_raises_with_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a.jsonl", '{"title": "Good", "abstract": "Fine."}\n{"title": "Bad"\n')
    with pytest.raises(CorpusError) as caught:
        load_papers([path])
    assert caught.value.source == f"{path}:2"
    assert f"{path}:2: invalid JSON" in str(caught.value)


def test_forced_format_overrides_detection(tmp_path: Path) -> None:
    path = write(tmp_path, "papers.txt", '{"title": "Forced", "abstract": "Read as JSON Lines."}\n')
    assert [p.title for p in load_papers([path], fmt="jsonl").papers] == ["Forced"]


def test_hidden_files_in_folders_are_ignored(tmp_path: Path) -> None:
    write(tmp_path, "a.jsonl", '{"title": "Visible", "abstract": "Yes."}\n')
    write(tmp_path, ".hidden.jsonl", '{"title": "Hidden", "abstract": "No."}\n')
    assert [p.title for p in load_papers([tmp_path]).papers] == ["Visible"]


# --- daily-papers page ----------------------------------------------------------------------------------------------


def test_daily_page_skips_boilerplate_and_reads_title_abstract_pairs(tmp_path: Path) -> None:
    path = write(tmp_path, "page.txt", "\n".join([
        "New", "", "Get trending papers in your email inbox!", "", "Subscribe", "", "byAK and the research community",
        "", "Mar 14", "", "H$_2$O: Heavy-Hitter Oracle", "", ABSTRACT, "", "Second Paper", "", ABSTRACT, "",
    ]))
    loaded = list(load_daily_page(path))
    assert all(isinstance(item, Paper) for item in loaded)
    assert [p.title for p in loaded] == ["H₂O: Heavy-Hitter Oracle", "Second Paper"]
    assert [p.source for p in loaded] == [f"{path}:11", f"{path}:15"]


def test_daily_page_takes_the_year_from_a_dated_day_line_only(tmp_path: Path) -> None:
    path = write(tmp_path, "page.txt", "\n".join([
        "Mar 14", "Undated Paper", ABSTRACT, "Mar 14, 2024", "Dated Paper", ABSTRACT,
        "2023-11-02", "Earlier Paper", ABSTRACT, "Mar 15", "Yearless Again", ABSTRACT,
    ]))
    loaded = list(load_daily_page(path))
    assert [(p.title, p.year) for p in loaded] == [
        ("Undated Paper", None), ("Dated Paper", 2024), ("Earlier Paper", 2023), ("Yearless Again", None)]


def test_tex_in_an_abstract_is_read_like_a_title_keeping_its_spaces(tmp_path: Path) -> None:
    tex = ("Decoding is 2-4$\\times$ with the same accuracy; H$_2$O keeps 96.7\\% of A & B at ~3x less "
           "memory and costs $5 and $10, in $\\mathcal{O}(n^2)$ time. " + ABSTRACT)
    path = write(tmp_path, "page.txt", "TeX Paper\n\n" + tex + "\n")
    (paper,) = list(load_daily_page(path))
    assert paper.abstract.startswith("Decoding is 2-4× with the same accuracy; H₂O keeps 96.7% of A & B at ~3x "
                                     "less memory and costs $5 and $10, in 𝒪(n²) time. ")


def test_tex_quotes_become_typographic_quotes_even_where_nothing_else_is_tex(tmp_path: Path) -> None:
    path = write(tmp_path, "page.txt", "Quotes\n\nIt cuts the ``time to first token'' by half. " + ABSTRACT + "\n")
    (paper,) = list(load_daily_page(path))
    assert paper.abstract.startswith("It cuts the “time to first token” by half. ")


def test_daily_page_title_without_abstract_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "page.txt", "Lonely Title\n\nNext Title\n\n" + ABSTRACT + "\n")
    first, second = list(load_daily_page(path))
    assert isinstance(first, CorpusError)
    assert first.source == f"{path}:1" and "has no abstract line" in first.problem
    assert isinstance(second, Paper) and second.title == "Next Title"


def test_daily_page_latin1_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "page.txt"
    path.write_bytes(("Title\n\n" + ABSTRACT + "\n\nCaf\u00e9 title\n").encode("latin-1"))
    with pytest.raises(CorpusError) as caught:
        list(load_daily_page(path))
    assert caught.value.source == f"{path}:5" and "not valid UTF-8" in caught.value.problem


# --- the shared corpora ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_papers() -> list[Paper]:
    if not DEMO_CORPUS.exists():
        pytest.skip(f"demo corpus not found at {DEMO_CORPUS}")
    return load_papers([DEMO_CORPUS]).papers  # strict: any bad record fails the test


def test_demo_corpus_loads_115_papers_with_unique_ids(demo_papers: list[Paper]) -> None:
    assert len(demo_papers) == 115
    assert len({p.id for p in demo_papers}) == 115
    assert all(p.abstract and p.source.startswith(f"{DEMO_CORPUS}:") for p in demo_papers)


def test_demo_corpus_renders_h2o_title(demo_papers: list[Paper]) -> None:
    titles = [p.title for p in demo_papers]
    assert any(t.startswith("H₂O: Heavy-Hitter Oracle") for t in titles)
    assert not any("$" in t for t in titles)


def test_demo_corpus_boilerplate_never_becomes_a_paper(demo_papers: list[Paper]) -> None:
    boilerplate = {"new", "subscribe", "mar 14", "byak and the research community",
                   "get trending papers in your email inbox!"}
    assert not [p.title for p in demo_papers if p.title.lower() in boilerplate]
    assert all(len(p.title) > 8 for p in demo_papers)


@pytest.mark.slow  # about 2.5 s: 8 MB of abstracts through clean_text
def test_scifact_beir_corpus_loads() -> None:
    if not SCIFACT_CORPUS.exists():
        pytest.skip(f"SciFact corpus not found at {SCIFACT_CORPUS}")
    with SCIFACT_CORPUS.open(encoding="utf-8") as handle:
        expected = {json.loads(line)["_id"] for line in handle if line.strip()}
    started = time.perf_counter()
    result = load_papers([SCIFACT_CORPUS], skip_bad=True)
    elapsed = time.perf_counter() - started
    assert result.skipped == []  # SciFact has no empty titles or abstracts
    assert len(result.papers) == 5183
    assert {p.id for p in result.papers} == expected  # BEIR _id is the given id
    assert elapsed < 30, f"loading SciFact took {elapsed:.1f}s"
