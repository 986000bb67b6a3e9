"""Answer settings chosen per browser tab (mode, model, k, temperature), with defaults from the bot's Settings."""

from __future__ import annotations

from dataclasses import dataclass, replace

from paperbot.bot import PaperBot
from paperbot.types import Mode


@dataclass(frozen=True)
class TabSettings:
    mode: Mode  # LLM or EXTRACTIVE, as PaperBot.resolve gives it
    model: str
    k: int
    temperature: float

    @classmethod
    def defaults(cls, bot: PaperBot) -> TabSettings:
        """The server's defaults; its mode resolved (LLM asked for and none configured: NoLLMError, at start-up)."""
        settings = bot.settings
        return cls(mode=bot.resolve()[0], model=settings.chat_model, k=settings.answer_k,
                   temperature=settings.temperature)

    def with_changes(self, mode: str | None, model: str | None, k: float | None, temperature: float | None,
                     *, llm_available: bool) -> TabSettings:
        """New settings from the widgets; a value that makes no sense keeps the previous one."""
        wanted_mode = Mode.LLM if mode == Mode.LLM and llm_available else Mode.EXTRACTIVE
        return replace(
            self, mode=wanted_mode, model=(model or "").strip() or self.model,
            k=int(k) if k is not None and 1 <= int(k) <= 50 else self.k,
            temperature=float(temperature) if temperature is not None and 0 <= float(temperature) <= 2
            else self.temperature,
        )
