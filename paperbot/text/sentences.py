"""Sentence boundaries with character spans (nupunkt's Punkt model), robust to 'e.g.', 'et al.', '3.5x' and 'Fig. 2'."""

from __future__ import annotations

import nupunkt

# No real sentence is this long (256 word pieces, the embedder's limit, are about 1,200 characters). A longer run
# of text without a full stop is cut at spaces here, so whatever splits it further (the chunker's search for the
# longest piece that fits) works on bounded pieces and the cost stays linear in the text's length: a 372 KB
# abstract without a full stop took 66 s to chunk before (evals/results/hostile-files.md).
MAX_SENTENCE_CHARS = 2000


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence in `text`, surrounding spaces excluded, in order; none is longer than
    MAX_SENTENCE_CHARS (a longer one is cut at its last space before the cap, or at the cap when it has none)."""
    spans: list[tuple[int, int]] = []
    for start, end in nupunkt.sent_spans(text):
        piece = text[start:end]
        left = len(piece) - len(piece.lstrip())
        right = len(piece.rstrip())
        if right > left:
            spans.extend(_capped(text, start + left, start + right))
    return spans


def _capped(text: str, start: int, end: int) -> list[tuple[int, int]]:
    pieces = []
    while end - start > MAX_SENTENCE_CHARS:
        limit = start + MAX_SENTENCE_CHARS
        cut = max(text.rfind(" ", start + 1, limit), text.rfind("\n", start + 1, limit), text.rfind("\t", start + 1, limit))
        if cut <= start:
            cut = limit
        stop = cut
        while stop > start and text[stop - 1].isspace():
            stop -= 1
        pieces.append((start, stop))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        pieces.append((start, end))
    return pieces
