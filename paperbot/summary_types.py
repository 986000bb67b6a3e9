"""Typed results of summaries, themed digests and comparison tables, each claim tied to the abstract sentence it
rests on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from paperbot.types import Mode, SentenceSupport, TokenUsage

NOT_STATED = "not stated"  # what a field or cell says when the abstract is silent: never invented


@dataclass(frozen=True)
class SentenceRef:
    """One sentence of a paper's abstract: its 0-based position among the abstract's sentences, and its text."""

    index: int
    text: str


@dataclass(frozen=True)
class SummaryField:
    """One part of a summary and the abstract sentences it rests on; NOT_STATED with no sentences when none fit."""

    text: str
    sentences: tuple[SentenceRef, ...] = ()

    @property
    def stated(self) -> bool:
        return self.text != NOT_STATED


@dataclass(frozen=True)
class PaperSummary:
    """A TL;DR plus structured fields of one paper, each citing its sentences; numbers the paper never states are
    listed in `unsupported_numbers`."""

    paper_id: str
    title: str
    tldr: SummaryField
    problem: SummaryField
    approach: SummaryField
    results: tuple[SummaryField, ...]  # key results; empty when the abstract states none
    limitations: SummaryField
    mode: Mode
    model: str | None
    prompt_version: str  # which prompts (or extractive scorer) produced it: part of the cache key
    text_hash: str  # hash of the title and abstract summarised: part of the cache key
    unsupported_numbers: tuple[str, ...] = ()
    repaired: bool = False  # the model's first reply was invalid and a repair request fixed it
    cached: bool = False  # read from the summary cache: no request was made
    usage: TokenUsage = field(default_factory=TokenUsage)
    cost_usd: float | None = None  # None: unknown price, or extractive

    @property
    def fields(self) -> dict[str, SummaryField | tuple[SummaryField, ...]]:
        return {"tldr": self.tldr, "problem": self.problem, "approach": self.approach, "results": self.results,
                "limitations": self.limitations}


def _field_from(data: dict[str, Any]) -> SummaryField:
    return SummaryField(data["text"], tuple(SentenceRef(s["index"], s["text"]) for s in data["sentences"]))


def summary_from_dict(data: dict[str, Any]) -> PaperSummary:
    """The inverse of dataclasses.asdict for a PaperSummary (the summary cache stores JSON)."""
    return PaperSummary(
        paper_id=data["paper_id"], title=data["title"], tldr=_field_from(data["tldr"]),
        problem=_field_from(data["problem"]), approach=_field_from(data["approach"]),
        results=tuple(_field_from(r) for r in data["results"]), limitations=_field_from(data["limitations"]),
        mode=Mode(data["mode"]), model=data["model"], prompt_version=data["prompt_version"],
        text_hash=data["text_hash"],
        unsupported_numbers=tuple(data.get("unsupported_numbers", ())), repaired=data.get("repaired", False),
        cached=data.get("cached", False), usage=TokenUsage(**data.get("usage", {})), cost_usd=data.get("cost_usd"),
    )


# --- digests ------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DigestPaper:
    """A paper of a digest under the key its paragraphs cite."""

    key: str  # "P1", "P2", ...
    paper_id: str
    title: str
    year: int | None
    url: str | None


@dataclass(frozen=True)
class CitedSentence:
    """A sentence quoted in a digest paragraph, and where it stands in the cited paper's abstract."""

    key: str
    paper_id: str
    sentence: SentenceRef


@dataclass(frozen=True)
class Theme:
    """A group of similar papers: a name, its distinctive keywords, a short cited paragraph, and its papers."""

    name: str
    keywords: tuple[str, ...]
    paragraph: str  # sentences ending in [P#] keys of this theme's papers
    paper_keys: tuple[str, ...]
    cited: tuple[CitedSentence, ...] = ()  # extractive mode: every quoted sentence, locatable in its paper
    support: tuple[SentenceSupport, ...] = ()  # each paragraph sentence scored against the papers it cites
    invalid_keys_removed: int = 0  # LLM mode: keys the model cited that are not this theme's papers


DigestStep = Literal["theme", "map", "reduce"]


@dataclass(frozen=True)
class PlannedCall:
    """One LLM call of a digest. A `theme` call writes a whole theme; `map` calls write partial summaries of a
    theme too large for one prompt, and `reduce` calls merge them."""

    step: DigestStep
    theme: int  # index into Digest.themes
    papers: tuple[str, ...]  # keys shown (map/theme) or covered (reduce)
    prompt_tokens: int  # exact for theme and map calls; an upper bound for reduce calls (their input is model output)
    max_output_tokens: int


@dataclass(frozen=True)
class DigestPlan:
    """What a digest will cost before it runs: every call, its prompt tokens against the budget, and the price."""

    mode: Mode
    model: str | None
    prompt_limit: int
    papers: int
    themes: int
    calls: tuple[PlannedCall, ...]
    estimated_cost_usd: float | None  # at most: every call's prompt plus its whole output allowance; None: unknown

    @property
    def prompt_tokens(self) -> int:
        return sum(c.prompt_tokens for c in self.calls)

    @property
    def max_output_tokens(self) -> int:
        return sum(c.max_output_tokens for c in self.calls)


@dataclass(frozen=True)
class Digest:
    """Papers grouped into themes, each with a cited paragraph; every paper is in exactly one theme."""

    query: str | None
    papers: tuple[DigestPaper, ...]
    themes: tuple[Theme, ...]
    mode: Mode
    model: str | None
    plan: DigestPlan
    requests: int = 0  # LLM requests made, repairs included
    usage: TokenUsage = field(default_factory=TokenUsage)
    cost_usd: float | None = None

    def paper(self, key: str) -> DigestPaper:
        return next(p for p in self.papers if p.key == key)


# --- comparisons --------------------------------------------------------------------------------------------------
DEFAULT_ASPECTS = ("task", "approach", "efficiency gain", "hardware or setting", "evaluation")


@dataclass(frozen=True)
class CompareCell:
    """One aspect of one paper: a short phrase and the sentence it comes from, or NOT_STATED and no sentence."""

    aspect: str
    text: str
    sentence: SentenceRef | None = None

    @property
    def stated(self) -> bool:
        return self.sentence is not None and self.text != NOT_STATED


@dataclass(frozen=True)
class CompareRow:
    paper_id: str
    title: str
    cells: tuple[CompareCell, ...]  # one per aspect, in the comparison's aspect order

    def cell(self, aspect: str) -> CompareCell:
        return next(c for c in self.cells if c.aspect == aspect)


@dataclass(frozen=True)
class Comparison:
    """A table with one row per paper and one column per aspect; every filled cell cites a sentence of its paper."""

    aspects: tuple[str, ...]
    rows: tuple[CompareRow, ...]
    mode: Mode
    model: str | None
    rejected_cells: int = 0  # LLM cells whose cited sentence did not exist or did not support them: now NOT_STATED
    requests: int = 0
    usage: TokenUsage = field(default_factory=TokenUsage)
    cost_usd: float | None = None


def is_not_stated(text: str) -> bool:
    """A model's way of saying a field is not in the abstract ("Not stated.", "n/a", empty)."""
    return text.strip().strip(".").strip().casefold() in {"not stated", "", "n/a", "none"}
