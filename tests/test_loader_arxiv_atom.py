"""arXiv API Atom feeds: entries become papers; malformed XML and entity tricks become CorpusErrors."""

from __future__ import annotations

from pathlib import Path

import pytest

from paperbot.errors import CorpusError
from paperbot.ingest.loaders import detect_format, load_papers
from paperbot.ingest.loaders.arxiv_atom import load_arxiv_atom
from paperbot.types import Paper

FEED = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/"
      xmlns:arxiv="http://arxiv.org/schemas/atom">
  <title type="html">ArXiv Query: search_query=all:H2O</title>
  <id>http://arxiv.org/api/abc</id>
  <opensearch:totalResults>3</opensearch:totalResults>
  <entry>
    <id>http://arxiv.org/abs/2306.14048v2</id>
    <updated>2023-12-18T01:02:03Z</updated>
    <published>2023-06-24T17:36:54Z</published>
    <title>H$_2$O: Heavy-Hitter Oracle for Efficient Generative Inference of Large
  Language Models</title>
    <summary>  Large Language Models (LLMs), despite their recent impressive
accomplishments, are notably  cost-prohibitive to deploy.
</summary>
    <author><name>Zhenyu Zhang</name></author>
    <author><name>Ying Sheng</name><arxiv:affiliation>Stanford</arxiv:affiliation></author>
    <arxiv:doi>10.1234/h2o.5</arxiv:doi>
    <link href="http://arxiv.org/abs/2306.14048v2" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/2306.14048v2" rel="related" type="application/pdf"/>
    <arxiv:primary_category term="cs.LG" scheme="http://arxiv.org/schemas/atom"/>
  </entry>
  <entry>
    <id>http://arxiv.org/abs/hep-th/9901001v1</id>
    <published>1999-01-01T00:00:00Z</published>
    <title>An old-style identifier</title>
    <summary>Old arXiv ids have an archive prefix.</summary>
    <author><name>A. Physicist</name></author>
  </entry>
  <entry>
    <id>http://arxiv.org/abs/2401.00001v1</id>
    <published>2024-01-01T00:00:00Z</published>
    <title>No summary here</title>
    <summary>   </summary>
  </entry>
</feed>
"""


def write(tmp_path: Path, text: str, name: str = "feed.xml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_feed_entries_become_papers_with_clean_text(tmp_path: Path) -> None:
    path = write(tmp_path, FEED)
    h2o, old, empty = list(load_arxiv_atom(path))
    assert isinstance(h2o, Paper) and isinstance(old, Paper)
    assert h2o.id == "arxiv:2306.14048" and h2o.arxiv_id == "2306.14048"
    assert h2o.title == "H₂O: Heavy-Hitter Oracle for Efficient Generative Inference of Large Language Models"
    assert h2o.abstract == (
        "Large Language Models (LLMs), despite their recent impressive accomplishments, "
        "are notably cost-prohibitive to deploy."
    )
    assert h2o.authors == ("Zhenyu Zhang", "Ying Sheng")
    assert (h2o.year, h2o.date) == (2023, "2023-06-24")
    assert h2o.doi == "10.1234/h2o.5" and h2o.url == "http://arxiv.org/abs/2306.14048v2"
    assert h2o.source == f"{path}#entry1"
    assert old.id == "arxiv:hep-th/9901001" and old.year == 1999
    assert isinstance(empty, CorpusError)
    assert empty.source == f"{path}#entry3" and "empty abstract" in empty.problem


def test_same_entry_twice_loads_twice(tmp_path: Path) -> None:
    start, rest = FEED.split("<entry>", 1)
    entry = "<entry>" + rest.split("</entry>", 1)[0] + "</entry>"
    path = write(tmp_path, start + entry + entry + "</feed>")
    loaded = list(load_arxiv_atom(path))
    assert [p.id for p in loaded] == ["arxiv:2306.14048", "arxiv:2306.14048"]
    assert [p.source for p in loaded] == [f"{path}#entry1", f"{path}#entry2"]


def test_atom_extension_is_detected(tmp_path: Path) -> None:
    assert detect_format(write(tmp_path, FEED, name="query.atom")) == "arxiv-atom"
    assert detect_format(write(tmp_path, FEED, name="query.xml")) == "arxiv-atom"


def test_broken_xml_names_line_and_column(tmp_path: Path) -> None:
    text = '<?xml version="1.0"?>\n<feed xmlns="http://www.w3.org/2005/Atom">\n<entry><title>x</entry>\n</feed>\n'
    path = write(tmp_path, text)
    with pytest.raises(CorpusError) as caught:
        list(load_arxiv_atom(path))
    assert caught.value.source == f"{path}:3"
    assert "malformed XML" in caught.value.problem and "line 3, column" in caught.value.problem


def test_billion_laughs_is_refused_not_expanded(tmp_path: Path) -> None:
    levels = "\n".join(f'  <!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10))
    path = write(tmp_path, f"""<?xml version="1.0"?>
