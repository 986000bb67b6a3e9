"""Ask a chat model for JSON matching a pydantic model: the schema goes in response_format, the reply is validated,
and an invalid reply gets exactly one repair request that shows the model what was wrong."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from paperbot.config import Settings
from paperbot.errors import PaperbotError
from paperbot.llm.prompts import Prompt
from paperbot.ports import Chat
from paperbot.types import TokenUsage

M = TypeVar("M", bound=BaseModel)
Message = dict[str, Any]
_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


class InvalidModelOutput(PaperbotError):
    """The model's reply was not the JSON asked for, even after a repair request."""


@dataclass(frozen=True)
class StructuredConfig:
    """A summary's or comparison row's request, from Settings (their descriptions say what each does): build it with
    `from_settings`."""

    max_tokens: int  # per request
    temperature: float

    @classmethod
    def from_settings(cls, settings: Settings) -> StructuredConfig:
        return cls(max_tokens=settings.max_answer_tokens, temperature=settings.structured_temperature)


@dataclass(frozen=True)
class StructuredResult(Generic[M]):
    value: M
    usage: TokenUsage  # both requests when a repair was needed
    requests: int
    repaired: bool


def response_format(name: str, model: type[BaseModel]) -> dict[str, Any]:
    """OpenAI structured outputs; ChatModel steps down to json_object, then none, on servers that reject it."""
    return {"type": "json_schema", "json_schema": {"name": name, "strict": True, "schema": model.model_json_schema()}}


def _json_text(reply: str) -> str:
    """The JSON object in a reply: servers without JSON mode often fence it or add a sentence around it."""
    text = reply.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    if not text.startswith("{") and "{" in text and "}" in text:
        text = text[text.index("{") : text.rindex("}") + 1]
    return text


def describe_error(exc: ValidationError | ValueError) -> str:
    """A short, model-readable list of what is wrong (no echo of the whole reply)."""
    if isinstance(exc, ValidationError):
        problems = []
        for error in exc.errors(include_url=False, include_input=False):
            where = ".".join(str(part) for part in error["loc"]) or "reply"
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if error["loc"] else message)
        return "; ".join(problems)
    return str(exc)


def validate_reply(reply: str, model: type[M], context: dict[str, Any] | None = None) -> M:
    text = _json_text(reply)
    if not text:
        raise ValueError("the reply was empty; expected one JSON object")
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"the reply is not valid JSON ({exc.msg} at character {exc.pos})") from None
    return model.model_validate_json(text, context=context)


def complete_json(
    chat: Chat, messages: Sequence[Message], model: type[M], *, name: str, repair: Prompt, max_tokens: int,
    context: dict[str, Any] | None = None, temperature: float = 0.0,
) -> StructuredResult[M]:
    """One request, validated; if invalid, one repair request (the conversation plus the bad reply and the
    validation error). Raises InvalidModelOutput when the repair is invalid too; LLM errors pass through."""
    fmt = response_format(name, model)
    result = chat.complete(list(messages), max_tokens=max_tokens, temperature=temperature, response_format=fmt)
    usage = result.usage
    try:
        return StructuredResult(validate_reply(result.text, model, context), usage, 1, False)
    except (ValidationError, ValueError) as exc:
        first_error = describe_error(exc)
    if result.finish_reason == "length":
        first_error += f" (the reply was cut off at {max_tokens} tokens: be shorter)"
    retry = [*messages, {"role": "assistant", "content": result.text},
             {"role": "user", "content": repair.render(error=first_error)}]
    second = chat.complete(retry, max_tokens=max_tokens, temperature=temperature, response_format=fmt)
    usage = usage + second.usage
    try:
        return StructuredResult(validate_reply(second.text, model, context), usage, 2, True)
    except (ValidationError, ValueError) as exc:
        raise InvalidModelOutput(
            f"model {getattr(chat, 'model', '?')!r} did not return valid {name} JSON after one repair request "
            f"(first: {first_error[:300]}; then: {describe_error(exc)[:300]}); try a stronger model (--model) "
            "or --mode extractive"
        ) from None
