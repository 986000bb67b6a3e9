"""BibTeX: entries with abstracts become papers, TeX becomes text, and problems name their line."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paperbot.errors import CorpusError
from paperbot.ingest.loaders.bibtex import load_bibtex
from paperbot.types import Paper

GOOD = r"""% exported from a reference manager
@article{zhang2023h2o,
  title = {{H}$_2${O}: Heavy-Hitter Oracle for Efficient Generative Inference of Large Language Models},
  author = {Zhang, Zhenyu and Sheng, Ying and M{\"u}ller, Anna},
  abstract = {Large Language Models (LLMs) cut memory by 20% with
     \emph{heavy hitters}.},
  year = {2023},
  eprint = {2306.14048},
  archivePrefix = {arXiv},
}

@inproceedings{doi2020,
  title = "A {DOI} Paper",
  author = "Lee, Ann",
  abstract = "Plain abstract.",
  year = 2020,
  doi = {10.1145/3300000.ABC},
  url = {https://dl.acm.org/doi/10.1145/3300000.ABC}
}

@misc{scholar2024,
  title = {Scholar style},
  journal = {arXiv preprint arXiv:2401.01234},
  abstract = {Google Scholar puts the arXiv id in the journal field.}
}

@misc{slugonly,
  title = {No Identifiers Here},
  abstract = {Only a title slug can name this one.}
}
"""


def papers(items: list) -> list[Paper]:
    return [item for item in items if isinstance(item, Paper)]


def errors(items: list) -> list[CorpusError]:
    return [item for item in items if isinstance(item, CorpusError)]


def write(tmp_path: Path, text: str, name: str = "refs.bib") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_good_entries_load_with_clean_fields_and_ids(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    loaded = list(load_bibtex(path))
    assert errors(loaded) == []
    h2o, doi, scholar, slug = papers(loaded)
    assert h2o.title == "H₂O: Heavy-Hitter Oracle for Efficient Generative Inference of Large Language Models"
    assert h2o.id == "arxiv:2306.14048" and h2o.arxiv_id == "2306.14048"
    assert h2o.authors == ("Zhenyu Zhang", "Ying Sheng", "Anna Müller")  # read as people write names
    assert h2o.abstract == "Large Language Models (LLMs) cut memory by 20% with heavy hitters."
    assert h2o.year == 2023 and h2o.source == f"{path}:2"
    assert doi.title == "A DOI Paper" and doi.id == "doi:10.1145/3300000.abc"
    assert doi.authors == ("Ann Lee",)  # one "Last, First" author is not split on its comma
    assert doi.url == "https://dl.acm.org/doi/10.1145/3300000.ABC" and doi.source == f"{path}:12"
    assert scholar.id == "arxiv:2401.01234"
    assert slug.id.startswith("no-identifiers-here-")


def test_same_entry_twice_loads_twice(tmp_path: Path) -> None:
    entry = "@misc{k, title={Twice}, abstract={Listed twice.}, eprint={2306.14048}, archivePrefix={arXiv}}\n"
    path = write(tmp_path, entry + "\n" + entry)
    loaded = list(load_bibtex(path))
    assert errors(loaded) == []
    assert [(p.id, p.source) for p in loaded] == [("arxiv:2306.14048", f"{path}:1"), ("arxiv:2306.14048", f"{path}:3")]


def test_entry_without_abstract_names_key_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "@article{good, title={T}, abstract={A.}}\n\n@book{nokey2020,\n  title = {No abstract}\n}\n")
    loaded = list(load_bibtex(path))
    assert len(papers(loaded)) == 1
    (error,) = errors(loaded)
    assert error.source == f"{path}:3"
    assert error.problem == "entry nokey2020 has no abstract"
    assert "--skip-bad" in error.hint  # says how to load the rest of the file


def test_entry_with_abstract_but_no_title_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "@article{untitled, abstract = {Has an abstract.}}\n")
    (error,) = list(load_bibtex(path))
    assert isinstance(error, CorpusError)
    assert error.source == f"{path}:1" and "title" in error.problem


def test_broken_block_is_an_error_with_its_line_and_the_rest_still_loads(tmp_path: Path) -> None:
    path = write(tmp_path, "@article{broken,\n  title = {never closed\n\n"
                           "@misc{after, title={After}, abstract={Still here.}}\n")
    loaded = list(load_bibtex(path))
    assert [p.title for p in papers(loaded)] == ["After"]
    (error,) = errors(loaded)
    assert error.source == f"{path}:1"
    assert "cannot parse BibTeX block" in error.problem and error.problem.strip() != "cannot parse BibTeX block:"


def test_failed_blocks_do_not_print_parser_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "@article{broken,\n  title = {never closed\n@misc{x, title={X}, abstract={Y}}\n")
    list(load_bibtex(path))
    captured = capsys.readouterr()
    assert "aborted" not in captured.err and "aborted" not in captured.out


def test_latin1_bib_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.bib"
    path.write_bytes("@misc{a,\n  title = {Caf\u00e9},\n  abstract={x}}\n".encode("latin-1"))
    with pytest.raises(CorpusError) as caught:
        list(load_bibtex(path))
    assert caught.value.source == f"{path}:2" and "not valid UTF-8" in caught.value.problem


def test_string_macros_and_comments_are_not_papers(tmp_path: Path) -> None:
    path = write(tmp_path, '@string{conf = "NeurIPS"}\n@comment{ignore me}\n@preamble{"x"}\n'
                           "@misc{m, title={Macro}, abstract={Uses a macro.}, booktitle=conf}\n")
    loaded = list(load_bibtex(path))
    assert [p.title for p in papers(loaded)] == ["Macro"] and errors(loaded) == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(alphabet=st.sampled_from("@{}=,\"\\$% \nabtitle"), max_size=200))
def test_never_raises_anything_but_corpus_errors(tmp_path: Path, text: str) -> None:
    path = write(tmp_path, "@misc{a, title={T}, abstract={A}}\n" + text, name="fuzz.bib")
    try:
        items = list(load_bibtex(path))
    except CorpusError as exc:
        assert str(path) in exc.source
    else:
        assert all(isinstance(item, (Paper, CorpusError)) for item in items)


def test_authors_split_on_and_outside_braces_and_others_dropped(tmp_path: Path) -> None:
    path = write(tmp_path, "@misc{c, title={Corporate}, abstract={A.},\n"
                           "  author={{Barnes and Noble} and Lee, Ann and others}}\n")
    (paper,) = list(load_bibtex(path))
    assert isinstance(paper, Paper) and paper.authors == ("Barnes and Noble", "Ann Lee")


def test_comma_names_read_first_name_first_and_braced_commas_stay_one_name(tmp_path: Path) -> None:
    path = write(tmp_path, "@misc{v, title={vLLM}, abstract={Paged attention.},\n"
                           "  author={Kwon, Woosuk and Li, Zhuohan and King, Jr, Martin and {Acme, Inc.}}}\n")
    (paper,) = list(load_bibtex(path))
    assert paper.authors == ("Woosuk Kwon", "Zhuohan Li", "Martin King Jr", "Acme, Inc.")


def test_doi_only_entry_links_to_doi_org_and_tex_in_abstract_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "@article{d, title={Only a DOI}, doi={10.1145/3600006.3613165},\n"
                           "  abstract={It is 2-4$\\times$ faster with 96.7\\% accuracy.}}\n")
    (paper,) = list(load_bibtex(path))
    assert paper.url == "https://doi.org/10.1145/3600006.3613165"
    assert paper.abstract == "It is 2-4× faster with 96.7% accuracy."
