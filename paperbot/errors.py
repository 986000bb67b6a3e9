"""Error types: each says what went wrong, where, and what to do about it."""

from __future__ import annotations


class PaperbotError(Exception):
    """Base of every error paperbot raises on purpose."""


class ConfigError(PaperbotError):
    """A setting is missing or wrong."""


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
