"""One paper from a PDF's text layer: title, the text under its Abstract heading, and the full text as body."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError, PyPdfError

from paperbot.errors import CorpusError
from paperbot.ingest.loaders.records import build_paper
from paperbot.types import Paper

_MAX_ABSTRACT_CHARS = 3000
_ABSTRACT_PAGES = 2  # the abstract is on page 1, or page 2 after a title page
_MAX_TITLE_LINES = 3

# "Abstract" alone, "Abstract. We", "Abstract—We", "ABSTRACT We", "A BSTRACT" (small caps), "AbstractWe" (glued
# by extraction), but not "Abstractive" nor "Abstract Syntax Notation" running text.
_ABSTRACT_HEADING = re.compile(
    r"^\s*(?:Abstract|ABSTRACT|A\s?BSTRACT)(?:\s*$|\s*[.:—–\-]\s*|(?<=T)\s+|(?=[A-Z]))(?P<rest>.*)$"
)
# What follows an abstract: numbered or bare "Introduction", keyword lists, ACM boilerplate.
_END_OF_ABSTRACT = re.compile(
    r"^\s*(?:(?:\d+|[IVX]+)\.?\s*(?:Introduction|INTRODUCTION|I\s?NTRODUCTION|Background|Related Work)\b|"
    r"(?:Introduction|INTRODUCTION|I\s?NTRODUCTION)\s*$|"
    r"(?:Keywords|KEYWORDS|Key words|Index Terms|CCS Concepts|ACM Reference Format)\b)"
)
# The vertical stamp arXiv adds to page 1: "arXiv:2306.14048v2 [cs.LG] 18 Dec 2023".
_ARXIV_STAMP = re.compile(
    r"arXiv:(?P<id>\d{4}\.\d{4,5})(?:v\d+)?\s*\[[\w.\-]+\]\s*(?:\d{1,2}\s+\w{3}\s+(?P<year>\d{4}))?"
)
# Lines above the title that are not the title: stamps, venue banners, page numbers.
_NOT_TITLE = re.compile(
    r"^(arXiv:\S+.*|\d+|published as .*|accepted (at|to|by) .*|preprint.*|under review.*|proceedings of .*|"
    r"to appear in .*|technical report.*|.*\bworkshop\b.*\d{4})$",
    re.IGNORECASE,
)
# A title line ending in one of these words, a colon or a hyphen surely goes on on the next line.
_DANGLING = re.compile(r"(\b(a|an|and|for|from|in|of|on|the|to|via|with)|[:\-–—])$", re.IGNORECASE)
# Metadata titles that are really file names or tool defaults.
_JUNK_META_TITLE = re.compile(
    r"(^microsoft (word|powerpoint)\b|^(untitled|title|document|paper|main|slides?|draft)[\s\d]*$|"
    r"\.(pdf|docx?|tex|dvi|ps|indd|odt)$|^[\w\-.]+$)",
    re.IGNORECASE,
)
_HYPHEN_BREAK = re.compile(r"(\w)-\n\s*([a-z])")


def _sensible_meta_title(title: object) -> str | None:
    if not isinstance(title, str):
        return None
    title = " ".join(title.split())
    if not 5 <= len(title) <= 300 or _JUNK_META_TITLE.search(title) or len(re.findall(r"[^\W\d_]{2,}", title)) < 2:
        return None
    return title


def _title_from_text(first_page: str) -> str | None:
    lines = []
    for line in (raw.strip() for raw in first_page.splitlines()):
        if _ABSTRACT_HEADING.match(line):
            break  # the title comes before the abstract; a page that starts with it has no title line
        if len(line) >= 4 and not _NOT_TITLE.match(line):
            lines.append(line)
    if not lines:
        return None
    parts = [lines[0]]
    # Long titles wrap; only join the next line when the title visibly is not finished, since the
    # line after a title is usually the author list and must not be glued on.
    for line in lines[1:_MAX_TITLE_LINES]:
        if not (_DANGLING.search(parts[-1]) or line[:1].islower()):
            break
        parts.append(line)
    return " ".join(parts)


def _abstract_from_text(text: str) -> str | None:
    lines = text.splitlines()
    for index, line in enumerate(lines):
        heading = _ABSTRACT_HEADING.match(line)
        if heading:
            break
    else:
        return None
    collected = [heading.group("rest")]
    for line in lines[index + 1:]:
        if _END_OF_ABSTRACT.match(line) or sum(map(len, collected)) > _MAX_ABSTRACT_CHARS:
            break
        collected.append(line)
    # Words broken at line ends ("effi-\ncient") are rejoined; "large-\nScale" keeps its hyphen.
    abstract = _HYPHEN_BREAK.sub(r"\1\2", "\n".join(collected)).strip()
    if len(abstract) > _MAX_ABSTRACT_CHARS:
        cut = abstract[:_MAX_ABSTRACT_CHARS]
        sentence_end = cut.rfind(". ")
        abstract = cut[: sentence_end + 1] if sentence_end > _MAX_ABSTRACT_CHARS // 2 else cut
    return abstract or None


def _open(path: Path) -> PdfReader:
    try:
        with path.open("rb") as handle:
            head = handle.read(1024)
    except OSError as exc:
        raise CorpusError(str(path), f"cannot read file: {exc.strerror or exc}") from exc
    # The PDF header may follow a little junk, but must be in the first kilobyte.
    if b"%PDF-" not in head:
        raise CorpusError(str(path), "not a PDF file (no %PDF- header)", "is it an HTML error page or another format?")
    reader = PdfReader(path)
    if reader.is_encrypted:
        # Many PDFs are "encrypted" with an empty password just to set permissions; those open fine.
        try:
            opened = reader.decrypt("")
        except DependencyError as exc:
            raise CorpusError(str(path), f"encrypted PDF needs a crypto library to open: {exc}",
                              "pip install cryptography, or save an unencrypted copy") from exc
        if opened == PasswordType.NOT_DECRYPTED:
            raise CorpusError(str(path), "encrypted PDF (needs a password)", "save an unencrypted copy")
    return reader


def _page_count(reader: PdfReader) -> int:
    """The page tree's own /Count when it has one (walking 5,000 pages to count them took seconds), else the walk."""
    try:
        count = reader.trailer["/Root"]["/Pages"]["/Count"]
        if isinstance(count, int) and count >= 0:
            return int(count)
    except Exception:  # noqa: BLE001 - a damaged tree: count by walking it, as pypdf reads it
        pass
    return len(reader.pages)


