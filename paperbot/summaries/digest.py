"""Digest use case: papers grouped into themes by their embeddings, each theme named and given a short cited
paragraph; extractive (c-TF-IDF names, quoted sentences) or by an LLM through a map-reduce plan in which every
call fits the prompt budget, however many papers there are; the plan and its cost are known before any call."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationInfo, model_validator

from paperbot.answer.citations import cited_keys, clean_keys, support
from paperbot.answer.evidence import drop_least_relevant_sentence, render_sources
from paperbot.config import Settings
from paperbot.errors import ConfigError, NoLLMError
from paperbot.llm.tokens import count_messages
from paperbot.ports import LanguageTools
from paperbot.summaries.clustering import by_centrality, cluster
from paperbot.summaries.keywords import theme_keywords
from paperbot.summaries.numbered import numbered_sentences
from paperbot.summaries.structured import complete_json
from paperbot.summaries.tldr import sentence_scores
from paperbot.summary_types import CitedSentence, Digest, DigestPaper, DigestPlan, DigestStep, PlannedCall, Theme
from paperbot.support.scorer import SupportScorer
from paperbot.text.sentences import sentence_spans
from paperbot.text.standalone import self_contained
from paperbot.text.terms import Vocabulary, terms, weighted_coverage
from paperbot.types import Evidence, Mode, Paper, TokenUsage

Message = dict[str, Any]
# Tokens a partial summary costs in a merge prompt beyond its own text (the <partial> tag and a newline).
_PARTIAL_OVERHEAD = 12


@dataclass(frozen=True)
class DigestConfig:
    """Values from Settings (their descriptions say what each does): `from_settings` is the one way to build it."""

    output_tokens: int  # per call: one theme name and one paragraph
    quoted_per_theme: int  # extractive paragraphs quote this many papers' sentences
    temperature: float

    @classmethod
    def from_settings(cls, settings: Settings) -> DigestConfig:
        return cls(output_tokens=min(settings.max_answer_tokens, settings.digest_output_tokens),
                   quoted_per_theme=settings.digest_quoted_per_theme, temperature=settings.temperature)


class ThemeText(BaseModel):
    """What every digest call returns; context {"keys": [...]} are the keys this call may cite."""

    model_config = ConfigDict(extra="forbid")
    name: str
    paragraph: str

    @model_validator(mode="after")
    def _named_and_cited(self, info: ValidationInfo) -> ThemeText:
        allowed = set((info.context or {}).get("keys", ()))
        problems = []
        if not self.name.strip():
            problems.append("name is empty")
        if not self.paragraph.strip():
            problems.append("paragraph is empty")
        elif allowed and not set(cited_keys(self.paragraph)) & allowed:
            problems.append(f"paragraph cites none of the sources: end each sentence with a key such as "
                            f"[{min(allowed)}]")
        if problems:
            raise ValueError("; ".join(problems))
        return self


@dataclass(frozen=True)
class _Text:
    """A call's checked output: a theme name and a paragraph whose keys are among the call's."""

    name: str
    paragraph: str


@dataclass
class _Call:
    """One planned LLM call; map and theme calls carry their messages, reduce calls the calls they merge."""

    step: DigestStep
    theme: int
    keys: tuple[str, ...]
    prompt_tokens: int
    messages: list[Message] | None = None
    inputs: tuple[int, ...] = ()


@dataclass
class PreparedDigest:
    """Themes decided and every call planned; `run` executes exactly these calls."""

    query: str | None
    papers: list[DigestPaper]
    groups: list[list[Paper]]  # in theme order, papers in key order
    keywords: list[tuple[str, ...]]
    plan: DigestPlan
    calls: list[_Call] = field(default_factory=list)


def matching_papers(query: str, papers: Sequence[Paper], vocabulary: Vocabulary, *, min_coverage: float = 0.6,
                    keep_top: int = 3) -> list[Paper]:
    """The papers (in search order) whose title and abstract hold most of the query's IDF-weighted terms: a
    relevance floor, so that a "KV cache" digest is about the KV cache; the top `keep_top` stay whatever words
    they use (dense search found them first)."""
    wanted = terms(query)
    return [p for rank, p in enumerate(papers) if rank < keep_top
            or weighted_coverage(wanted, set(terms(f"{p.title} {p.abstract}")), vocabulary) >= min_coverage]


def _name(keywords: Sequence[str]) -> str:
    if not keywords:
        return "Other papers"
    text = ", ".join(keywords)
    return text[:1].upper() + text[1:]


class Digester:
    """Themes of a set of papers; collaborators are given. `mode` "llm" plans for `tools.model` and needs
    `tools.chat` to run (None: it can plan, e.g. for --dry-run, but not run); "extractive" uses no model."""

    def __init__(self, *, tools: LanguageTools, config: DigestConfig, mode: Mode,
                 support_scorer: SupportScorer | None = None) -> None:
        self._tools = tools
        self._config = config
        self.mode = mode
        self.model = tools.model if mode == "llm" else None
        self._support_scorer = support_scorer  # None: lexical

    # --- themes -------------------------------------------------------------------------------------------------
    def group(self, papers: Sequence[Paper], vectors: dict[str, np.ndarray]) -> list[list[Paper]]:
        """Every paper in exactly one group, largest group first, each group's most typical paper first. Papers
        without a vector (none stored) form one last group rather than vanish."""
        with_vectors = [p for p in papers if p.id in vectors]
        groups: list[list[Paper]] = []
        if with_vectors:
            matrix = np.stack([vectors[p.id] for p in with_vectors])
            for rows in cluster(matrix):
                groups.append([with_vectors[i] for i in by_centrality(matrix, rows)])
        missing = [p for p in papers if p.id not in vectors]
        if missing:
            groups.append(missing)
        return groups

    def prepare(self, papers: Sequence[Paper], vectors: dict[str, np.ndarray], query: str | None = None
                ) -> PreparedDigest:
        unique = list({p.id: p for p in papers}.values())
        groups = self.group(unique, vectors)
        keywords = theme_keywords(groups, background=self._tools.vocabulary())
        listed, number = [], 0
        for group in groups:
            for paper in group:
                number += 1
                listed.append(DigestPaper(f"P{number}", paper.id, paper.title, paper.year, paper.url))
        prepared = PreparedDigest(query, listed, groups, keywords, self._empty_plan(len(listed), len(groups)))
        if self.mode == "llm":
            prepared.calls = self._plan_calls(prepared)
            prepared.plan = self._plan(prepared)
        return prepared

    def run(self, prepared: PreparedDigest) -> Digest:
        if self.mode == "extractive":
            themes = [self._extractive_theme(prepared, i) for i in range(len(prepared.groups))]
            return Digest(prepared.query, tuple(prepared.papers), tuple(themes), Mode.EXTRACTIVE, None, prepared.plan)
        if self._tools.chat is None:
            raise NoLLMError()  # a digester built to plan (PaperBot.digester(planning=True)) cannot run
        return self._run_llm(prepared)

    # --- helpers ------------------------------------------------------------------------------------------------
    def _keys_of(self, prepared: PreparedDigest, theme: int) -> list[str]:
        by_id = {p.paper_id: p.key for p in prepared.papers}
        return [by_id[paper.id] for paper in prepared.groups[theme]]

    def _evidence(self, prepared: PreparedDigest, theme: int) -> list[Evidence]:
        keys = self._keys_of(prepared, theme)
        return [
            Evidence(key=key, paper_id=paper.id, title=paper.title, url=paper.url, year=paper.year,
                     sentences=tuple(s.text for s in numbered_sentences(paper.abstract)), rank=rank,
                     retrieval_score=0.0)
            for rank, (key, paper) in enumerate(zip(keys, prepared.groups[theme]), start=1)
        ]

    def _empty_plan(self, papers: int, themes: int) -> DigestPlan:
        return DigestPlan(self.mode, self.model, self._tools.prompt_limit, papers, themes, (), None)

    # --- extractive ---------------------------------------------------------------------------------------------
    def _extractive_theme(self, prepared: PreparedDigest, index: int) -> Theme:
        """The most typical papers' most theme-like sentences, quoted verbatim and cited; names from keywords."""
        vocabulary = self._tools.vocabulary()
        keywords = prepared.keywords[index]
        keyword_terms = terms(" ".join(keywords))
        evidence = self._evidence(prepared, index)
        cited, lines = [], []
        for item, paper in list(zip(evidence, prepared.groups[index]))[: self._config.quoted_per_theme]:
            sentences = numbered_sentences(paper.abstract)
            if not sentences:
                continue
            scores = sentence_scores(paper.title, [s.text for s in sentences], vocabulary)
            # A quoted sentence stands alone in the digest: one that leans on the sentences before it ("Within
            # this framework, we introduce two techniques.") is used only when nothing better is there.
            scores = [score + 0.5 * weighted_coverage(keyword_terms, set(terms(s.text)), vocabulary)
                      - (0.0 if self_contained(s.text) else 10.0) for score, s in zip(scores, sentences)]
            best = sentences[int(np.argmax(scores))]
            cited.append(CitedSentence(item.key, paper.id, best))
            lines.append(f"{best.text.rstrip()} [{item.key}]")
        # One quoted sentence per line, as in extractive answers: a key after a full stop then belongs to its own
        # line's sentence for the support check, and Markdown still renders the lines as one paragraph.
        paragraph = "\n".join(lines)
        return Theme(
            name=_name(keywords), keywords=keywords, paragraph=paragraph,
            paper_keys=tuple(item.key for item in evidence), cited=tuple(cited),
            support=support(paragraph, evidence, vocabulary, self._support_scorer),
        )

    # --- LLM: plan ----------------------------------------------------------------------------------------------
    def _system(self) -> Message:
        return {"role": "system", "content": self._tools.prompts["structured_system"].render()}

    def _theme_messages(self, items: Sequence[Evidence], keywords: Sequence[str]) -> list[Message]:
        user = self._tools.prompts["digest_theme"].render(
            sources=render_sources(items), n_sources=len(items), keywords=", ".join(keywords) or "none",
            keys=", ".join(item.key for item in items))
        return [self._system(), {"role": "user", "content": user}]

    def _merge_messages(self, partials: Sequence[str], keys: Sequence[str], keywords: Sequence[str]) -> list[Message]:
        user = self._tools.prompts["digest_merge"].render(
            partials="\n".join(partials), keywords=", ".join(keywords) or "none", keys=", ".join(keys))
        return [self._system(), {"role": "user", "content": user}]

    def _tokens(self, messages: list[Message]) -> int:
        return count_messages(messages, self._tools.counter)

    def _plan_calls(self, prepared: PreparedDigest) -> list[_Call]:
        calls: list[_Call] = []
        for index in range(len(prepared.groups)):
            calls.extend(self._plan_theme(prepared, index, start=len(calls)))
        return calls

    def _plan_theme(self, prepared: PreparedDigest, index: int, *, start: int) -> list[_Call]:
        """One call when the theme fits; else map calls over batches that fit (an abstract too long alone loses
        its least theme-like sentences), then merge calls, as many levels as the budget needs."""
        limit = self._tools.prompt_limit
        keywords = prepared.keywords[index]
        items = self._evidence(prepared, index)
        whole = self._theme_messages(items, keywords)
        if self._tokens(whole) <= limit:
            return [_Call("theme", index, tuple(i.key for i in items), self._tokens(whole), whole)]
        query = " ".join(keywords)
        vocabulary = self._tools.vocabulary()
        batches: list[list[Evidence]] = []
        batch: list[Evidence] = []
        for item in items:
            if batch and self._tokens(self._theme_messages([*batch, item], keywords)) <= limit:
                batch.append(item)
                continue
            if batch:
                batches.append(batch)
            shrunk: Evidence | None = item
            while shrunk is not None and self._tokens(self._theme_messages([shrunk], keywords)) > limit:
                shrunk = drop_least_relevant_sentence(shrunk, query, vocabulary)
            if shrunk is None:
                bare = self._tokens(self._theme_messages([], keywords))
                raise ConfigError(
                    f"the digest prompt needs {bare} tokens before any paper, and no sentence of {item.title!r} "
                    f"fits in the rest of the {limit}-token budget: raise PAPERBOT_MAX_PROMPT_TOKENS")
            batch = [shrunk]
        batches.append(batch)
        if len(batches) == 1:
            messages = self._theme_messages(batches[0], keywords)
            return [_Call("theme", index, tuple(i.key for i in batches[0]), self._tokens(messages), messages)]
        calls = []
        for batch in batches:
            messages = self._theme_messages(batch, keywords)
            calls.append(_Call("map", index, tuple(i.key for i in batch), self._tokens(messages), messages))
        return calls + self._plan_reduces(calls, index, keywords, start=start)

    def _partial_bound(self) -> int:
        return self._config.output_tokens + _PARTIAL_OVERHEAD

    def _plan_reduces(self, maps: list[_Call], index: int, keywords: Sequence[str], *, start: int) -> list[_Call]:
        """Merge levels: each merge takes as many partials as fit at their largest possible size."""
        limit = self._tools.prompt_limit
        all_keys = tuple(k for call in maps for k in call.keys)
        bare = self._tokens(self._merge_messages([], all_keys, keywords))
        per_call = (limit - bare) // self._partial_bound()
        if per_call < 2:
            raise ConfigError(
                f"a prompt budget of {limit} tokens cannot merge two partial summaries of up to "
                f"{self._config.output_tokens} tokens (the merge prompt alone needs {bare}): raise "
                f"PAPERBOT_MAX_PROMPT_TOKENS to at least {bare + 2 * self._partial_bound()} or lower "
                "PAPERBOT_MAX_ANSWER_TOKENS")
        calls: list[_Call] = []
        level = [start + i for i in range(len(maps))]
        keys_of = {start + i: call.keys for i, call in enumerate(maps)}
        while len(level) > 1:
            groups = -(-len(level) // per_call)
            size = -(-len(level) // groups)  # balanced: 9 partials at 4 per call make 3+3+3, not 4+4+1
            next_level = []
            for offset in range(0, len(level), size):
                inputs = tuple(level[offset : offset + size])
                keys = tuple(k for i in inputs for k in keys_of[i])
                call_id = start + len(maps) + len(calls)
                keys_of[call_id] = keys
                calls.append(_Call("reduce", index, keys, bare + len(inputs) * self._partial_bound(), None, inputs))
                next_level.append(call_id)
            level = next_level
        return calls

    def _plan(self, prepared: PreparedDigest) -> DigestPlan:
        planned = tuple(
            PlannedCall(c.step, c.theme, c.keys, c.prompt_tokens, self._config.output_tokens) for c in prepared.calls)
        estimate = self._tools.cost(TokenUsage(sum(c.prompt_tokens for c in planned),
                                         sum(c.max_output_tokens for c in planned)))
        return DigestPlan(Mode.LLM, self.model, self._tools.prompt_limit, len(prepared.papers), len(prepared.groups),
                          planned, estimate)

    # --- LLM: run -----------------------------------------------------------------------------------------------
    @staticmethod
    def _partial(text: _Text) -> str:
        name, paragraph = html.escape(text.name, quote=False), html.escape(text.paragraph, quote=False)
        return f"<partial>\n{name}: {paragraph}\n</partial>"

    def _merge_fitting(self, texts: list[_Text], keys: Sequence[str], keywords: Sequence[str]) -> list[Message]:
        """The merge prompt; should a server's tokens outrun ours, the longest partial loses its last sentence
        until the prompt fits (never cut mid-sentence)."""
        texts = list(texts)
        while True:
            messages = self._merge_messages([self._partial(t) for t in texts], keys, keywords)
            if self._tokens(messages) <= self._tools.prompt_limit:
                return messages
            longest = max(range(len(texts)), key=lambda i: len(texts[i].paragraph))
            spans = sentence_spans(texts[longest].paragraph)
            if len(spans) <= 1:
                return messages  # cannot shrink further; the plan's bound makes this unreachable in practice
            texts[longest] = _Text(texts[longest].name, texts[longest].paragraph[: spans[-2][1]])

    def _run_llm(self, prepared: PreparedDigest) -> Digest:
        usage = TokenUsage()
        requests = 0
        outputs: dict[int, _Text] = {}
        removed_keys: dict[int, int] = {}
        for call_id, call in enumerate(prepared.calls):
            keywords = prepared.keywords[call.theme]
            if call.messages is not None:
                messages = call.messages
            else:
                messages = self._merge_fitting([outputs[i] for i in call.inputs], call.keys, keywords)
            result = complete_json(
                self._tools.chat, messages, ThemeText, name="digest_theme", repair=self._tools.prompts["repair"],
                max_tokens=self._config.output_tokens, context={"keys": list(call.keys)},
                temperature=self._config.temperature)
            usage += result.usage
            requests += result.requests
            paragraph, removed = clean_keys(result.value.paragraph, set(call.keys))
            outputs[call_id] = _Text(result.value.name.strip(), paragraph)
            removed_keys[call.theme] = removed_keys.get(call.theme, 0) + removed
        # Calls run theme by theme, merges after the calls they merge: a theme's last call holds its text.
        last = {call.theme: call_id for call_id, call in enumerate(prepared.calls)}
        vocabulary = self._tools.vocabulary()
        themes = []
        for index in range(len(prepared.groups)):
            text, removed = outputs[last[index]], removed_keys[index]
            evidence = self._evidence(prepared, index)
            themes.append(Theme(
                name=text.name, keywords=prepared.keywords[index], paragraph=text.paragraph,
                paper_keys=tuple(e.key for e in evidence),
                support=support(text.paragraph, evidence, vocabulary, self._support_scorer),
                invalid_keys_removed=removed,
            ))
        return Digest(prepared.query, tuple(prepared.papers), tuple(themes), Mode.LLM, self._tools.chat.model,
                      prepared.plan, requests, usage, self._tools.cost(usage))

