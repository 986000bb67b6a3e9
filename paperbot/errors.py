"""Error types: each says what went wrong, where, and what to do about it."""

from __future__ import annotations


class PaperbotError(Exception):
    """Base of every error paperbot raises on purpose."""


class ConfigError(PaperbotError):
    """A setting is missing or wrong."""


class NoLLMError(ConfigError):
    """LLM mode was asked for, but no language model is configured: the one error for it, raised by
    PaperBot.resolve before anything runs."""

    def __init__(self) -> None:
        super().__init__(
            "LLM mode needs a language model: set OPENAI_API_KEY and/or OPENAI_BASE_URL (an OpenAI-compatible API), or "
            "PAPERBOT_LOCAL_MODEL (a GGUF file) or PAPERBOT_LOCAL_BASE_URL (a served local model); or use mode "
            "extractive, or auto (LLM when one is configured)")


class ModelFileError(PaperbotError):
    """A model file is missing or does not match its pinned checksum."""


class CorpusError(PaperbotError):
    """A corpus file or record cannot be read; names the file, the line or record, and the problem."""

    def __init__(self, source: str, problem: str, hint: str = "") -> None:
        self.source = source
        self.problem = problem
        self.hint = hint
        message = f"{source}: {problem}"
        if hint:
            message += f" ({hint})"
        super().__init__(message)


class StoreError(PaperbotError):
    """The store cannot be opened or used."""


class EmbedderMismatchError(StoreError):
    """The store was built with another embedder or chunker than the one configured."""


class QuestionError(PaperbotError):
    """A question that cannot be asked: empty, or nothing left once control characters are removed."""


class PaperNotFoundError(PaperbotError):
    """No paper has the id asked for."""


class FilterError(PaperbotError):
    """Search filters that cannot match anything sensible: a year out of range, or year_min after year_max."""


class AnswerCut(PaperbotError):
    """An answer stopped by one of paperbot's own bounds (time or size); `partial_text` is the valid text that
    arrived before the cut ("" if none), kept by a caller only if it marks the answer as cut."""

    reason = "cut"

    def __init__(self, message: str, *, partial_text: str = "") -> None:
        super().__init__(message)
        self.partial_text = partial_text
