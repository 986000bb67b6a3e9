"""PubMedQA's yes/no/maybe decision: the answering model turns its own cited answer into one word, from a pinned prompt."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict

from evals.judge import parse_reply
from paperbot.answer.evidence import render_sources
from paperbot.llm.prompts import Prompt
from paperbot.ports import Chat
from paperbot.summaries.structured import response_format
from paperbot.types import Answer, TokenUsage

LABELS = ("yes", "no", "maybe")


class DecisionReply(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    decision: Literal["yes", "no", "maybe"]


@dataclass(frozen=True)
class Decision:
    label: str
    usage: TokenUsage


# The answer's own verdict: its first word, when the answering prompt asked it to lead with one (compact prompt).
_LEADING = re.compile(r"^\W*(yes|no|maybe)\b", re.IGNORECASE)


def stated(answer: Answer) -> str | None:
    """The decision the model's raw answer leads with ("Yes. ..."), or None when it does not lead with one."""
    if answer.abstained:
        return None
    match = _LEADING.match(answer.raw_text or answer.text)
    return match.group(1).casefold() if match else None


def decide(chat: Chat, prompt: Prompt, answer: Answer, *, max_tokens: int = 20) -> Decision:
    """One temperature-0 call; an abstained answer is "maybe" without a call (the papers did not settle it)."""
    if answer.abstained:
        return Decision("maybe", TokenUsage())
    text = prompt.render(question=answer.question, sources=render_sources(answer.evidence), answer=answer.text)
    result = chat.complete([{"role": "user", "content": text}], max_tokens=max_tokens, temperature=0.0,
                           response_format=response_format("decision", DecisionReply))
    reply = parse_reply(result.text, DecisionReply, what="decision", chat_model=chat.model)
    return Decision(reply.decision, result.usage)
