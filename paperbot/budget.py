"""Token budgets for prompts: count chat messages, and fit ranked evidence and history under a limit."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Generic, NamedTuple, TypeVar

from paperbot.config import Settings
from paperbot.errors import ConfigError, PaperbotError
from paperbot.ports import TokenCounter
from paperbot.pricing import context_window_for

log = logging.getLogger(__name__)

E = TypeVar("E")
Message = dict[str, Any]

# OpenAI's accounting for chat models: every message is wrapped in 3 tokens (<|start|>role ... <|end|>),
# a "name" field costs one more, and the reply is primed with 3 (<|start|>assistant<|message|>).
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3

# Token estimates from character counts only choose which candidate to count exactly first; a candidate
# estimated this far over the limit is not worth an exact count.
_ESTIMATE_SLACK = 1.10


class PromptTooLong(PaperbotError):
    """The question (with the fixed parts of the prompt) alone exceeds the prompt budget."""

    def __init__(self, tokens: int, limit: int) -> None:
        self.tokens, self.limit = tokens, limit
        super().__init__(
            f"the question alone needs {tokens} prompt tokens, over the budget of {limit}: shorten it, or raise "
            "PAPERBOT_MAX_PROMPT_TOKENS (within the model's context window minus PAPERBOT_MAX_ANSWER_TOKENS)"
        )


class FittedPrompt(NamedTuple, Generic[E]):
    """What fit_evidence settled on; unpacks as (messages, evidence, tokens)."""

    messages: list[Message]
    evidence: list[E]
    tokens: int


def _content_texts(message: Message) -> list[str]:
    content = message.get("content")
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):  # multi-part content: only text parts cost text tokens
        return [part.get("text", "") for part in content if isinstance(part, dict)]
    return []


def count_messages(messages: Sequence[Message], counter: TokenCounter) -> int:
    """Prompt tokens of `messages` as OpenAI counts them: text of role, name and content, plus the overheads."""
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        total += TOKENS_PER_MESSAGE + counter.count(str(message.get("role", "")))
        if message.get("name"):
            total += TOKENS_PER_NAME + counter.count(str(message["name"]))
        total += sum(counter.count(text) for text in _content_texts(message))
    return total


def _chars(messages: Sequence[Message]) -> int:
    return sum(len(text) for message in messages for text in _content_texts(message))


class _MemoCounter:
    """Counts each distinct text once per fit: the system prompt and history repeat in every candidate."""

    def __init__(self, counter: TokenCounter) -> None:
        self._counter = counter
        self._seen: dict[str, int] = {}
        self.encoding_name = counter.encoding_name

    def count(self, text: str) -> int:
        found = self._seen.get(text)
        if found is None:
            found = self._seen[text] = self._counter.count(text)
        return found


def drop_oldest_turn(history: Sequence[Message]) -> list[Message]:
    """`history` without its first turn: everything before the second user message (all of it if none)."""
    for index in range(1, len(history)):
        if history[index].get("role") == "user":
            return list(history[index:])
    return []


def fit_evidence(
    render: Callable[[list[E], list[Message]], list[Message]],
    evidence: Sequence[E],
    counter: TokenCounter,
    limit: int,
    shrink: Callable[[E], E | None],
    *,
    history: Sequence[Message] = (),
    min_evidence: int = 1,
) -> FittedPrompt[E]:
    """The messages of `render(evidence, history)` cut down until they fit `limit` prompt tokens.

    `evidence` is ranked best first; `render(items, history)` builds the whole prompt (system, history turns,
    the question with the items); `shrink(item)` returns the item with its last whole sentence removed, or None
    when nothing would be left, so this module never cuts a sentence itself.

    Order of sacrifice: the oldest history turns go first, but only until the best `min_evidence` items fit
    whole (an answer needs evidence more than old turns); then the longest prefix of the evidence that fits is
    kept, and the next item is shrunk sentence by sentence until it fits or is dropped with everything ranked
    below it. Raises PromptTooLong when even no evidence and no history exceed the limit.
    """
    items = list(evidence)
    memo = _MemoCounter(counter)

    def tokens(messages: list[Message]) -> int:
        return count_messages(messages, memo)

    kept_history = list(history)
    floor = items[:min_evidence]
    while kept_history and tokens(render(floor, kept_history)) > limit:
        kept_history = drop_oldest_turn(kept_history)
    if len(kept_history) < len(history):
        log.debug("prompt budget: dropped %d old history messages", len(history) - len(kept_history))

    bare = render([], kept_history)
    bare_tokens = tokens(bare)
    if bare_tokens > limit:
        raise PromptTooLong(bare_tokens, limit)

    full = render(items, kept_history)
    full_tokens = tokens(full)
    if full_tokens <= limit:
        return FittedPrompt(full, items, full_tokens)

    tokens_per_char = full_tokens / max(1, _chars(full))

    def estimate(messages: list[Message]) -> float:
        return _chars(messages) * tokens_per_char

    # Longest prefix that fits: the estimate picks where to start, exact counts walk from there.
    candidates = [render(items[:size], kept_history) for size in range(len(items))]
    size = max((n for n in range(len(items)) if estimate(candidates[n]) <= limit), default=0)
    best = (size, tokens(candidates[size])) if size else (0, bare_tokens)
    if best[1] <= limit:
        while best[0] + 1 < len(items):
            grown = tokens(candidates[best[0] + 1])
            if grown > limit:
                break
            best = (best[0] + 1, grown)
    else:
        while best[1] > limit:  # best[0] > 0 here: the empty prefix fits
            best = (best[0] - 1, tokens(candidates[best[0] - 1]) if best[0] > 1 else bare_tokens)
    size, used = best
    kept = items[:size]
    messages = candidates[size] if size else bare

    # The first item that did not fit whole: keep as many of its leading sentences as fit.
    partial = shrink(items[size])
    while partial is not None:
        attempt = render([*kept, partial], kept_history)
        if estimate(attempt) <= limit * _ESTIMATE_SLACK:
            attempt_tokens = tokens(attempt)
            if attempt_tokens <= limit:
                return FittedPrompt(attempt, [*kept, partial], attempt_tokens)
        partial = shrink(partial)
    return FittedPrompt(messages, kept, used)


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
