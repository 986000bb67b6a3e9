"""Answer settings chosen per browser tab (mode, model, k, temperature), with defaults from the bot's Settings."""

from __future__ import annotations

from dataclasses import dataclass, replace

from paperbot.config import Settings
from paperbot.types import AnswerMode


@dataclass(frozen=True)
class TabSettings:
    mode: AnswerMode
    model: str
    k: int
    temperature: float

    @classmethod
    def defaults(cls, settings: Settings) -> TabSettings:
        llm = settings.llm_configured and settings.answer_mode != "extractive"
        return cls(mode="llm" if llm else "extractive", model=settings.chat_model, k=settings.answer_k,
                   temperature=settings.temperature)

    def with_changes(self, mode: str | None, model: str | None, k: float | None, temperature: float | None,
                     *, llm_available: bool) -> TabSettings:
        """New settings from the widgets; a value that makes no sense keeps the previous one."""
        wanted_mode: AnswerMode = "llm" if mode == "llm" and llm_available else "extractive"
        return replace(
            self, mode=wanted_mode, model=(model or "").strip() or self.model,
            k=int(k) if k is not None and 1 <= int(k) <= 50 else self.k,
            temperature=float(temperature) if temperature is not None and 0 <= float(temperature) <= 2
            else self.temperature,
        )
