"""JSON Lines, JSON arrays and CSV/TSV: good records, bad records, and where the errors point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paperbot.errors import CorpusError
from paperbot.ingest.loaders.tabular import load_csv, load_jsonl
from paperbot.types import Paper

H2O_ABSTRACT = "Large Language Models (LLMs) are costly to deploy. We introduce H2O, a KV cache eviction policy."


def papers(items: list) -> list[Paper]:
    return [item for item in items if isinstance(item, Paper)]


def errors(items: list) -> list[CorpusError]:
    return [item for item in items if isinstance(item, CorpusError)]


def write_jsonl(path: Path, records: list[object]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n", encoding="utf-8")
    return path


# --- JSON Lines -------------------------------------------------------------------------------------------------


def test_jsonl_good_records_get_ids_by_arxiv_doi_given_id_or_slug(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "papers.jsonl", [
        {"title": "H2O: Heavy-Hitter Oracle", "abstract": H2O_ABSTRACT, "arxiv_id": "2306.14048v2",
         "authors": ["Zhenyu Zhang", "Ying Sheng"], "year": 2023},
        {"title": "A DOI paper", "abstract": "Some abstract text.", "doi": "https://doi.org/10.1234/ABC.5",
         "authors": "Ann Lee; Bo Chen", "date": "2021-03-04"},
        {"_id": "4983", "title": "BEIR style", "text": "BEIR calls the abstract text."},
        {"id": "my paper 7", "title": "Given id", "abstract": "Has an id of its own."},
        {"title": "Just a title", "abstract": "And an abstract.", "url": "https://arxiv.org/abs/2401.00001"},
        {"title": "No ids at all", "abstract": "Only the slug is left."},
    ])
    loaded = list(load_jsonl(path))
    assert errors(loaded) == []
    by_title = {p.title: p for p in papers(loaded)}
    h2o = by_title["H2O: Heavy-Hitter Oracle"]
    assert h2o.id == "arxiv:2306.14048" and h2o.arxiv_id == "2306.14048"
    assert h2o.authors == ("Zhenyu Zhang", "Ying Sheng") and h2o.year == 2023
    assert h2o.source == f"{path}:1"
    doi = by_title["A DOI paper"]
    assert doi.id == "doi:10.1234/abc.5" and doi.authors == ("Ann Lee", "Bo Chen") and doi.year == 2021
    assert by_title["BEIR style"].id == "4983" and by_title["BEIR style"].abstract == "BEIR calls the abstract text."
    assert by_title["Given id"].id == "my-paper-7"
    assert by_title["Just a title"].id == "arxiv:2401.00001"
    assert by_title["No ids at all"].id.startswith("no-ids-at-all-")


def test_jsonl_same_paper_twice_loads_twice(tmp_path: Path) -> None:
    record = {"title": "Twice", "abstract": "Listed twice in one file.", "arxiv_id": "2306.14048"}
    path = write_jsonl(tmp_path / "dup.jsonl", [record, record])
    loaded = papers(list(load_jsonl(path)))
    assert [p.id for p in loaded] == ["arxiv:2306.14048", "arxiv:2306.14048"]
    assert [p.source for p in loaded] == [f"{path}:1", f"{path}:2"]


def test_jsonl_blank_lines_are_ignored_and_line_numbers_stay_true(tmp_path: Path) -> None:
    path = tmp_path / "gaps.jsonl"
    path.write_text('\n\n{"title": "T", "abstract": "A."}\n   \n{"title": "U", "abstract": "B."}\n', encoding="utf-8")
    loaded = list(load_jsonl(path))
    assert [p.source for p in loaded] == [f"{path}:3", f"{path}:5"]


def test_jsonl_bad_lines_yield_errors_naming_path_and_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [
        {"title": "Good", "abstract": "Fine."},
        '{"title": "Broken", "abstract": ',
        "[1, 2]",
        {"abstract": "No title here."},
        {"title": "Empty abstract", "abstract": "   "},
        {"title": "Good too", "abstract": "Also fine."},
    ])
    loaded = list(load_jsonl(path))
    assert [p.title for p in papers(loaded)] == ["Good", "Good too"]
    found = {e.source: e.problem for e in errors(loaded)}
    assert set(found) == {f"{path}:2", f"{path}:3", f"{path}:4", f"{path}:5"}
    assert "invalid JSON" in found[f"{path}:2"] and "Expecting value" in found[f"{path}:2"]
    assert "expected a JSON object" in found[f"{path}:3"]
    assert "title" in found[f"{path}:4"]
    assert "empty abstract" in found[f"{path}:5"]
    assert str(errors(loaded)[0]).startswith(f"{path}:2: ")


def test_jsonl_empty_abstract_falls_back_to_text(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [{"title": "T", "abstract": "", "text": "From text."}])
    assert papers(list(load_jsonl(path)))[0].abstract == "From text."


def test_jsonl_latin1_line_is_an_error_for_that_line_only(tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    path.write_bytes(
        b'{"title": "Fine", "abstract": "ok"}\n'
        + '{"title": "Caf\u00e9", "abstract": "bad bytes"}\n'.encode("latin-1")
        + b'{"title": "Fine again", "abstract": "ok"}\n'
    )
    loaded = list(load_jsonl(path))
    assert [p.title for p in papers(loaded)] == ["Fine", "Fine again"]
    (error,) = errors(loaded)
    assert error.source == f"{path}:2"
    assert "not valid UTF-8" in error.problem and "0xe9" in error.problem


def test_json_array_file_uses_index_sources(tmp_path: Path) -> None:
    path = tmp_path / "papers.json"
    path.write_text(json.dumps([
        {"title": "First", "abstract": "One."},
        "not an object",
        {"title": "Third", "abstract": "Three.", "doi": "10.5555/x.y"},
    ], indent=2), encoding="utf-8")
    loaded = list(load_jsonl(path))
    assert [(p.title, p.source) for p in papers(loaded)] == [("First", f"{path}#0"), ("Third", f"{path}#2")]
    assert papers(loaded)[1].id == "doi:10.5555/x.y"
    assert [e.source for e in errors(loaded)] == [f"{path}#1"]


def test_json_array_that_does_not_parse_is_a_file_error_with_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('[\n  {"title": "A", "abstract": "B"},\n  {"title": \n]\n', encoding="utf-8")
    with pytest.raises(CorpusError) as caught:
        list(load_jsonl(path))
    assert caught.value.source == f"{path}:4" and "invalid JSON" in caught.value.problem


def test_json_file_with_one_pretty_printed_object(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"title": "Alone", "abstract": "Just me."}, indent=2), encoding="utf-8")
    assert [p.title for p in papers(list(load_jsonl(path)))] == ["Alone"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_jsonl_never_raises_anything_but_corpus_errors(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(data)
    try:
        items = list(load_jsonl(path))
    except CorpusError as exc:
        assert str(path) in exc.source
    else:
        assert all(isinstance(item, (Paper, CorpusError)) for item in items)


# --- CSV / TSV ----------------------------------------------------------------------------------------------------


def test_csv_good_rows_with_quoted_multiline_abstract(tmp_path: Path) -> None:
    path = tmp_path / "papers.csv"
    path.write_text(
        'Title,Abstract,authors,year,arxiv_id,doi,id\n'
        '"H2O: Heavy-Hitter Oracle","Line one,\nline two.","Zhenyu Zhang; Ying Sheng",2023,2306.14048,,\n'
        'DOI paper,Plain abstract.,,2020,,10.1234/XY,\n'
        'Given,Has id.,,,,,p-17\n',
        encoding="utf-8",
    )
    loaded = list(load_csv(path))
    assert errors(loaded) == []
    h2o, doi, given_id = papers(loaded)
    assert h2o.id == "arxiv:2306.14048" and h2o.abstract == "Line one, line two."
    assert h2o.authors == ("Zhenyu Zhang", "Ying Sheng") and h2o.source == f"{path}:2"
    assert doi.id == "doi:10.1234/xy" and doi.source == f"{path}:4"  # the multi-line record took lines 2-3
    assert given_id.id == "p-17" and given_id.source == f"{path}:5"


def test_tsv_uses_tab_and_text_column(tmp_path: Path) -> None:
    path = tmp_path / "corpus.tsv"
    path.write_text("_id\ttitle\ttext\n1\tA, with comma\tAbstract; with, punctuation.\n", encoding="utf-8")
    (paper,) = list(load_csv(path))
    assert isinstance(paper, Paper)
    assert (paper.id, paper.title, paper.abstract) == ("1", "A, with comma", "Abstract; with, punctuation.")


def test_csv_semicolon_delimiter_is_sniffed(tmp_path: Path) -> None:
    path = tmp_path / "semi.csv"
    path.write_text("title;abstract\nFirst;One, two, three.\nSecond;Four.\n", encoding="utf-8")
    assert [p.title for p in papers(list(load_csv(path)))] == ["First", "Second"]


def test_csv_same_paper_twice_loads_twice(tmp_path: Path) -> None:
    path = tmp_path / "dup.csv"
    path.write_text("title,abstract\nSame,Same abstract.\nSame,Same abstract.\n", encoding="utf-8")
    loaded = papers(list(load_csv(path)))
    assert len(loaded) == 2 and loaded[0].id == loaded[1].id


def test_csv_without_needed_columns_names_what_it_found(tmp_path: Path) -> None:
    path = tmp_path / "cols.csv"
    path.write_text("name,summary\nA,B\n", encoding="utf-8")
    with pytest.raises(CorpusError) as caught:
        list(load_csv(path))
    assert caught.value.source == str(path)
    assert "'name'" in caught.value.problem and "'summary'" in caught.value.problem
    assert "title" in caught.value.problem


def test_csv_empty_file_is_a_file_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    with pytest.raises(CorpusError, match="no header row"):
        list(load_csv(path))


def test_csv_bad_rows_are_errors_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "title,abstract\n"
        "Good,Fine.\n"
        ",No title.\n"
        "Empty abstract,\n"
        "Too,many,fields\n"
        "Good too,Fine too.\n",
        encoding="utf-8",
    )
    loaded = list(load_csv(path))
    assert [p.title for p in papers(loaded)] == ["Good", "Good too"]
    found = {e.source: e.problem for e in errors(loaded)}
    assert "title" in found[f"{path}:3"]
    assert "empty abstract" in found[f"{path}:4"]
    assert "3 fields but the header has 2" in found[f"{path}:5"]


def test_csv_latin1_is_a_file_error_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes("title,abstract\nOk,Fine.\nCaf\u00e9,Bad.\n".encode("latin-1"))
    with pytest.raises(CorpusError) as caught:
        list(load_csv(path))
    assert caught.value.source == f"{path}:3"
    assert "not valid UTF-8" in caught.value.problem


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.sampled_from('ab,;\t"\n\r x\x00'), max_size=200))
def test_csv_never_raises_anything_but_corpus_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.csv"
    path.write_text("title,abstract\n" + text, encoding="utf-8")
    try:
        items = list(load_csv(path))
    except CorpusError as exc:
        assert str(path) in exc.source
    else:
        assert all(isinstance(item, (Paper, CorpusError)) for item in items)
