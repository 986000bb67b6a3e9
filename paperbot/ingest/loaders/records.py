"""Turn the fields a loader found into a checked Paper, or a CorpusError that says what is wrong."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from paperbot.errors import CorpusError
from paperbot.ingest.loaders.tex import readable_tex
from paperbot.text.ids import normalize_arxiv_id, normalize_doi, paper_id
from paperbot.types import Paper

_YEAR = re.compile(r"\b(1[89]\d\d|20\d\d|2100)\b")
_SPACE = re.compile(r"\s+")
# Control and format characters (Unicode categories Cc, Cf, Co, Cs, and separators other than space).
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb\ue000-\uf8ff\ud800-\udfff]")


def clean_text(text: str) -> str:
    """NFC, no control characters, single spaces: what every stored field looks like."""
    text = unicodedata.normalize("NFC", text)
    text = _UNPRINTABLE.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def parse_year(value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value if 1800 <= value <= 2100 else None
    match = _YEAR.search(str(value))
    return int(match.group(1)) if match else None


def split_authors(value: object) -> tuple[str, ...]:
    """Accept a list, 'A and B' (BibTeX), or 'A; B' / 'A, B' strings."""
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        names: Iterable[str] = (str(v) for v in value)
    else:
        text = str(value)
        if " and " in text:
            names = text.split(" and ")
        elif ";" in text:
            names = text.split(";")
        else:
            names = text.split(",")
    return tuple(name for name in (clean_text(n) for n in names) if name)


def _link(arxiv: str | None, doi: str | None) -> str | None:
    """A paper with no url of its own still gets one to open: its arXiv page, else its DOI's resolver."""
    if arxiv:
        return f"https://arxiv.org/abs/{arxiv}"
    return f"https://doi.org/{doi}" if doi else None


def build_paper(
    source: str,
    *,
    title: object,
    abstract: object,
    authors: object = None,
    year: object = None,
    date: object = None,
    url: object = None,
    arxiv_id: object = None,
    doi: object = None,
    given_id: object = None,
    body: str | None = None,
) -> Paper:
    """Validate one record's fields; raises CorpusError naming `source` when a required field is unusable."""
    if title is None or not isinstance(title, str) or not clean_text(title):
        raise CorpusError(source, "missing or empty title", "every paper needs a 'title'")
    if abstract is None or not isinstance(abstract, str) or not clean_text(abstract):
        raise CorpusError(source, "empty abstract", "give the paper an 'abstract' (or 'text'), or drop the record")
    clean_title = readable_tex(clean_text(title))
    arxiv = normalize_arxiv_id(str(arxiv_id)) if arxiv_id else None
    if arxiv is None and url:
        arxiv = normalize_arxiv_id(str(url)) if "arxiv" in str(url).lower() else None
    norm_doi = normalize_doi(str(doi)) if doi else None
    date_text = clean_text(str(date)) if date else None
    return Paper(
        id=paper_id(clean_title, arxiv, norm_doi, str(given_id) if given_id not in (None, "") else None),
        title=clean_title,
        abstract=readable_tex(clean_text(abstract)),
        authors=split_authors(authors),
        year=parse_year(year) or parse_year(date_text),
        date=date_text or None,
        url=clean_text(str(url)) if url else _link(arxiv, norm_doi),
        arxiv_id=arxiv,
        doi=norm_doi,
        source=source,
        body=body,
    )
