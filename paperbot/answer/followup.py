"""A follow-up question resolved against its conversation: the topic it continues, the sentences already given,
and which retrieved papers those came from (the papers in play)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from paperbot.answer.citations import answer_sentences
from paperbot.text.asks import topic_terms
from paperbot.types import Evidence

# Words that point back into the conversation ("How much faster is it?", "What about their memory?").
_REFERRING = re.compile(
    r"\b(it|its|it's|they|them|their|theirs|this|that|these|those|such|same|former|latter|"
    r"the (method|approach|paper|papers|model|models|technique|framework|system|one|ones|first|second|other))\b|"
    r"^\s*(and|also|but|so|what about|how about|why|how come)\b", re.IGNORECASE)
# A name: a capitalised word after the first ("Lookahead"), or one with capitals or digits inside ("KV", "H2O").
_NAME = re.compile(r"(?<=\s)[A-Z][\w-]*|\b\w*[a-z0-9][A-Z]\w*|\b[A-Z]{2,}\w*")
_KEY_GROUP = re.compile(r"\s*\[P\d+(?:,\s*P\d+)*\]")
MAX_TURNS_BACK = 3  # a chain of follow-ups reaches back this many questions for its topic


@dataclass(frozen=True)
class FollowUp:
    """`question` as asked; `topic` the earlier questions it continues ("" when it stands alone); `said` the
    sentences the last answer already gave (citation keys removed)."""

    question: str
    topic: str = ""
    said: tuple[str, ...] = ()

    @property
    def is_follow_up(self) -> bool:
        return bool(self.topic)

    @property
    def search_query(self) -> str:
        """What to search: the topic with the new question, so that "it" finds the papers it refers to."""
        return f"{self.topic} {self.question}" if self.topic else self.question

    def in_play(self, evidence: Sequence[Evidence]) -> set[str]:
        """Keys of the evidence the last answer quoted (its sentences stand verbatim in extractive answers)."""
        said = {_normal(s) for s in self.said}
        return {item.key for item in evidence if any(_normal(s) in said for s in item.sentences)}


def refers_back(question: str) -> bool:
    """True when the question cannot stand alone: it points back ("it", "these"), or says almost nothing itself and
    names nothing ("How much faster?", but not "Which company built Lookahead?")."""
    if _REFERRING.search(question):
        return True
    return len(topic_terms(question)) <= 1 and not _NAME.search(question)


def resolve(question: str, history: Sequence[dict[str, Any]]) -> FollowUp:
    """The follow-up `question` given OpenAI-style `history`; a question that stands alone keeps no topic."""
    asked = [str(m.get("content") or "") for m in history if m.get("role") == "user"]
    answered = [str(m.get("content") or "") for m in history if m.get("role") == "assistant"]
    if not asked or not refers_back(question):
        return FollowUp(question)
    topic = [asked[-1]]
    # A follow-up of a follow-up ("and the memory?") takes its topic from the question that started the chain.
    while len(topic) < MAX_TURNS_BACK and len(topic) < len(asked) and refers_back(topic[0]):
        topic.insert(0, asked[-len(topic) - 1])
    said = tuple(_KEY_GROUP.sub("", sentence).strip() for sentence, _ in answer_sentences(answered[-1])
                 ) if answered else ()
    return FollowUp(question, " ".join(topic), said)


def _normal(sentence: str) -> str:
    return " ".join(_KEY_GROUP.sub("", sentence).split()).casefold()
