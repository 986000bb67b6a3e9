"""Typed values shared by every layer: papers, chunks, hits, reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Paper:
    """One paper as the loaders produce it and the store keeps it."""

    id: str
    title: str
    abstract: str
    authors: tuple[str, ...] = ()
    year: int | None = None
    date: str | None = None  # ISO date when the source gives one
    url: str | None = None
    arxiv_id: str | None = None
    doi: str | None = None
    source: str = ""  # "path:line" or "path#record" the paper was read from
    body: str | None = None  # full text (PDF); not chunked for retrieval yet


@dataclass(frozen=True)
class Chunk:
    """A sentence-aligned slice of a paper's abstract, sized for the embedder."""

    id: str  # "<paper id>#<index>"
    paper_id: str
    title: str
    index: int
    text: str  # the abstract slice, without the title prefix
    char_start: int
    char_end: int
    embed_tokens: int  # embedder word pieces of title prefix + text, special tokens included
    tiktoken_tokens: int

    @property
    def embed_text(self) -> str:
        """What the embedder sees: the title gives every chunk its paper's context."""
        return f"{self.title}\n\n{self.text}"


@dataclass(frozen=True)
class ChunkHit:
    """One matching chunk of a paper, with the ranks it got from each retriever."""

    chunk_id: str
    index: int
    text: str
    char_start: int
    char_end: int
    dense_rank: int | None = None
    lexical_rank: int | None = None
    dense_score: float | None = None
    lexical_score: float | None = None


@dataclass(frozen=True)
class PaperHit:
    """A paper returned by search: fused score, best chunk first, all matching chunks kept."""

    rank: int
    paper_id: str
    title: str
    score: float
    year: int | None
    authors: tuple[str, ...]
    url: str | None
    chunks: tuple[ChunkHit, ...]

    @property
    def best_chunk(self) -> ChunkHit:
        return self.chunks[0]


@dataclass(frozen=True)
class SearchFilters:
    """Restrictions on which papers a search may return."""

    year_min: int | None = None
    year_max: int | None = None
    authors: tuple[str, ...] = ()  # case-insensitive substring match on any author
    paper_ids: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return self.year_min is None and self.year_max is None and not self.authors and not self.paper_ids


RetrievalMode = Literal["hybrid", "dense", "lexical"]


@dataclass(frozen=True)
class SkippedRecord:
    """A record that could not be ingested, with where it was and why."""

    source: str
    reason: str


@dataclass
class IngestReport:
    """What one ingest did, paper by paper."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    merged: list[str] = field(default_factory=list)  # ids seen more than once in this batch
    skipped: list[SkippedRecord] = field(default_factory=list)
    chunks_written: int = 0
    seconds: float = 0.0

    @property
    def papers_seen(self) -> int:
        return len(self.added) + len(self.updated) + len(self.unchanged)


@dataclass(frozen=True)
class StoreStats:
    """Sizes and provenance of a store."""

    location: str
    collection: str
    papers: int
    chunks: int
    lexical_chunks: int
    embedder: str
    chunker: str
    years: tuple[int, int] | None


@dataclass(frozen=True)
class Evidence:
    """What the model is shown of one paper: whole sentences from its matching chunks, under a short citation key."""

    key: str  # "P1", "P2", ...: what answers cite
    paper_id: str
    title: str
    url: str | None
    year: int | None
    sentences: tuple[str, ...]  # whole sentences, in the order they stand in the abstract
    rank: int
    retrieval_score: float

    @property
    def text(self) -> str:
        return " ".join(self.sentences)


@dataclass(frozen=True)
class Citation:
    """A cited paper, in the order it is first cited."""

    key: str
    paper_id: str
    title: str
    url: str | None
    year: int | None


@dataclass(frozen=True)
class SentenceSupport:
    """One answer sentence, the keys it cites, and how well the cited text supports it (0..1)."""

    sentence: str
    keys: tuple[str, ...]
    score: float
    supported: bool


@dataclass(frozen=True)
class TokenUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False  # counted with tiktoken because the server did not report usage

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class AnswerTimings:
    retrieval_ms: float = 0.0
    first_token_ms: float | None = None
    total_ms: float = 0.0


AnswerMode = Literal["llm", "extractive"]


@dataclass(frozen=True)
class Answer:
    """An answer with everything needed to trust it: citations, support per sentence, the evidence shown, cost."""

    question: str
    text: str
    mode: AnswerMode
    model: str | None  # the chat model, or None in extractive mode
    search_query: str  # the question as searched (follow-ups are condensed into a standalone query)
    citations: tuple[Citation, ...]
    sentences: tuple[SentenceSupport, ...]
    evidence: tuple[Evidence, ...]
    abstained: bool
    invalid_keys_removed: int = 0
    usage: TokenUsage = field(default_factory=TokenUsage)
    cost_usd: float | None = None  # None: unknown price (never a guessed 0)
    timings: AnswerTimings = field(default_factory=AnswerTimings)
    nearest_papers: tuple[Citation, ...] = ()  # shown when abstaining
    question_truncated: bool = False  # the question was cut to Settings.max_question_chars before answering
    instructions_leaked: bool = False  # the LLM repeated its system prompt: a source likely held an injection

    @property
    def unsupported_sentences(self) -> tuple[SentenceSupport, ...]:
        return tuple(s for s in self.sentences if s.keys and not s.supported)
