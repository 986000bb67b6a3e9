"""Answer use case: condense the question, retrieve, check answerability, fit evidence in the budget, then answer
with an LLM (streamed, citations checked) or extractively; every path returns the same typed Answer."""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paperbot.answer.abstention import Answerability, assess
from paperbot.answer.attribution import AttributionPolicy, attribute, declines, question_focus, semantic_focus
from paperbot.answer.budget import fit_evidence
from paperbot.answer.citations import StreamingKeyFilter, references, support
from paperbot.answer.evidence import build_evidence, drop_least_relevant_sentence, render_sources
from paperbot.answer.extractive import compose, select_sentences
from paperbot.answer.followup import FollowUp, resolve
from paperbot.answer.injection import InstructionEcho
from paperbot.answer.numbering import StreamRenumbering, renumber
from paperbot.answer.own_decline import declines_in_own_words
from paperbot.answer.response import AnswerResponse
from paperbot.config import Settings
from paperbot.errors import AnswerCut
from paperbot.ports import LanguageTools
from paperbot.retrieval.retriever import Retriever
from paperbot.support.scorer import LexicalSupportScorer, SupportScorer
from paperbot.text.questions import clean_question
from paperbot.types import (
    Answer,
    AnswerTimings,
    AttributionSummary,
    Citation,
    Evidence,
    Mode,
    PaperHit,
    TokenUsage,
)

SENTINEL = "I cannot answer this from the provided papers."
Message = dict[str, Any]


@dataclass(frozen=True)
class AnswerConfig:
    """Values from Settings (their descriptions say what each does): `from_settings` is the one way to build it."""

    k: int
    max_answer_tokens: int
    temperature: float
    max_question_chars: int
    attribution: AttributionPolicy  # how LLM answers' keys are checked
    answerable_threshold: float  # abstention.decide(): answer at or above this p(answerable)
    missing_name_threshold: float  # the same when a name the question uses is in no retrieved paper
    yes_no_threshold: float  # the same for a yes/no question
    answerability_model: Path | None  # None: the packaged model
    # Focused (compact-prompt) LLM answers only (Settings.focus_scope): the p(answerable) a written answer needs, and
    # the p(answerable) at or above which a model's own decline is replaced by quoting the papers (1: never).
    llm_answerable_threshold: float
    decline_fallback_threshold: float

    @classmethod
    def from_settings(cls, settings: Settings, *, focused: bool, temperature: float | None = None) -> AnswerConfig:
        """focused: apply question focus and thin-answer declines (AttributionPolicy.from_settings); temperature:
        a per-conversation override of settings.temperature."""
        return cls(
            k=settings.answer_k, max_answer_tokens=settings.max_answer_tokens,
            temperature=settings.temperature if temperature is None else temperature,
            max_question_chars=settings.max_question_chars,
            attribution=AttributionPolicy.from_settings(settings, focused=focused),
            answerable_threshold=settings.answerable_threshold,
            missing_name_threshold=settings.missing_name_threshold, yes_no_threshold=settings.yes_no_threshold,
            answerability_model=settings.answerability_model,
            llm_answerable_threshold=settings.llm_answerable_threshold if focused else 0.0,
            decline_fallback_threshold=settings.decline_fallback_threshold if focused else 1.0,
        )


@dataclass(frozen=True)
class PreparedPrompt:
    """Everything decided before the model is called: `paperbot ask --dry-run` prints this."""

    search_query: str
    hits: list[PaperHit]
    evidence: list[Evidence]
    messages: list[Message]
    prompt_tokens: int
    answerability: Answerability
    retrieval_ms: float