<!DOCTYPE feed [
  <!ENTITY lol0 "lol">
{levels}
]>
<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>&lol9;</title><summary>&lol9;</summary></entry></feed>
""")
    with pytest.raises(CorpusError) as caught:
        list(load_arxiv_atom(path))
    assert caught.value.source == str(path)
    assert "XML with entity declarations is refused" in caught.value.problem


def test_external_entity_is_refused_and_file_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET", encoding="utf-8")
    path = write(tmp_path, f"""<?xml version="1.0"?>
<!DOCTYPE feed [<!ENTITY xxe SYSTEM "file://{secret}">]>
<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>&xxe;</title><summary>&xxe;</summary></entry></feed>
""")
    with pytest.raises(CorpusError) as caught:
        list(load_arxiv_atom(path))
    assert "XML with entity declarations is refused" in caught.value.problem
    assert "TOP-SECRET" not in str(caught.value)


def test_entity_attack_is_skipped_not_fatal_in_skip_bad_mode(tmp_path: Path) -> None:
    bad = write(tmp_path, '<?xml version="1.0"?><!DOCTYPE f [<!ENTITY a "b">]><feed>&a;</feed>', name="bad.xml")
    good = write(tmp_path, FEED, name="good.xml")
    result = load_papers([bad, good], skip_bad=True)
    assert len(result.papers) == 2
    assert [s.source for s in result.skipped] == [str(bad), f"{good}#entry3"]
    assert "entity declarations is refused" in result.skipped[0].reason


def test_not_an_atom_feed(tmp_path: Path) -> None:
    path = write(tmp_path, '<?xml version="1.0"?><rss><channel/></rss>')
    with pytest.raises(CorpusError, match="not an Atom feed"):
        list(load_arxiv_atom(path))


def test_arxiv_api_error_entry_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, """<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <entry><id>http://arxiv.org/api/errors#incorrect_id_format_for_1234</id><title>Error</title>
  <summary>incorrect id format for 1234</summary></entry>
</feed>""")
    (error,) = list(load_arxiv_atom(path))
    assert isinstance(error, CorpusError)
    assert error.source == f"{path}#entry1" and "incorrect id format" in error.problem


def test_entry_without_title_is_an_error_for_that_entry(tmp_path: Path) -> None:
    path = write(tmp_path, """<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <entry><id>http://arxiv.org/abs/2401.00002v1</id><summary>No title.</summary></entry>
  <entry><id>http://arxiv.org/abs/2401.00003v1</id><title>Titled</title><summary>Fine.</summary></entry>
</feed>""")
    error, paper = list(load_arxiv_atom(path))
    assert isinstance(error, CorpusError) and error.source == f"{path}#entry1" and "title" in error.problem
    assert isinstance(paper, Paper) and paper.id == "arxiv:2401.00003"


def test_latin1_bytes_in_utf8_feed_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.xml"
    path.write_bytes(FEED.replace("Zhenyu Zhang", "Ren\u00e9 Zhang").encode("latin-1"))
    with pytest.raises(CorpusError) as caught:
        list(load_arxiv_atom(path))
    line = FEED[: FEED.index("Zhenyu Zhang")].count("\n") + 1
    assert caught.value.source == f"{path}:{line}" and "not valid UTF-8" in caught.value.problem


def test_feed_declared_latin1_is_read_as_latin1(tmp_path: Path) -> None:
    text = FEED.replace('encoding="UTF-8"', 'encoding="ISO-8859-1"').replace("Zhenyu Zhang", "Ren\u00e9 Zhang")
    path = tmp_path / "declared.xml"
    path.write_bytes(text.encode("latin-1"))
    first = next(iter(load_arxiv_atom(path)))
    assert isinstance(first, Paper) and first.authors[0] == "Ren\u00e9 Zhang"
