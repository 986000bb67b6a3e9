"""paperbot: ingest paper abstracts, search them, and ask questions answered with citations."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from paperbot.bot import PaperBot
    from paperbot.config import Settings
    from paperbot.errors import (
        CorpusError, EmbedderMismatchError, ModelFileError, NoLLMError, PaperbotError, StoreError,
    )
    from paperbot.types import ChunkHit, IngestReport, Mode, Paper, PaperHit, SearchFilters, StoreStats

# Loaded on first use (PEP 562): `import paperbot.cli.commands` must not pay for Chroma, the model and the LLM client.
_HOMES = {
    "PaperBot": "paperbot.bot", "Settings": "paperbot.config",
    **dict.fromkeys(("CorpusError", "EmbedderMismatchError", "ModelFileError", "NoLLMError", "PaperbotError",
                     "StoreError"), "paperbot.errors"),
    **dict.fromkeys(("ChunkHit", "IngestReport", "Mode", "Paper", "PaperHit", "SearchFilters", "StoreStats"),
                    "paperbot.types"),
}

__all__ = [
    "ChunkHit", "CorpusError", "EmbedderMismatchError", "IngestReport", "Mode", "ModelFileError", "NoLLMError", "Paper",
    "PaperBot", "PaperHit", "PaperbotError", "SearchFilters", "Settings", "StoreError", "StoreStats",
]
__version__ = "0.1.0"


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'paperbot' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
