"""Read papers from files and folders in every supported format, strictly or skipping bad records."""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from paperbot.errors import CorpusError
from paperbot.ingest.loaders.pdf_runner import PdfBudget, parse_within_budget
from paperbot.types import Paper, SkippedRecord

# A loader yields a Paper per good record and a CorpusError per bad one, so the caller decides whether to stop.
Loader = Callable[[Path], Iterator["Paper | CorpusError"]]

FORMATS = ("daily", "jsonl", "csv", "bibtex", "arxiv-atom", "pdf")


# What a file of each format must hold, said when one holds no records at all.
_EXPECTED = {
    "daily": "expected a title line followed by an abstract line per paper",
    "jsonl": "expected one JSON object per line with 'title' and 'abstract'",
    "csv": "expected a header row naming 'title' and 'abstract', then one row per paper",
    "bibtex": "expected @article{...} style entries with an 'abstract' field",
    "arxiv-atom": "expected <entry> elements in an arXiv API feed",
    "pdf": "expected a PDF with a text layer",
}


@dataclass(frozen=True)
class LoadLimits:
    """Bounds on the work one input file may cost (Settings.max_file_mb, pdf_seconds, pdf_max_pages)."""

    max_file_bytes: int = 1024 * 1024 * 1024
    pdf: PdfBudget = field(default_factory=PdfBudget)


@dataclass
class LoadResult:
    papers: list[Paper] = field(default_factory=list)
    skipped: list[SkippedRecord] = field(default_factory=list)


def _loader_for(fmt: str) -> Loader:
    # Imported lazily: a user ingesting JSONL should not pay for the PDF or XML parsers.
    if fmt == "daily":
        from paperbot.ingest.loaders.daily_page import load_daily_page as loader
    elif fmt == "jsonl":
        from paperbot.ingest.loaders.tabular import load_jsonl as loader
    elif fmt == "csv":
        from paperbot.ingest.loaders.tabular import load_csv as loader
    elif fmt == "bibtex":
        from paperbot.ingest.loaders.bibtex import load_bibtex as loader
    elif fmt == "arxiv-atom":
        from paperbot.ingest.loaders.arxiv_atom import load_arxiv_atom as loader
    elif fmt == "pdf":
        from paperbot.ingest.loaders.pdf import load_pdf as loader
    else:
        raise ValueError(fmt)
    return loader


def detect_format(path: Path) -> str:
    """By extension, then by the first bytes for .txt/.xml and extensionless files."""
    suffix = path.suffix.lower()
    by_suffix = {
        ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "csv",
        ".bib": "bibtex", ".bibtex": "bibtex", ".atom": "arxiv-atom", ".pdf": "pdf", ".txt": "daily", ".md": "daily",
    }
    try:
        with path.open("rb") as handle:
            head = handle.read(2048)
    except OSError as exc:
        raise CorpusError(str(path), f"cannot read file: {exc.strerror or exc}") from exc
    if head.startswith(b"%PDF"):
        return "pdf"
    if suffix == ".xml" or head.lstrip().startswith(b"<?xml") or b"<feed" in head:
        return "arxiv-atom"
    if suffix in by_suffix:
        return by_suffix[suffix]
    stripped = head.lstrip()
    if stripped.startswith(b"{"):
        return "jsonl"
    if stripped.startswith(b"@"):
        return "bibtex"
    raise CorpusError(
        str(path),
        "unknown format",
        "use one of .txt (daily-papers page), .jsonl, .csv, .bib, .xml/.atom (arXiv API), .pdf, or pass --format",
    )


def _not_regular(path: Path) -> CorpusError | None:
    """Why `path` cannot be read as a file, or None: FIFOs and devices would hang or never end (/dev/zero),
    and a broken or looping symlink has nothing behind it."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        if path.is_symlink():
            why = "a symlink loop" if exc.errno == errno.ELOOP else "a broken symlink"
            return CorpusError(str(path), f"{why} (-> {os.readlink(path)})", "point it at a file or remove it")
        return CorpusError(str(path), f"cannot read: {exc.strerror or exc}")
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "not a regular file")
    return CorpusError(str(path), f"{kind}, not a regular file: refused (reading it could hang or never end)",
                       "save the records to a file and pass that")


def expand_paths(paths: Iterable[str | Path]) -> list[Path | CorpusError]:
    """Files as given; folders walked recursively in sorted order, hidden files left out. What cannot be read
    as a file (a FIFO, a device, a broken or looping symlink) comes back as a CorpusError in its place, and so
    does a folder with no files in it: nothing is passed over in silence."""
    files: list[Path | CorpusError] = []
    for path in map(Path, paths):
        problem = _not_regular(path) if (path.exists() or path.is_symlink()) else None
        if problem is not None:
            files.append(problem)
        elif path.is_dir():
            entries = [p for p in sorted(path.rglob("*"))
                       if not p.is_dir() and not any(part.startswith(".") for part in p.relative_to(path).parts)]
            found = [_not_regular(p) or p for p in entries]
            if not any(isinstance(p, Path) for p in found):
                files.append(CorpusError(
                    str(path), "the folder holds no files to read"
                    + (f" (only {len(found)} entries that are not regular files)" if found else ""),
                    "pass a folder with .txt, .jsonl, .csv, .bib, .xml or .pdf files"))
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            raise CorpusError(str(path), "no such file or folder")
    return files


def _check_size(path: Path, limit: int) -> None:
    size = path.stat().st_size
    if size > limit:
        raise CorpusError(str(path), f"{size / 1e6:.0f} MB, over the limit of {limit / 1e6:.0f} MB per file",
                          "split the file, or raise PAPERBOT_MAX_FILE_MB")


def load_papers(paths: str | Path | Iterable[str | Path], *, skip_bad: bool = False,
                fmt: str | None = None, limits: LoadLimits | None = None) -> LoadResult:
    """Read every file (one path or many); strict mode raises the first CorpusError, skip_bad collects them."""
    if isinstance(paths, (str, Path)):
        # A lone string is one path: iterating it would read its characters as paths ("/" among them).
        paths = [paths]
    limits = limits or LoadLimits()
    result = LoadResult()
    for file in expand_paths(paths):
        try:
            if isinstance(file, CorpusError):
                raise file
            _check_size(file, limits.max_file_bytes)
            kind = fmt or detect_format(file)
            records = 0
            # PDFs are parsed in a child process that is stopped when a file goes over its time budget.
            loader = _loader_for(kind) if kind != "pdf" else (lambda p: iter([parse_within_budget(p, limits.pdf)]))
            for item in loader(file):
                records += 1
                if isinstance(item, CorpusError):
                    if not skip_bad:
                        raise item
                    result.skipped.append(SkippedRecord(item.source, item.problem))
                else:
                    result.papers.append(item)
            if records == 0:
                # Silence would read as success: an empty file, or one in another format, is worth a word.
                raise CorpusError(str(file), f"no paper records found (read as {kind})", _EXPECTED[kind])
        except CorpusError as exc:
            if not skip_bad:
                raise
            result.skipped.append(SkippedRecord(exc.source, exc.problem))
    return result
