"""Stable paper ids: arXiv id or DOI when known, else a readable slug of the normalised title plus a short hash."""

from __future__ import annotations

import hashlib
import re
import unicodedata

_ARXIV_NEW = re.compile(r"(?<![\w.])(\d{4}\.\d{4,5})(v\d+)?(?![\w])")
_ARXIV_OLD = re.compile(r"(?<![\w.])([a-z\-]+(?:\.[A-Z]{2})?/\d{7})(v\d+)?", re.IGNORECASE)
_DOI = re.compile(r"(10\.\d{4,9}/\S+)", re.IGNORECASE)


def normalize_arxiv_id(raw: str | None) -> str | None:
    """'arXiv:2306.14048v2', 'https://arxiv.org/abs/2306.14048' -> '2306.14048' (versions are the same paper)."""
    if not raw:
        return None
    text = raw.strip()
    match = _ARXIV_NEW.search(text) or _ARXIV_OLD.search(text)
    return match.group(1) if match else None


def normalize_doi(raw: str | None) -> str | None:
    """'https://doi.org/10.1/ABC' -> '10.1/abc' (DOIs are case-insensitive)."""
    if not raw:
        return None
    match = _DOI.search(raw.strip())
    return match.group(1).rstrip(".,;").lower() if match else None


def normalize_title(title: str) -> str:
    """The form two copies of one title share: NFKC, lower case, letters and digits only."""
    folded = unicodedata.normalize("NFKC", title).casefold()
    return " ".join(re.findall(r"\w+", folded))


def title_slug_id(title: str) -> str:
    normalized = normalize_title(title)
    digest = hashlib.sha1(normalized.encode("utf-8")).hexdigest()[:6]
    from slugify import slugify  # with its html tables, a tenth of every command's start: only ingest needs it

    slug = slugify(normalized, max_length=48, word_boundary=True) or "untitled"
    return f"{slug}-{digest}"


def paper_id(title: str, arxiv_id: str | None = None, doi: str | None = None, given: str | None = None) -> str:
    """Pick the most stable id a record offers."""
    if arxiv_id:
        return f"arxiv:{arxiv_id}"
    if doi:
        return f"doi:{doi}"
    if given:
        cleaned = re.sub(r"\s+", "-", given.strip())
        if cleaned:
            return cleaned
    return title_slug_id(title)