class Answerer:
    """One question in, one Answer out; collaborators are given, so tests can hand in fakes or a local server."""

    def __init__(self, *, tools: LanguageTools, retriever: Retriever, config: AnswerConfig,
                 support_scorer: SupportScorer | None = None,
                 sentence_vectors: Callable[[Sequence[str]], Sequence[Sequence[float]]] | None = None) -> None:
        """sentence_vectors: MiniLM vectors for the semantic question focus of attribution (None: not used)."""
        self._tools = tools
        self._retriever = retriever
        self._config = config
        self._support_scorer = support_scorer
        self._sentence_vectors = sentence_vectors

    def _scorer(self) -> SupportScorer:
        return self._support_scorer or LexicalSupportScorer(self._tools.vocabulary())

    def _semantic_focus(self, prepared: PreparedPrompt) -> dict[str, float] | None:
        if self._sentence_vectors is None or not self._config.attribution.rekey_semantic or not prepared.evidence:
            return None
        return semantic_focus(prepared.search_query, prepared.evidence, self._sentence_vectors)

    @property
    def mode(self) -> Mode:
        return Mode.LLM if self._tools.chat is not None else Mode.EXTRACTIVE

    def searching(self, retriever: Retriever) -> Answerer:
        """The same answerer over another retriever (evals: the store with a question's own source hidden)."""
        other = copy.copy(self)
        other._retriever = retriever
        return other

    # --- preparation ----------------------------------------------------------------------------------------------
    def condense(self, question: str, history: Sequence[Message], *, use_llm: bool = True,
                 follow_up: FollowUp | None = None) -> tuple[str, TokenUsage]:
        """A standalone search query for a follow-up: the LLM rewrites it, or, without one, the questions it continues
        join it (a question that stands alone is searched as it is)."""
        previous = [m["content"] for m in history if m.get("role") == "user"]
        if not previous:
            return question, TokenUsage()
        if self._tools.chat is None or not use_llm:
            return (follow_up or resolve(question, history)).search_query, TokenUsage()
        transcript = "\n".join(f"{m['role']}: {m['content']}" for m in history[-6:])
        prompt = self._tools.prompts["condense"].render(history=transcript, question=question)
        result = self._tools.chat.complete([{"role": "user", "content": prompt}], max_tokens=80, temperature=0.0)
        query = result.text.strip().strip('"').strip() or question
        return query, result.usage

    def _render(self, question: str) -> Callable[[list[Evidence], list[Message]], list[Message]]:
        system = self._tools.prompts["system"].render(sentinel=SENTINEL)

        def render(items: list[Evidence], history: list[Message]) -> list[Message]:
            user = self._tools.prompts["answer"].render(sources=render_sources(items), question=question,
                                                  n_sources=len(items))
            return [{"role": "system", "content": system}, *history, {"role": "user", "content": user}]

        return render

    def prepare(self, question: str, history: Sequence[Message] = (), *, search_query: str | None = None,
                k: int | None = None, mode: Mode | None = None) -> PreparedPrompt:
        started = time.perf_counter()
        question = clean_question(question, self._config.max_question_chars).text
        query = search_query or question
        hits = self._retriever.search(query, k or self._config.k)
        vocabulary = self._tools.vocabulary()
        evidence = build_evidence(hits, query, vocabulary)
        retrieval_ms = (time.perf_counter() - started) * 1e3
        # One decision for both modes: an LLM would otherwise write an answer from thin evidence. It reads the
        # standalone query, so a follow-up ("How much faster is it?") is judged with the conversation it continues.
        answerability = assess(query, hits, evidence, vocabulary, threshold=self._config.answerable_threshold,
                               missing_name_threshold=self._config.missing_name_threshold,
                               yes_no_threshold=self._config.yes_no_threshold,
                               model_path=self._config.answerability_model)
        fitted = fit_evidence(
            self._render(question), evidence, self._tools.counter, self._tools.prompt_limit,
            lambda item: drop_least_relevant_sentence(item, query, vocabulary),
            history=[{"role": m["role"], "content": m["content"]} for m in history],
        )
        return PreparedPrompt(query, hits, fitted.evidence, fitted.messages, fitted.tokens, answerability,
                              retrieval_ms)

    # --- answering ------------------------------------------------------------------------------------------------
    def ask_stream(self, question: str, history: Sequence[Message] = (), *, k: int | None = None,
                   mode: Mode | None = None) -> AnswerResponse:
        """The answer as a response: iterate it for the text deltas, then `.answer()` for the final Answer, whose
        text is the deltas joined, except for an LLM answer, whose `raw_text` is the deltas joined and whose `text`
        is that answer once attribution checked its keys. Nothing runs until the response is read."""
        history = tuple(history)  # read later, when the response runs: a caller's list may have changed by then
        return AnswerResponse(lambda: self._numbered_stream(question, history, k=k, mode=mode))

    def _numbered_stream(self, question: str, history: Sequence[Message], *, k: int | None,
                         mode: Mode | None) -> Iterator[str | Answer]:
        # Cleaned before anything else: control characters are never searched or sent, and a pasted essay is cut
        # so that the prompt keeps room for the sources.
        cleaned = clean_question(question, self._config.max_question_chars)
        # The last step: the papers an answer cites numbered 1..n in order of first use, as the text streams and in
        # the final Answer (the prompt's keys stay in Answer.source_keys). An LLM answer's checked text can cite in
        # another order than its stream (attribution adds and corrects keys), so its final numbering may differ.
        numbering = StreamRenumbering()
        for item in self._answer_stream(cleaned.text, history, k=k, mode=mode):
            if isinstance(item, str):
                yield numbering.feed(item)
                continue
            item = renumber(item)
            if cleaned.truncated:
                item = dataclasses.replace(item, question_truncated=True)
            yield item

    def _answer_stream(self, question: str, history: Sequence[Message], *, k: int | None,
                       mode: Mode | None) -> Iterator[str | Answer]:
        started = time.perf_counter()
        mode = Mode(mode or self.mode)  # a string from a caller becomes the enum the Answer records
        if mode == "llm" and self._tools.chat is None:
            from paperbot.errors import NoLLMError

            raise NoLLMError()  # the facade's resolve() raises it first; this guards a use case built by hand
        # Resolved once: the extractive answer searches with it and answers what the follow-up newly asks.
        follow_up = resolve(question, history) if mode == "extractive" else None
        query, condense_usage = self.condense(question, history, use_llm=mode == "llm", follow_up=follow_up)
        prepared = self.prepare(question, history if mode == "llm" else (), search_query=query, k=k, mode=mode)
        if not prepared.answerability.answerable:
            answer = self._abstain(question, prepared, mode, condense_usage, started)
            yield answer.text
            yield answer
            return
        if mode == "extractive":
            yield from self._extractive(question, prepared, started, follow_up)
        else:
            yield from self._llm(question, prepared, condense_usage, started)

    def ask(self, question: str, history: Sequence[Message] = (), **options: Any) -> Answer:
        return self.ask_stream(question, history, **options).answer()

    def _abstain(self, question: str, prepared: PreparedPrompt, mode: Mode, usage: TokenUsage,
                 started: float) -> Answer:
        nearest = tuple(Citation("", h.paper_id, h.title, h.url, h.year) for h in prepared.hits[:5])
        reason = prepared.answerability.reason
        text = f"{SENTINEL} ({reason}.)" if reason else SENTINEL
        return Answer(
            question=question, text=text, mode=mode, model=self._model_name(mode), search_query=prepared.search_query,
            citations=(), sentences=(), evidence=tuple(prepared.evidence), abstained=True, usage=usage,
            cost_usd=self._tools.cost(usage) if mode == "llm" else None,
            timings=AnswerTimings(prepared.retrieval_ms, None, (time.perf_counter() - started) * 1e3),
            nearest_papers=nearest, support_scorer=self._scorer().name,
        )

    def _quoted_instead(self, question: str, prepared: PreparedPrompt, declined: str, usage: TokenUsage,
                        started: float, first_token_ms: float | None) -> Answer | None:
        """The model declined though the abstention check found the papers answer: their best sentences, quoted as in
        extractive mode, with the model's refusal kept in raw_text (None when no sentence is worth quoting)."""
        quoted = next(item for item in self._extractive(question, prepared, started, None) if isinstance(item, Answer))
        if not quoted.text.strip():
            return None
        summary = AttributionSummary(scorer=quoted.support_scorer,
                                     unsupported_policy=self._config.attribution.unsupported, model_declined=True)
        return dataclasses.replace(
            quoted, mode=Mode.LLM, model=self._model_name(Mode.LLM), raw_text=declined, attribution=summary,
            usage=usage, cost_usd=self._tools.cost(usage),
            timings=AnswerTimings(prepared.retrieval_ms, first_token_ms, (time.perf_counter() - started) * 1e3))

    def _model_name(self, mode: Mode) -> str | None:
        return self._tools.chat.model if mode == "llm" and self._tools.chat is not None else None

    def _extractive(self, question: str, prepared: PreparedPrompt, started: float,
                    follow_up: FollowUp) -> Iterator[str | Answer]:
        vocabulary = self._tools.vocabulary()
        scorer = self._scorer()  # quoted sentences: the learned and NLI scorers score them 1 without a model run
        selected = select_sentences(prepared.search_query, prepared.evidence, vocabulary, follow_up=follow_up)
        text = compose(selected)
        lines = text.split("\n")
        for number, line in enumerate(lines):  # one quoted sentence at a time, as an LLM answer would arrive
            yield line if number == len(lines) - 1 else line + "\n"
        yield Answer(
            question=question, text=text, mode=Mode.EXTRACTIVE, model=None, search_query=prepared.search_query,
            citations=references(text, prepared.evidence),
            sentences=support(text, prepared.evidence, vocabulary, scorer), support_scorer=scorer.name,
            evidence=tuple(prepared.evidence), abstained=False,
            timings=AnswerTimings(prepared.retrieval_ms, None, (time.perf_counter() - started) * 1e3),
        )

    def _llm(self, question: str, prepared: PreparedPrompt, condense_usage: TokenUsage,
             started: float) -> Iterator[str | Answer]:
        probability = prepared.answerability.probability
        needed = self._config.llm_answerable_threshold
        if probability is not None and probability < needed:
            # A small model shown thin evidence writes a plausible answer anyway: it gets a stricter gate than quoting.
            reason = (f"the retrieved papers are unlikely to answer it (answerability {probability:.2f}; a written "
                      f"answer needs {needed:.2f})")
            gated = dataclasses.replace(prepared, answerability=dataclasses.replace(
                prepared.answerability, answerable=False, reason=reason))
            answer = self._abstain(question, gated, Mode.LLM, condense_usage, started)
            yield answer.text
            yield answer
            return
        shown = {e.key for e in prepared.evidence}
        keys = StreamingKeyFilter(shown)
        stream = self._tools.chat.stream(prepared.messages, max_tokens=self._config.max_answer_tokens,
                                   temperature=self._config.temperature)
        pieces: list[str] = []
        first_token_ms = None
        cut: AnswerCut | None = None
        try:
            for delta in stream:
                clean = keys.feed(delta)
                if clean:
                    if first_token_ms is None:
                        first_token_ms = (time.perf_counter() - started) * 1e3
                    pieces.append(clean)
                    yield clean
        except AnswerCut as exc:  # a time or size bound hit after text was shown: kept, and marked as cut
            cut = exc
        except GeneratorExit:  # the reader left mid-answer (AnswerResponse.close): the connection is freed now
            stream.close()
            raise
        tail = keys.flush()
        if tail:
            pieces.append(tail)
            yield tail
        result = stream.result
        text = "".join(pieces).strip()
        answered = result.usage if result is not None else TokenUsage(  # cut: no usage came; count what was sent
            prepared.prompt_tokens, self._tools.counter.count(text), estimated=True)
        usage = condense_usage + answered
        # The sentinel, or the model's own words for it (small models paraphrase it, often after a "No.").
        abstained = not text or text.casefold().startswith(SENTINEL.casefold()[:30]) or declines_in_own_words(
            text, SENTINEL)
        fallback = self._config.decline_fallback_threshold
        if abstained and text and probability is not None and fallback < 1 and probability >= fallback:
            quoted = self._quoted_instead(question, prepared, text, usage, started, first_token_ms)
            if quoted is not None:
                yield quoted
                return
        # The rules themselves, without the sentinel sentence, which an honest answer repeats on purpose.
        echo = InstructionEcho(self._tools.prompts["system"].render(sentinel=""))
        leaked = not abstained and echo.repeats(text)
        checked, sentences, attribution, attribution_ms = text, (), None, None
        if not abstained:
            checking = time.perf_counter()
            # Every sentence against every shown paper: wrong keys corrected, clearly supported uncited sentences
            # given their paper's key, the rest flagged or dropped. Policy for a model that recites its
            # instructions (it obeyed a planted one): what it recited is never presented as supported or cited.
            checked_answer = attribute(
                text, prepared.evidence, self._scorer(), self._config.attribution,
                distrust=echo.repeats if leaked else lambda sentence: False,
                leave_alone=lambda sentence: sentence.casefold().startswith(SENTINEL.casefold()[:30]),
                focus=question_focus(prepared.search_query, prepared.evidence, self._tools.vocabulary()),
                semantic=self._semantic_focus(prepared))
            checked, sentences, attribution = checked_answer.text, checked_answer.sentences, checked_answer.summary
            attribution_ms = (time.perf_counter() - checking) * 1e3
            # Dropping left no claim standing, or too few claims stand on these papers: a model that answers from
            # thin evidence is declined like the abstention check would have (its text stays in raw_text).
            reason = declines(sentences, self._config.attribution)
            if reason:
                abstained = True
                checked = f"{SENTINEL} ({reason}.)"
        yield Answer(
            question=question, text=checked, mode=Mode.LLM, model=self._model_name(Mode.LLM),
            search_query=prepared.search_query,
            citations=() if abstained else references(checked, prepared.evidence),
            sentences=sentences, instructions_leaked=leaked, raw_text=text, attribution=attribution,
            support_scorer=self._scorer().name,
            truncated=cut is not None, cut_reason=str(cut) if cut is not None else None,
            evidence=tuple(prepared.evidence), abstained=abstained, invalid_keys_removed=keys.removed,
            usage=usage, cost_usd=self._tools.cost(usage),
            timings=AnswerTimings(prepared.retrieval_ms, first_token_ms, (time.perf_counter() - started) * 1e3,
                                  attribution_ms),
            nearest_papers=tuple(Citation("", h.paper_id, h.title, h.url, h.year) for h in prepared.hits[:5])
            if abstained else (),
        )
