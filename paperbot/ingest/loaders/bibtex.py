"""BibTeX entries that carry an abstract, with braces and TeX turned into plain text."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import bibtexparser
from bibtexparser.library import Library
from bibtexparser.middlewares import RemoveEnclosingMiddleware
from bibtexparser.model import DuplicateBlockKeyBlock, Entry, ParsingFailedBlock

from paperbot.errors import CorpusError
from paperbot.ingest.loaders.records import build_paper
from paperbot.ingest.loaders.tex import readable_tex
from paperbot.ingest.loaders.text_files import read_text
from paperbot.types import Paper

_UNESCAPED_PERCENT = re.compile(r"(?<!\\)%")
_BRACES = re.compile(r"(?<!\\)[{}]")
# Google Scholar and others put the arXiv id in journal = {arXiv preprint arXiv:2306.14048}.
_ARXIV_IN_TEXT = re.compile(r"arxiv[:\s]*(\d{4}\.\d{4,5})", re.IGNORECASE)


def _plain(value: str | None) -> str | None:
    """'{H}$_2${O}' -> 'H₂O', '{\\"u}' -> 'ü': the field as a reader would see it."""
    if value is None:
        return None
    if "\\" in value:
        # In TeX '%' starts a comment, so an unescaped '5%' would cut the rest of the line away.
        value = _UNESCAPED_PERCENT.sub(r"\\%", value)
    value = readable_tex(value)
    # Protective braces ({H}, {GPU}) only keep BibTeX styles from lower-casing; readers never see them.
    return _BRACES.sub("", value)


def _split_authors(value: str) -> list[str]:
    # "and" separates names only outside braces: "{Barnes and Noble}" is one (corporate) author.
    names, depth, start = [], 0, 0
    for match in re.finditer(r"[{}]|\s+and\s+", value, re.IGNORECASE):
        token = match.group()
        if token == "{":
            depth += 1
        elif token == "}":
            depth = max(depth - 1, 0)
        elif depth == 0:
            names.append(value[start:match.start()])
            start = match.end()
    names.append(value[start:])
    # "and others" is BibTeX for et al., not a person.
    return [plain for name in names if (plain := _reading_order(name)) and plain.lower() != "others"]


def _reading_order(name: str) -> str:
    """'Kwon, Woosuk' -> 'Woosuk Kwon', 'King, Jr, Martin' -> 'Martin King Jr' (BibTeX's two forms with commas,
    outside braces: '{Barnes, Inc.}' is one name); a name without a comma is already in reading order."""
    parts, depth, start = [], 0, 0
    for at, char in enumerate(name):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if char == "," and depth <= 0:
            parts.append(name[start:at])
            start = at + 1
    parts.append(name[start:])
    plain = [(_plain(part) or "").strip() for part in parts]
    if len(plain) in (2, 3) and all(plain):
        plain = [plain[-1], *plain[:-1]]
    return " ".join(part for part in plain if part)


def _arxiv_id(fields: dict[str, str]) -> str | None:
    prefix = (fields.get("archiveprefix") or fields.get("eprinttype") or "").strip().lower()
    if fields.get("eprint") and prefix == "arxiv":
        return fields["eprint"]
    for key in ("journal", "note", "howpublished"):
        match = _ARXIV_IN_TEXT.search(fields.get(key, ""))
        if match:
            return match.group(1)
    return None


def _paper_from_entry(path: Path, entry: Entry) -> Paper:
    # start_line is 0-based in bibtexparser 2.x; people count lines from 1.
    source = f"{path}:{entry.start_line + 1}" if entry.start_line is not None else f"{path}#{entry.key}"
    fields = {field.key.lower(): str(field.value) for field in entry.fields}
    abstract = _plain(fields.get("abstract"))
    if not abstract or not abstract.strip():
        hint = ("only entries with an 'abstract' field are papers: add one, or ingest with --skip-bad "
                "(skip_bad=True) to load the others and list the entries skipped")
        raise CorpusError(source, f"entry {entry.key} has no abstract", hint)
    authors = fields.get("author")
    return build_paper(
        source,
        title=_plain(fields.get("title")),
        abstract=abstract,
        # Split on "and" here: a single "Last, First" author would otherwise be split on its comma.
        authors=_split_authors(authors) if authors else None,
        year=fields.get("year"),
        date=fields.get("date"),
        url=fields.get("url"),
        arxiv_id=_arxiv_id(fields),
        doi=fields.get("doi"),
        given_id=None,  # citation keys ("smith2023") are not stable across exports, so the title slug is used
    )


def _block_problem(error: Exception) -> str:
    # bibtexparser's exceptions keep their text in attributes; str() of some of them is empty.
    reason = getattr(error, "abort_reason", None) or getattr(error, "message", None) or str(error)
    return reason.strip() or type(error).__name__


def _as_parsed(entry: Entry, library: Library) -> Entry:
    # A duplicate-key entry comes back raw, still in its braces or quotes; @string macros stay unresolved,
    # which only touches fields like journal or month.
    return RemoveEnclosingMiddleware(allow_inplace_modification=False).transform_entry(entry, library)


def load_bibtex(path: Path) -> Iterator[Paper | CorpusError]:
    text = read_text(path)
    parser_log = logging.getLogger("bibtexparser")
    previous_level = parser_log.level
    # The parser also logs each failed block as a warning; we report those as CorpusErrors, so say it once.
    parser_log.setLevel(logging.ERROR)
    try:
        library = bibtexparser.parse_string(text)
    except Exception as exc:  # noqa: BLE001 - the parser's own bugs must not escape as raw tracebacks
        raise CorpusError(str(path), f"cannot parse BibTeX: {_block_problem(exc)}") from exc
    finally:
        parser_log.setLevel(previous_level)
    # Blocks in file order, so errors and papers come out in the order the user wrote them.
    for block in library.blocks:
        if isinstance(block, DuplicateBlockKeyBlock):
            if not isinstance(block.ignore_error_block, Entry):
                continue  # a repeated @string is not a paper and not worth stopping for
            # The same paper twice is not an error here: ingest merges duplicates later.
            block = _as_parsed(block.ignore_error_block, library)
        elif isinstance(block, ParsingFailedBlock):
            line = f"{path}:{block.start_line + 1}" if block.start_line is not None else str(path)
            yield CorpusError(line, f"cannot parse BibTeX block: {_block_problem(block.error)}")
            continue
        if isinstance(block, Entry):
            try:
                yield _paper_from_entry(path, block)
            except CorpusError as exc:
                yield exc
