"""Whether a sentence quoted on its own makes sense: it does not lean on what came before it in its abstract."""

from __future__ import annotations

import re

# Opening words that refer back ("This approach...", "Such models...", "It achieves...", "Within this framework...",
# "To address these issues..."); "In this paper" and "This work" name the paper itself, which a citation supplies.
_LEANS_BACK = re.compile(
    r"^\W*(?:(?:\w+\s+){0,3}(?:this|these|those|such|the above|the former|the latter|said)\b(?!\s+(?:paper|work|"
    r"study|article|survey|report|letter|thesis|position paper)\b)|(?:it|its|they|them|their|he|she|both|"
    r"the latter|the former|further|furthermore|moreover|additionally|also|then|thus|hence|therefore|"
    r"consequently|however|besides|finally|second|secondly|third|lastly)\b)", re.IGNORECASE)
# References that point at something the sentence does not say: the aforementioned, the above, Fig. 2, Table 1.
_DANGLING = re.compile(r"\b(?:aforementioned|above-mentioned|the above|(?:fig(?:ure)?|table|eq(?:uation)?|"
                       r"section|sec)\.?\s*\d)", re.IGNORECASE)


def self_contained(sentence: str) -> bool:
    """True when the sentence neither opens by pointing back nor cites a figure, table or 'the above'."""
    return not (_LEANS_BACK.search(sentence) or _DANGLING.search(sentence))
