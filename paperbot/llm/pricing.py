"""Model prices and context windows: the packaged table, a user's file merged over it, and settings overrides."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from paperbot.config import Settings
from paperbot.errors import ConfigError

DEFAULT_CONTEXT_WINDOW = 8192  # for models we know nothing about: small enough for most local servers
_SECTIONS = ("chat", "embeddings")


@dataclass(frozen=True)
class ModelInfo:
    """One row of the price table; None where the table does not say."""

    name: str
    input_per_m: float | None
    output_per_m: float | None
    context_window: int | None


@dataclass(frozen=True)
class Price:
    """USD per 1M tokens for one model, and where the figures came from ("table", "settings" or a file path)."""

    model: str
    input_per_m: float
    output_per_m: float
    source: str


class Usage(Protocol):
    """What cost_usd needs of a token count (paperbot.llm.chat.TokenUsage has it)."""

    @property
    def prompt_tokens(self) -> int: ...

    @property
    def completion_tokens(self) -> int: ...


def _rows(table: dict[str, Any], origin: str) -> dict[str, ModelInfo]:
    rows: dict[str, ModelInfo] = {}
    for section in _SECTIONS:
        entries = table.get(section, {})
        if not isinstance(entries, dict):
            raise ConfigError(f"{origin}: {section!r} must map model names to {{input_per_m, output_per_m, ...}}")
        for name, entry in entries.items():
            try:
                rows[name] = ModelInfo(
                    name=name,
                    input_per_m=None if entry.get("input_per_m") is None else float(entry["input_per_m"]),
                    output_per_m=None if entry.get("output_per_m") is None else float(entry["output_per_m"]),
                    context_window=None if entry.get("context_window") is None else int(entry["context_window"]),
                )
            except (AttributeError, TypeError, ValueError) as exc:
                raise ConfigError(f"{origin}: bad entry for model {name!r}: {exc}") from None
    return rows


@lru_cache(maxsize=1)
def _packaged_table() -> dict[str, ModelInfo]:
    text = resources.files("paperbot").joinpath("data/prices.json").read_text(encoding="utf-8")
    return _rows(json.loads(text), "paperbot/data/prices.json")


@lru_cache(maxsize=4)
def _file_table(path: Path, mtime_ns: int, size: int) -> dict[str, ModelInfo]:
    # Modification time and size are part of the cache key so an edited file is read again.
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read prices file {path}: {exc.strerror or exc}") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"prices file {path} is not valid JSON: {exc}") from None
    if not isinstance(table, dict):
        raise ConfigError(f"prices file {path} must hold an object with 'chat' and/or 'embeddings'")
    return _rows(table, str(path))


def price_table(settings: Settings) -> dict[str, ModelInfo]:
    """Every known model: the packaged table with settings.prices_file's entries replacing or adding rows."""
    table = dict(_packaged_table())
    if settings.prices_file is not None:
        path = settings.prices_file
        try:
            stat = path.stat()
        except OSError as exc:
            raise ConfigError(f"cannot read prices file {path}: {exc.strerror or exc}") from None
        table.update(_file_table(path, stat.st_mtime_ns, stat.st_size))
    return table


def model_info(settings: Settings, model: str) -> ModelInfo | None:
    """The table row for `model`: an exact name, else the longest known name it extends with '-' (a dated or
    variant id such as gpt-4o-mini-2024-07-18). A provider prefix ('openai/gpt-4o') is ignored."""
    table = price_table(settings)
    name = model.strip().rsplit("/", 1)[-1]
    if name in table:
        return table[name]
    # Requiring the '-' boundary keeps 'o3' from claiming 'o30-something'; longest wins so
    # 'gpt-4o-mini-…' is gpt-4o-mini, not gpt-4o.
    matches = [known for known in table if name.startswith(known + "-")]
    return table[max(matches, key=len)] if matches else None


def price_for(settings: Settings, model: str) -> Price | None:
    """The price of `model`, None when unknown. For settings.chat_model, PAPERBOT_PRICE_*_PER_M win over the table."""
    info = model_info(settings, model)
    input_per_m = info.input_per_m if info else None
    output_per_m = info.output_per_m if info else None
    source = "table" if settings.prices_file is None else f"table+{settings.prices_file}"
    if model == settings.chat_model and (
        settings.price_input_per_m is not None or settings.price_output_per_m is not None
    ):
        if settings.price_input_per_m is not None:
            input_per_m = settings.price_input_per_m
        if settings.price_output_per_m is not None:
            output_per_m = settings.price_output_per_m
        source = "settings"
    if input_per_m is None or output_per_m is None:
        return None
    return Price(model=info.name if info else model, input_per_m=input_per_m, output_per_m=output_per_m, source=source)


def cost_usd(price: Price | None, usage: Usage) -> float | None:
    """Dollars for `usage` at `price`; None (unknown) when the price is unknown, never a made-up 0."""
    if price is None:
        return None
    return (usage.prompt_tokens * price.input_per_m + usage.completion_tokens * price.output_per_m) / 1_000_000


def context_window_for(settings: Settings, model: str) -> int:
    """Tokens the model takes (prompt and answer): settings.context_window for the chat model, else the table,
    else DEFAULT_CONTEXT_WINDOW."""
    if settings.context_window is not None and model == settings.chat_model:
        return settings.context_window
    info = model_info(settings, model)
    if info is not None and info.context_window is not None:
        return info.context_window
    return DEFAULT_CONTEXT_WINDOW


def prompt_limit(settings: Settings, model: str | None = None) -> int:
    """Prompt tokens allowed: PAPERBOT_MAX_PROMPT_TOKENS, within the context window minus the answer's share."""
    model = model or settings.chat_model
    window = context_window_for(settings, model)
    room = window - settings.max_answer_tokens
    if room < 1:
        raise ConfigError(
            f"model {model!r} has a context window of {window} tokens, no room for a prompt after "
            f"PAPERBOT_MAX_ANSWER_TOKENS={settings.max_answer_tokens}: lower it or set PAPERBOT_CONTEXT_WINDOW"
        )
    return min(settings.max_prompt_tokens, room)
