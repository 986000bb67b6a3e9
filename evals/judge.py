"""LLM judge of answers: correctness against a reference and faithfulness to the evidence shown, from a pinned prompt."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from paperbot.answer.evidence import render_sources
from paperbot.config import Settings
from paperbot.errors import PaperbotError
from paperbot.llm.pricing import cost_usd, price_for
from paperbot.llm.prompts import Prompt, load_prompt
from paperbot.ports import Chat
from paperbot.summaries.structured import describe_error, response_format
from paperbot.types import Answer, TokenUsage

M = TypeVar("M", bound=BaseModel)
NO_REFERENCE = "none"


class JudgeOutputError(PaperbotError):
    """The judge model's reply was not the JSON its prompt asks for; never repaired, so grades stay comparable."""


class Claim(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    claim: str
    supported: bool


class Verdict(BaseModel):
    """What prompts/judge.txt asks the judge to reply."""

    model_config = ConfigDict(extra="forbid", strict=True)
    claims: list[Claim]
    correctness: int = Field(ge=0, le=2)
    reason: str


def parse_reply(text: str, model: type[M], *, what: str, chat_model: str) -> M:
    """The reply as `model`, exactly: one JSON object, no fences, no extra or missing fields, no coercion."""
    try:
        return model.model_validate_json(text.strip())
    except ValidationError as exc:
        shown = text.strip().replace("\n", " ")
        raise JudgeOutputError(
            f"{what} model {chat_model!r} replied with something other than the JSON its prompt asks for: "
            f"{describe_error(exc)[:300]} (reply began {shown[:120]!r}); use a model that follows JSON "
            "instructions (PAPERBOT_JUDGE_MODEL)"
        ) from None


@dataclass(frozen=True)
class Grade:
    """One judged answer: correctness in 0..1 (None without a reference) and the share of claims supported."""

    correctness: float | None
    faithfulness: float | None  # None when the answer makes no claim
    claims: int
    reason: str
    usage: TokenUsage
    cost_usd: float | None
    ms: float


class Judge:
    """Grades answers with one chat model at temperature 0; the prompt's version is part of every report."""

    def __init__(self, chat: Chat, prompt: Prompt, settings: Settings, *, max_tokens: int = 600) -> None:
        self._chat = chat
        self._prompt = prompt
        self._price = price_for(settings, chat.model)
        self._max_tokens = max_tokens
        self.model: str = chat.model
        self.prompt_version = prompt.version

    @property
    def label(self) -> str:
        return f"judge: {self.model}"

    def grade(self, answer: Answer, reference: str | None) -> Grade:
        """Judge `answer` against the evidence it was given and, when there is one, the gold reference."""
        prompt = self._prompt.render(question=answer.question, sources=render_sources(answer.evidence),
                                     reference=reference or NO_REFERENCE, answer=answer.text)
        started = time.perf_counter()
        result = self._chat.complete([{"role": "user", "content": prompt}], max_tokens=self._max_tokens,
                                     temperature=0.0, response_format=response_format("judge_verdict", Verdict))
        ms = (time.perf_counter() - started) * 1e3
        verdict = parse_reply(result.text, Verdict, what="judge", chat_model=self.model)
        supported = sum(claim.supported for claim in verdict.claims)
        return Grade(
            correctness=verdict.correctness / 2 if reference else None,
            faithfulness=supported / len(verdict.claims) if verdict.claims else None,
            claims=len(verdict.claims), reason=verdict.reason, usage=result.usage,
            cost_usd=cost_usd(self._price, result.usage), ms=ms,
        )


def make_judge(settings: Settings) -> Judge | None:
    """The judge for these settings (PAPERBOT_JUDGE_MODEL, else the chat model), or None when no LLM is configured."""
    if not settings.llm_configured:
        return None
    from paperbot.llm.chat import ChatModel

    prompt = load_prompt("judge", settings.prompts_dir)
    return Judge(ChatModel(settings, settings.judge_model or settings.chat_model), prompt, settings)
