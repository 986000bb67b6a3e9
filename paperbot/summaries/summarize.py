"""Paper summary use case: a TL;DR plus problem, approach, results and limitations, each citing its abstract
sentences; extractive (TL;DR scorer and cue phrases) or by an LLM (JSON schema, validation, one repair), cached per
(text hash, generator, prompt version) so a second call makes no request."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, replace

from pydantic import BaseModel, ConfigDict, ValidationInfo, model_validator

from paperbot.errors import ConfigError
from paperbot.llm.tokens import count_messages
from paperbot.ports import LanguageTools
from paperbot.store.summary_cache import SummaryCache
from paperbot.summaries.numbered import attribute, numbered_sentences, render_numbered, text_hash
from paperbot.summaries.roles import ROLES_VERSION, assign_roles
from paperbot.summaries.structured import StructuredConfig, complete_json
from paperbot.summaries.tldr import TLDR_VERSION, best_sentence
from paperbot.summary_types import NOT_STATED, PaperSummary, SentenceRef, SummaryField, is_not_stated, summary_from_dict
from paperbot.text.numbers import unsupported_numbers
from paperbot.text.terms import Vocabulary
from paperbot.types import Mode, Paper, TokenUsage

SCHEMA_VERSION = "summary1"  # bump with LLMSummary: cached LLM summaries carry it
EXTRACTIVE_VERSION = f"{TLDR_VERSION}+{ROLES_VERSION}"


# --- extractive ---------------------------------------------------------------------------------------------------
def _quote(sentences: Sequence[SentenceRef], indices: Sequence[int]) -> SummaryField:
    if not indices:
        return SummaryField(NOT_STATED)
    picked = tuple(sentences[i] for i in indices)
    return SummaryField(" ".join(s.text for s in picked), picked)


def extractive_summary(paper: Paper, vocabulary: Vocabulary) -> PaperSummary:
    """Sentences quoted verbatim: the TL;DR scorer's best sentence, then each field by cue phrases and position.
    Needs no store: evals call it on Paper objects directly."""
    sentences = numbered_sentences(paper.abstract)
    tldr = best_sentence(paper.title, [s.text for s in sentences], vocabulary)
    roles = assign_roles(sentences, avoid=tldr if tldr >= 0 else None)
    return PaperSummary(
        paper_id=paper.id, title=paper.title, tldr=_quote(sentences, [tldr] if tldr >= 0 else []),
        problem=_quote(sentences, roles.problem), approach=_quote(sentences, roles.approach),
        results=tuple(_quote(sentences, [i]) for i in roles.results),
        limitations=_quote(sentences, roles.limitations), mode=Mode.EXTRACTIVE, model=None,
        prompt_version=EXTRACTIVE_VERSION, text_hash=text_hash(paper),
    )


# --- LLM ----------------------------------------------------------------------------------------------------------
class LLMField(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str
    sentences: list[int]


class LLMSummary(BaseModel):
    """The JSON the model must return; context {"n_sentences": N} makes every cited index checkable."""

    model_config = ConfigDict(extra="forbid")
    tldr: LLMField
    problem: LLMField
    approach: LLMField
    results: list[LLMField]
    limitations: LLMField

    def named(self) -> list[tuple[str, LLMField]]:
        return [("tldr", self.tldr), ("problem", self.problem), ("approach", self.approach),
                *((f"results.{i}", r) for i, r in enumerate(self.results)), ("limitations", self.limitations)]

    @model_validator(mode="after")
    def _cites_real_sentences(self, info: ValidationInfo) -> LLMSummary:
        n = (info.context or {}).get("n_sentences")
        problems = []
        for name, item in self.named():
            if n is not None and (bad := [i for i in item.sentences if not 0 <= i < n]):
                problems.append(f"{name}.sentences lists {bad}, but the abstract's sentences are numbered 0 to {n - 1}")
            if not is_not_stated(item.text) and not item.sentences:
                problems.append(f"{name} cites no sentence: list the sentence numbers it rests on, or write "
                                f"\"not stated\"")
        if is_not_stated(self.tldr.text):
            problems.append("tldr is empty or \"not stated\": every abstract has a TL;DR")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def _field(item: LLMField, sentences: Sequence[SentenceRef]) -> SummaryField:
    if is_not_stated(item.text):
        return SummaryField(NOT_STATED)
    return SummaryField(item.text.strip(), tuple(sentences[i] for i in dict.fromkeys(item.sentences)))


class Summarizer:
    """Summaries of single papers; collaborators are given (tools.chat None means extractive), the cache may be
    None."""

    def __init__(self, *, tools: LanguageTools, config: StructuredConfig, cache: SummaryCache | None = None) -> None:
        self._tools = tools
        self._config = config
        self._cache = cache

    @property
    def mode(self) -> Mode:
        return Mode.LLM if self._tools.chat is not None else Mode.EXTRACTIVE

    @property
    def generator(self) -> str:
        return f"llm:{self._tools.chat.model}" if self._tools.chat is not None else "extractive"

    @property
    def prompt_version(self) -> str:
        if self._tools.chat is None:
            return EXTRACTIVE_VERSION
        parts = [self._tools.prompts[name].version for name in ("structured_system", "summary", "repair")]
        return f"{SCHEMA_VERSION}-" + hashlib.sha256("+".join(parts).encode()).hexdigest()[:10]

    def summarize(self, paper: Paper) -> PaperSummary:
        """From the cache when this text was summarised the same way before; else computed, then cached. A failed
        LLM call raises before anything is cached."""
        key = (text_hash(paper), self.generator, self.prompt_version)
        if self._cache is not None:
            hit = self._cache.get(*key)
            if hit is not None:
                cached = summary_from_dict(hit)
                return replace(cached, paper_id=paper.id, title=paper.title, cached=True, usage=TokenUsage(),
                               cost_usd=0.0 if cached.mode == "llm" else None)
        tools = self._tools
        summary = self._llm(paper) if tools.chat is not None else extractive_summary(paper, tools.vocabulary())
        if self._cache is not None:
            self._cache.put(*key, paper.id, asdict(summary))
        return summary

    def messages(self, paper: Paper) -> list[dict[str, str]]:
        sentences = numbered_sentences(paper.abstract)
        prompts = self._tools.prompts
        user = prompts["summary"].render(title=attribute(paper.title), sentences=render_numbered(sentences),
                                         last_index=len(sentences) - 1)
        return [{"role": "system", "content": prompts["structured_system"].render()},
                {"role": "user", "content": user}]

    def _llm(self, paper: Paper) -> PaperSummary:
        sentences = numbered_sentences(paper.abstract)
        messages = self.messages(paper)
        tools = self._tools
        tokens = count_messages(messages, tools.counter)
        if tokens > tools.prompt_limit:
            # A summary of part of an abstract would pass for a summary of the paper: refuse instead.
            raise ConfigError(
                f"summarising {paper.id!r} needs {tokens} prompt tokens, over the budget of {tools.prompt_limit}: "
                "raise PAPERBOT_MAX_PROMPT_TOKENS (within the model's context window), or use --mode extractive")
        result = complete_json(tools.chat, messages, LLMSummary, name="paper_summary", repair=tools.prompts["repair"],
                               max_tokens=self._config.max_tokens, context={"n_sentences": len(sentences)},
                               temperature=self._config.temperature)
        value = result.value
        results = tuple(_field(r, sentences) for r in value.results if not is_not_stated(r.text))
        fields = [_field(value.tldr, sentences), _field(value.problem, sentences), _field(value.approach, sentences),
                  _field(value.limitations, sentences)]
        texts = [f.text for f in (*fields, *results) if f.stated]
        return PaperSummary(
            paper_id=paper.id, title=paper.title, tldr=fields[0], problem=fields[1], approach=fields[2],
            results=results, limitations=fields[3], mode=Mode.LLM, model=tools.chat.model,
            prompt_version=self.prompt_version, text_hash=text_hash(paper),
            unsupported_numbers=unsupported_numbers(texts, f"{paper.title}\n{paper.abstract}"),
            repaired=result.repaired, usage=result.usage, cost_usd=tools.cost(result.usage),
        )
