"""Checks on uploaded files before any parser sees them: count, size, extension and the first bytes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from paperbot.errors import CorpusError
from paperbot.ingest.loaders import detect_format

# Every extension the loaders read (see paperbot.ingest.loaders.detect_format); the upload widget offers the same list.
ALLOWED_SUFFIXES = (".txt", ".md", ".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".bib", ".bibtex", ".xml", ".atom",
                    ".pdf")
MAX_FILE_MB = 20
MAX_FILES = 20


@dataclass(frozen=True)
class UploadLimits:
    max_file_bytes: int = MAX_FILE_MB * 1024 * 1024
    max_files: int = MAX_FILES


@dataclass
class UploadCheck:
    accepted: list[Path] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 3  # a multi-byte character cut by the sniff window is still text
    return True


def check_uploads(paths: list[Path], limits: UploadLimits) -> UploadCheck:
    """Accept a file only if its extension is one the loaders read, its size is within the limit, and its first
    bytes match its kind (a PDF starts with %PDF, anything else is UTF-8 text)."""
    check = UploadCheck()
    for number, path in enumerate(paths):
        name = path.name
        if number >= limits.max_files:
            check.rejected.append((name, f"more than {limits.max_files} files in one upload; upload the rest next"))
            continue
        suffix = path.suffix.lower()
        if suffix not in ALLOWED_SUFFIXES:
            allowed = ", ".join(ALLOWED_SUFFIXES)
            check.rejected.append((name, f"unsupported file type {suffix or '(none)'}; use one of {allowed}"))
            continue
        try:
            size = path.stat().st_size
            with path.open("rb") as handle:
                head = handle.read(4096)
        except OSError as exc:
            check.rejected.append((name, f"cannot read the upload ({exc.strerror or exc})"))
            continue
        if size == 0:
            check.rejected.append((name, "the file is empty"))
            continue
        if size > limits.max_file_bytes:
            limit_mb = limits.max_file_bytes / 1e6
            check.rejected.append((name, f"{size / 1e6:.1f} MB is over the {limit_mb:.0f} MB limit per file"))
            continue
        if suffix == ".pdf" and not head.startswith(b"%PDF"):
            check.rejected.append((name, "named .pdf but is not a PDF"))
            continue
        if suffix != ".pdf" and not _looks_like_text(head):
            check.rejected.append((name, "not UTF-8 text (binary content in a text format)"))
            continue
        try:
            detect_format(path)
        except CorpusError as exc:
            check.rejected.append((name, exc.problem))
            continue
        check.accepted.append(path)
    return check