def _read(path: Path, max_pages: int | None) -> Paper:
    reader = _open(path)
    count = _page_count(reader)
    if max_pages is not None and count > max_pages:
        raise CorpusError(str(path), f"{count} pages, over the page budget of {max_pages} per PDF",
                          "raise PAPERBOT_PDF_MAX_PAGES, or load this paper from its arXiv/BibTeX record")
    pages = [page.extract_text() or "" for page in reader.pages]
    body = "\n\n".join(text.strip() for text in pages).replace("\x00", "").strip()
    if not body:
        raise CorpusError(str(path), "no text layer (scanned PDF?)", "run OCR (e.g. ocrmypdf) and load the result")
    abstract = _abstract_from_text("\n".join(pages[:_ABSTRACT_PAGES]))
    if abstract is None:
        raise CorpusError(
            str(path), "no abstract found: no line starting with 'Abstract' on the first pages",
            "load this paper from its arXiv/BibTeX record instead",
        )
    metadata = reader.metadata
    meta_title = metadata.title if metadata else None
    doi = (metadata.get("/doi") or metadata.get("/DOI")) if metadata else None
    title = _sensible_meta_title(meta_title) or _title_from_text(pages[0])
    stamp = _ARXIV_STAMP.search(pages[0])
    return build_paper(
        str(path),
        title=title,
        abstract=abstract,
        authors=(metadata.author if metadata else None) or None,
        year=stamp.group("year") if stamp else None,
        arxiv_id=stamp.group("id") if stamp else None,
        doi=str(doi) if doi else None,
        body=body,
    )


def parse_pdf(path: Path, max_pages: int | None = None) -> Paper | CorpusError:
    """Parse in this process, unbounded in time: `pdf_runner` calls it in a child process it can stop."""
    # pypdf logs a warning for every defect it repairs; those are not the user's problem unless reading fails.
    pypdf_log = logging.getLogger("pypdf")
    previous_level = pypdf_log.level
    pypdf_log.setLevel(logging.ERROR)
    try:
        return _read(path, max_pages)
    except CorpusError as exc:
        return exc
    except FileNotDecryptedError as exc:
        return CorpusError(str(path), f"encrypted PDF: {exc}", "save an unencrypted copy")
    except (PdfReadError, PyPdfError) as exc:
        return CorpusError(str(path), f"corrupt or unreadable PDF: {exc}")
    except Exception as exc:  # noqa: BLE001 - pypdf raises plain ValueError/KeyError/... on broken files
        return CorpusError(str(path), f"corrupt or unreadable PDF ({type(exc).__name__}: {exc})")
    finally:
        pypdf_log.setLevel(previous_level)


def load_pdf(path: Path) -> Iterator[Paper | CorpusError]:
    """Parsed in a child process within the default time and page budgets (load_papers passes its own)."""
    from paperbot.ingest.loaders.pdf_runner import PdfBudget, parse_within_budget

    yield parse_within_budget(path, PdfBudget())
