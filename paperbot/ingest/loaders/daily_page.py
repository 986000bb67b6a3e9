"""The daily-papers page as copied from a browser: boilerplate, then a title line and an abstract line per paper."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from paperbot.errors import CorpusError
from paperbot.ingest.loaders.records import build_paper
from paperbot.ingest.loaders.text_files import read_text
from paperbot.types import Paper

# Page furniture seen in copies of trending/daily-papers pages.
_DATE = (r"(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.? \d{1,2}(,? \d{4})?|"
         r"\d{4}-\d{2}-\d{2}|(mon|tue|wed|thu|fri|sat|sun)[a-z]*day,? .*")
_DATE_LINE = re.compile(f"^({_DATE})$", re.IGNORECASE)
_BOILERPLATE = re.compile(
    r"^(new|subscribe|get trending papers in your email inbox!?|by\s*ak and the research community|"
    r"daily papers|trending papers|submitted by .*|upvote|\d+ upvotes?|\d+|" + _DATE + ")$",
    re.IGNORECASE,
)
_YEAR = re.compile(r"\b(19|20)\d\d\b")
_MAX_TITLE_CHARS = 300


def _looks_like_abstract(line: str) -> bool:
    # Abstracts are prose of several sentences; titles are short and have at most one inner full stop
    # ("PINN surrogate ... inference. Part II: ...").
    sentence_breaks = len(re.findall(r"[.!?] [A-Z]", line))
    return len(line) > _MAX_TITLE_CHARS or (len(line) > 160 and sentence_breaks >= 2)


def load_daily_page(path: Path) -> Iterator[Paper | CorpusError]:
    text = read_text(path)
    # A page lists papers under the date line they appeared on; only a date with a year gives them one ("Mar 14"
    # alone does not say which year).
    content: list[tuple[int, str, str | None]] = []
    date = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if _DATE_LINE.match(line):
            date = line if _YEAR.search(line) else None
        elif line and not _BOILERPLATE.match(line):
            content.append((number, line, date))
    index = 0
    while index < len(content):
        number, title, date = content[index]
        if _looks_like_abstract(title):
            yield CorpusError(
                f"{path}:{number}", "abstract without a title line before it",
                "each paper is a title line followed by its abstract line",
            )
            index += 1
            continue
        if index + 1 >= len(content) or not _looks_like_abstract(content[index + 1][1]):
            yield CorpusError(
                f"{path}:{number}", f"title {title[:60]!r} has no abstract line after it",
                "each paper is a title line followed by its abstract line",
            )
            index += 1
            continue
        _, abstract, _ = content[index + 1]
        try:
            yield build_paper(f"{path}:{number}", title=title, abstract=abstract, date=date)
        except CorpusError as exc:
            yield exc
        index += 2
