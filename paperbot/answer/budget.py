"""Token budgets for prompts: count chat messages, and fit ranked evidence and history under a limit."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, NamedTuple, TypeVar

from paperbot.errors import PaperbotError
from paperbot.llm.tokens import content_texts, count_messages
from paperbot.ports import TokenCounter

log = logging.getLogger(__name__)

E = TypeVar("E")
Message = dict[str, Any]

# Candidates are judged by characters before tokens: the text added or removed since the last exact count is
# assumed to cost between 1/_RATE_SPREAD and _RATE_SPREAD times the prompt's average tokens per character
# (English prose varies far less), and joining texts may merge or split up to _JOIN_TOKENS tokens.
_RATE_SPREAD = 1.25
_JOIN_TOKENS = 4


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


def _chars(messages: Sequence[Message]) -> int:
    return sum(len(text) for message in messages for text in content_texts(message))


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
    the question with the items); `shrink(item)` returns the item with one whole sentence removed (which one is
    the caller's choice), or None when nothing would be left, so this module never cuts a sentence itself.

    Order of sacrifice: the oldest history turns go first, but only until the best `min_evidence` items fit
    whole (an answer needs evidence more than old turns); then the longest prefix of the evidence that fits is
    kept, and the next item is shrunk sentence by sentence until it fits or is dropped with everything ranked
    below it. Raises PromptTooLong when even no evidence and no history exceed the limit.

    Cost: one exact count of the prompt without evidence, one with the best item, then a few near the answer;
    the others are ruled out by length (about 2 ms for ten demo abstracts under a 1,500-token limit).
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
    if not items:
        return FittedPrompt(bare, [], bare_tokens)

    # Exact counts cost ~0.3 ms per 1,000 tokens, so candidates are first judged from their length in
    # characters against the last exact count (the anchor); only those that may fit are counted.
    sample = render(items[:1], kept_history)
    anchor_tokens, anchor_chars = tokens(sample), _chars(sample)
    rate = anchor_tokens / max(1, anchor_chars)

    def may_fit(messages: list[Message]) -> bool:
        """False when over the limit even if the text that differs from the anchor is unusually cheap
        (when added) or dense (when removed)."""
        change = (_chars(messages) - anchor_chars) * rate
        lowest = anchor_tokens + (change / _RATE_SPREAD if change > 0 else change * _RATE_SPREAD)
        return lowest - _JOIN_TOKENS <= limit

    def exact_fit(candidate: list[E]) -> FittedPrompt[E] | None:
        nonlocal anchor_tokens, anchor_chars, rate
        if not candidate:
            return FittedPrompt(bare, [], bare_tokens)
        messages = render(candidate, kept_history)
        if not may_fit(messages):
            return None
        used = tokens(messages)
        anchor_tokens, anchor_chars = used, _chars(messages)
        rate = used / max(1, anchor_chars)
        return FittedPrompt(messages, candidate, used) if used <= limit else None

    # Jump to the longest prefix that might fit, then walk down the candidates in order of preference.
    low, high = 0, len(items)
    while low < high:
        middle = (low + high + 1) // 2
        if may_fit(render(items[:middle], kept_history)):
            low = middle
        else:
            high = middle - 1
    for candidate in _less_and_less(items, low, shrink):
        fitted = exact_fit(candidate)
        if fitted is not None:
            return fitted
    raise AssertionError("unreachable: the empty candidate always fits")


def _less_and_less(items: list[E], start: int, shrink: Callable[[E], E | None]) -> Iterator[list[E]]:
    """Evidence lists in order of preference from just below items[:start + 1]: each prefix is preceded by
    the same prefix plus the next item shrunk sentence by sentence, so the lowest-ranked evidence goes first."""
    if start == len(items):
        yield items
    for size in range(min(start, len(items) - 1), -1, -1):
        partial = shrink(items[size])
        while partial is not None:
            yield [*items[:size], partial]
            partial = shrink(partial)
        yield items[:size]
