"""Sentence boundaries with character spans (nupunkt's Punkt model), robust to 'e.g.', 'et al.', '3.5x' and 'Fig. 2'."""

from __future__ import annotations

import nupunkt


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence in `text`, surrounding spaces excluded, in order."""
    spans: list[tuple[int, int]] = []
    for start, end in nupunkt.sent_spans(text):
        piece = text[start:end]
        left = len(piece) - len(piece.lstrip())
        right = len(piece.rstrip())
        if right > left:
            spans.append((start + left, start + right))
    return spans
