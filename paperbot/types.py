"""Typed values shared by every layer: papers, chunks, hits, reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Literal

# The id the store records for the default embedder (all-MiniLM-L6-v2 through Chroma's ONNX function).
MINILM_ID = "chroma-onnx/all-MiniLM-L6-v2"


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

    def __post_init__(self) -> None:
        # Said now, before SQLite overflows on a 20-digit year or a reversed range quietly matches nothing.
        from paperbot.errors import FilterError

        for name in ("year_min", "year_max"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, int) and 0 <= value <= 9999):
                raise FilterError(f"--{name.replace('_', '-')} {value!r}: a year must be a whole number from 0 to 9999")
        if self.year_min is not None and self.year_max is not None and self.year_min > self.year_max:
            raise FilterError(f"--year-min {self.year_min} is after --year-max {self.year_max}: no year can match; "
                              "swap them")

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


# Why a checked LLM answer sentence carries its keys: the model's keys held ("cited"), a paper's key added to an
# uncited sentence ("attributed") or put in place of a wrong one ("corrected"), several papers fit equally and the
# model's keys were kept ("ambiguous", flagged), nothing supports it ("unsupported", flagged or dropped), or it
# states nothing checkable ("no claim": connectives, the abstention sentence). None: not checked (extractive).
SentenceOrigin = Literal["cited", "attributed", "corrected", "ambiguous", "unsupported", "no claim"]


@dataclass(frozen=True)
class SentenceSupport:
    """One answer sentence, the keys it cites, and how well the cited text supports it (0..1). After attribution
    `sentence` and `keys` are the checked ones (as in Answer.text) and `model_keys` what the model wrote."""

    sentence: str
    keys: tuple[str, ...]
    score: float
    supported: bool
    model_keys: tuple[str, ...] = ()
    origin: SentenceOrigin | None = None
    # "ambiguous": the papers that each clearly support it; "unsupported" and off_question: the paper the question is
    # not about that alone states it (its key was not put on)
    alternatives: tuple[str, ...] = ()
    dropped: bool = False  # left out of Answer.text (PAPERBOT_UNSUPPORTED=drop, PAPERBOT_OFF_QUESTION=drop)
    off_question: bool = False  # its papers are not what the question is about (attribution.question_focus)

    @property
    def attributed_keys(self) -> tuple[str, ...]:
        """Keys paperbot's check put on this sentence that the model did not write there."""
        return tuple(k for k in self.keys if k not in self.model_keys) if self.origin is not None else ()

    @property
    def only_off_question_paper(self) -> bool:
        """Flagged because only a paper the question is not about states it (`alternatives` names that paper)."""
        return self.origin == "unsupported" and bool(self.alternatives)


@dataclass(frozen=True)
class AttributionSummary:
    """What post-hoc attribution did to an LLM answer, and which keys came from the model and which from the check."""

    scorer: str  # the support scorer that decided ("lexical", ...)
    unsupported_policy: str  # "flag" or "drop" (PAPERBOT_UNSUPPORTED)
    cited: int = 0  # sentences whose own keys support them
    attributed: int = 0
    corrected: int = 0
    ambiguous: int = 0
    unsupported: int = 0
    dropped: int = 0
    off_question: int = 0  # supported sentences about papers the question is not about
    model_keys: tuple[str, ...] = ()  # keys the model cited (among those shown)
    attributed_keys: tuple[str, ...] = ()  # keys in the checked text that the model never cited
    removed_keys: tuple[str, ...] = ()  # keys the model cited that the checked text no longer has
    # The model declined although the abstention check found the papers answer (p(answerable) at or above
    # Settings.decline_fallback_threshold): the answer quotes the papers instead of the model's refusal.
    model_declined: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.attributed or self.corrected or self.dropped or self.model_declined)


@dataclass(frozen=True)
class TokenUsage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    estimated: bool = False  # counted with tiktoken because the server did not report usage

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: TokenUsage) -> TokenUsage:
        if not isinstance(other, TokenUsage):
            return NotImplemented
        return TokenUsage(self.prompt_tokens + other.prompt_tokens, self.completion_tokens + other.completion_tokens,
                          self.estimated or other.estimated)

    def __radd__(self, other: object) -> TokenUsage:
        # sum() starts from 0.
        return self if other == 0 else NotImplemented


@dataclass(frozen=True)
class AnswerTimings:
    retrieval_ms: float = 0.0
    first_token_ms: float | None = None
    total_ms: float = 0.0
    attribution_ms: float | None = None  # LLM answers: the post-hoc check, included in total_ms


class Mode(StrEnum):
    """An answer mode. Asked for: AUTO (LLM when an API or local model is configured, else EXTRACTIVE), LLM or
    EXTRACTIVE; what ran (Answer.mode and the summaries' mode): LLM or EXTRACTIVE. Its values are the strings the
    CLI, the app, Settings.answer_mode and JSON use, and compare equal to them."""

    AUTO = "auto"
    LLM = "llm"
    EXTRACTIVE = "extractive"



@dataclass(frozen=True)
class Answer:
    """An answer with everything needed to trust it: citations, support per sentence, the evidence shown, cost."""

    question: str
    text: str
    mode: Mode  # what ran: LLM or EXTRACTIVE
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
    raw_text: str | None = None  # an LLM answer as it streamed (unshown keys already removed); `text` is checked
    attribution: AttributionSummary | None = None  # LLM answers: what the post-hoc check changed
    # The LLM answer was stopped by a bound (PAPERBOT_MAX_ANSWER_SECONDS, or a size cap): `text` is what arrived
    # before it, kept only because it is marked so; cut_reason says which bound and what to do.
    truncated: bool = False
    cut_reason: str | None = None
    # The store answered in a degraded way (dense or keyword search only: an index missing or damaged), with what
    # to do; repeated on every answer until the store is repaired.
    store_warnings: tuple[str, ...] = ()
    support_scorer: str = "lexical"  # which scorer gave `sentences` their support ("learned-v1", "nli:<dir>", ...)
    # (key in this answer, key its source had in the prompt): answers number the papers they cite 1..n in order of
    # first use (paperbot.answer.numbering), so these differ from the prompt's (and `paperbot ask --dry-run`'s) keys.
    source_keys: tuple[tuple[str, str], ...] = ()

    @property
    def unsupported_sentences(self) -> tuple[SentenceSupport, ...]:
        """Cited sentences their papers do not support and, once attribution ran, every flagged sentence."""
        return tuple(s for s in self.sentences if not s.supported and (s.keys or s.origin is not None))

    def key_for(self, prompt_key: str) -> str:
        """The key this answer shows for a source the prompt (and `ask --dry-run`) called `prompt_key`."""
        return next((shown for shown, prompt in self.source_keys if prompt == prompt_key), prompt_key)

    def as_dict(self) -> dict:
        """The answer as JSON-ready data (`ask --json`, the app's API), derived fields included."""
        data = asdict(self)
        data["unsupported_sentences"] = [s.sentence for s in self.unsupported_sentences]
        data["usage"]["total_tokens"] = self.usage.total_tokens
        return data
