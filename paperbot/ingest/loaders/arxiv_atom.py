"""Entries of an arXiv API Atom feed, parsed so that entity tricks are refused rather than expanded."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from paperbot.errors import CorpusError
from paperbot.ingest.loaders.records import build_paper
from paperbot.ingest.loaders.text_files import read_text
from paperbot.types import Paper

_ATOM = "{http://www.w3.org/2005/Atom}"
_ARXIV = "{http://arxiv.org/schemas/atom}"
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*encoding\s*=\s*["']([\w.\-]+)""")
_ENTITY_HINT = "entities can expand without bound or read local files; arXiv API feeds never declare them"


def _parse(path: Path) -> Element:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CorpusError(str(path), f"cannot read file: {exc.strerror or exc}") from exc
    declared = _DECLARED_ENCODING.match(data)
    # expat reads UTF-16 by its byte-order mark, but not UTF-32, whose little-endian mark begins the same way.
    utf16 = data.startswith((b"\xff\xfe", b"\xfe\xff")) and not data.startswith(b"\xff\xfe\x00\x00")
    if not utf16 and (declared is None or declared.group(1).lower() in (b"utf-8", b"utf8")):
        # The parser would only say "not well-formed (invalid token)"; read_text names the bad byte and line.
        read_text(path)
    try:
        # Bytes, not text: the XML declaration names the encoding and the parser honours it.
        return SafeET.fromstring(data, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        name = getattr(exc, "name", None)
        detail = f" (entity {name!r})" if name else ""
        raise CorpusError(str(path), f"XML with entity declarations is refused{detail}", _ENTITY_HINT) from exc
    except SafeET.ParseError as exc:
        line, _column = exc.position
        # The parser's message already says "line L, column C".
        raise CorpusError(f"{path}:{line}", f"malformed XML: {exc}") from exc
    except (LookupError, ValueError) as exc:
        # expat only knows a few encodings; a declaration naming another one fails before parsing starts.
        found = declared.group(1).decode("ascii", "replace") if declared else "?"
        raise CorpusError(str(path), f"cannot read XML declared as encoding {found!r}: {exc}",
                          "re-save the feed as UTF-8") from exc


def _text(entry: Element, tag: str) -> str | None:
    node = entry.find(tag)
    return node.text if node is not None and node.text is not None else None


def _url(entry: Element) -> str | None:
    # The abstract page is rel="alternate"; the PDF link has title="pdf".
    for link in entry.findall(f"{_ATOM}link"):
        if link.get("rel", "alternate") == "alternate" and link.get("href"):
            return link.get("href")
    return None


def _paper_from_entry(source: str, entry: Element) -> Paper:
    entry_id = _text(entry, f"{_ATOM}id")
    if entry_id and "/api/errors" in entry_id:
        # The API reports a bad query as a feed with one entry whose summary is the error message.
        raise CorpusError(source, f"arXiv API error: {_text(entry, f'{_ATOM}summary') or 'no message'}")
    published = _text(entry, f"{_ATOM}published")
    return build_paper(
        source,
        title=_text(entry, f"{_ATOM}title"),
        abstract=_text(entry, f"{_ATOM}summary"),
        authors=[name.text or "" for name in entry.findall(f"{_ATOM}author/{_ATOM}name")],
        year=published,
        date=published[:10] if published else None,  # "2023-06-24T17:36:54Z" -> the day it was published
        url=_url(entry),
        arxiv_id=entry_id,
        doi=_text(entry, f"{_ARXIV}doi"),
    )


def load_arxiv_atom(path: Path) -> Iterator[Paper | CorpusError]:
    root = _parse(path)
    if root.tag != f"{_ATOM}feed":
        problem = f"not an Atom feed: the root element is <{root.tag}>"
        raise CorpusError(str(path), problem, "expected an arXiv API response")
    for number, entry in enumerate(root.findall(f"{_ATOM}entry"), start=1):
        source = f"{path}#entry{number}"
        try:
            yield _paper_from_entry(source, entry)
        except CorpusError as exc:
            yield exc
