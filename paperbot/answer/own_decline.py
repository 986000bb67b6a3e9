"""Whether a model's answer declines in its own words ("The papers do not answer this question."), not the sentinel's."""

from __future__ import annotations

import re

from paperbot.answer.citations import clean_keys
from paperbot.text.sentences import sentence_spans

# Small models asked to reply with the sentinel often paraphrase it, and often after a "No." they were told to lead a
# yes/no answer with. A sentence declines when it says something cannot be answered / is not stated and names what
# it was looking in or for; a claim about a paper ("X does not provide a speedup") names neither.
_VERDICT = re.compile(r"^\W*(?:yes|no|maybe)\b\W*", re.IGNORECASE)
_CANNOT = re.compile(
    r"\b(?:cannot|can ?not|can't|unable to|(?:does|do|did|is|are)(?: not|n't))\s+(?:be\s+)?"
    r"(?:answer(?:ed)?|determined?|tell|say|said|state[ds]?|mention(?:ed)?|provided?|contain(?:ed)?|include[ds]?|"
    r"find|found|address(?:ed)?|discuss(?:ed)?|specif(?:y|ied)|report(?:ed)?|give|given|available)\b", re.IGNORECASE)
_WHERE = re.compile(r"\b(?:question|sources?|papers?|provided|information|context|abstracts?|data)\b", re.IGNORECASE)


def declines_in_own_words(text: str, sentinel: str) -> bool:
    """True when every sentence of `text` (keys and a leading yes/no/maybe aside) is the sentinel or a paraphrase."""
    bare = _VERDICT.sub("", clean_keys(text, set())[0]).strip()
    sentences = [bare[start:end].strip() for start, end in sentence_spans(bare)]
    sentences = [s for s in sentences if s.strip(" .")]
    return bool(sentences) and all(
        s.casefold().startswith(sentinel.casefold()[:30]) or (_CANNOT.search(s) and _WHERE.search(s))
        for s in sentences)
