"""An abstract as numbered sentences: what summaries, digests and comparisons cite, and how prompts show them."""

from __future__ import annotations

import hashlib
import html
from collections.abc import Sequence
from functools import lru_cache

from paperbot.summary_types import SentenceRef
from paperbot.text.sentences import sentence_spans
from paperbot.types import Paper


@lru_cache(maxsize=4096)
def numbered_sentences(text: str) -> tuple[SentenceRef, ...]:
    """The sentences of `text` in order, numbered from 0; the same text always gives the same numbering."""
    return tuple(SentenceRef(i, text[start:end]) for i, (start, end) in enumerate(sentence_spans(text)))


def sentence_exists(paper: Paper, ref: SentenceRef) -> bool:
    """True when `ref` is exactly sentence `ref.index` of the paper's abstract (the check every citation must pass)."""
    sentences = numbered_sentences(paper.abstract)
    return 0 <= ref.index < len(sentences) and sentences[ref.index].text == ref.text


def render_numbered(sentences: Sequence[SentenceRef]) -> str:
    """One `[i] sentence` line each, escaped so an abstract cannot close the tag it is quoted in."""
    return "\n".join(f"[{s.index}] {html.escape(s.text, quote=False)}" for s in sentences)


def attribute(text: str) -> str:
    """A title as a prompt tag's attribute value: it cannot end the tag it is quoted in."""
    return html.escape(text, quote=True)


def text_hash(paper: Paper) -> str:
    """Identifies what is summarised: a changed title or abstract is a new text, so cached summaries go stale."""
    return hashlib.sha256(f"{paper.title}\n\n{paper.abstract}".encode()).hexdigest()[:20]
