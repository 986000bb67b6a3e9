"""Read papers from files and folders in every supported format, strictly or skipping bad records."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from paperbot.errors import CorpusError
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


@dataclass
class LoadResult:
    papers: list[Paper] = field(default_factory=list)
    skipped: list[SkippedRecord] = field(default_factory=list)


def _loader_for(fmt: str) -> Loader:
    # Imported lazily: a user ingesting JSONL should not pay for the PDF or XML parsers.
    if fmt == "daily":
        from paperbot.loaders.daily_page import load_daily_page as loader
    elif fmt == "jsonl":
        from paperbot.loaders.tabular import load_jsonl as loader
    elif fmt == "csv":
        from paperbot.loaders.tabular import load_csv as loader
    elif fmt == "bibtex":
        from paperbot.loaders.bibtex import load_bibtex as loader
    elif fmt == "arxiv-atom":
        from paperbot.loaders.arxiv_atom import load_arxiv_atom as loader
    elif fmt == "pdf":
        from paperbot.loaders.pdf import load_pdf as loader
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


def expand_paths(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; folders walked recursively in sorted order, hidden files left out."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            files.extend(
                p for p in sorted(path.rglob("*"))
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
            )
        elif path.exists():
            files.append(path)
        else:
            raise CorpusError(str(path), "no such file or folder")
    return files


def load_papers(paths: Iterable[str | Path], *, skip_bad: bool = False, fmt: str | None = None) -> LoadResult:
    """Read every file; strict mode raises the first CorpusError, skip_bad collects them."""
    result = LoadResult()
    for file in expand_paths(paths):
        try:
            kind = fmt or detect_format(file)
            records = 0
            for item in _loader_for(kind)(file):
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
