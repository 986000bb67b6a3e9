"""paperbot: ingest paper abstracts, search them, and ask questions answered with citations."""

from paperbot.bot import PaperBot
from paperbot.config import Settings
from paperbot.errors import CorpusError, EmbedderMismatchError, ModelFileError, PaperbotError, StoreError
from paperbot.types import ChunkHit, IngestReport, Paper, PaperHit, SearchFilters, StoreStats

__all__ = [
    "ChunkHit", "CorpusError", "EmbedderMismatchError", "IngestReport", "ModelFileError", "Paper", "PaperBot",
    "PaperHit", "PaperbotError", "SearchFilters", "Settings", "StoreError", "StoreStats",
]
__version__ = "0.1.0"
