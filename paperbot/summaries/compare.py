"""Compare use case: one row per paper, one cell per aspect, each cell a short phrase citing the abstract sentence
it comes from, or "not stated"; extractive (aspect cue phrases, verbatim clauses) or by an LLM whose every cell is
checked against the sentence it cites (a missing or unsupporting sentence makes the cell "not stated")."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from pydantic import BaseModel, ConfigDict, ValidationInfo, model_validator

from paperbot.errors import ConfigError
from paperbot.llm.tokens import count_messages
from paperbot.ports import LanguageTools
from paperbot.summaries.numbered import attribute, numbered_sentences, render_numbered
from paperbot.summaries.roles import APPROACH
from paperbot.summaries.structured import StructuredConfig, complete_json
from paperbot.summary_types import (
    DEFAULT_ASPECTS,
    NOT_STATED,
    CompareCell,
    CompareRow,
    Comparison,
    SentenceRef,
    is_not_stated,
)
from paperbot.text.asks import RESULT_NUMBER
from paperbot.text.numbers import unsupported_numbers
from paperbot.text.terms import Vocabulary, terms, weighted_coverage
from paperbot.types import Mode, Paper, TokenUsage

CELL_SUPPORT = 0.6  # share of a phrase's IDF-weighted content its cited sentence must contain
MAX_PHRASE_WORDS = 20
# A gain figure: "by up to 29times", "2.2x speedup", "62.5% lower" (not a setup's "20% heavy hitters").
_GAIN_NUMBER = re.compile(
    r"\b(?:by|to|of|achiev\w*|reach\w*)\s+(?:up to\s+|over\s+|about\s+|~)?\d[\d.,]*\s*(?:%|×|x\b|times\b|-?fold\b)|"
    r"\d[\d.,]*\s*(?:%|×|x\b|times\b|-?fold\b)\s*(?:speed-?ups?|faster|higher|lower|less|fewer|reduction|"
    r"improvement|smaller|more|better|cheaper)", re.IGNORECASE)
# Words that begin a phrase: a cut before one of them leaves whole phrases on both sides.
_PHRASE_STARTS = frozenset("""
and or but while whereas which that who by to for in on at with without from over than via using across compared
under into through when where as because since so thereby achieving reaching resulting leading
improves improve reduces reduce achieves achieve speeds accelerates cuts boosts increases lowers yields delivers
outperforms enables
""".split())

# Cue phrases per built-in aspect; a sentence without any is never used for that aspect.
_CUES: dict[str, re.Pattern[str]] = {
    "task": re.compile(
        r"\b(tasks?|applications?|inference|serving|generation|decoding|deploy\w*|training|fine-tuning|"
        r"classification|retrieval|reasoning|translation|summari[sz]ation|question answering|recognition|"
        r"segmentation|detection|super-resolution|recommendation|problem)\b", re.IGNORECASE),
    "approach": APPROACH,
    "efficiency gain": re.compile(
        r"\b(speed-?ups?|faster|throughput|latency|memory|reduc\w*|lower\w*|fewer|less|sav\w*|compress\w*|"
        r"efficien\w*|cheaper|cost|FLOPs|accelerat\w*)\b|\d\s*(%|x\b|×|times\b)", re.IGNORECASE),
    "hardware or setting": re.compile(
        r"\b(GPUs?|CPUs?|TPUs?|[AHV]100|A6000|RTX\s?\w+|FPGAs?|ASICs?|edge|mobile|smartphones?|devices?|on-device|"
        r"SSDs?|flash|DRAM|HBM|PCIe|NVMe|CSDs?|memory-constrained|resource-constrained|clusters?|data ?cent(er|re)s?|"
        r"servers?|cloud|consumer|laptops?|accelerators?|hardware|distributed|decentralized|black-box|white-box|"
        r"training-free|zero-shot|few-shot|long-context|offline|batch(ed)? (size|inference)|single GPU)\b",
        re.IGNORECASE),
    "evaluation": re.compile(
        r"\b(evaluat\w*|experiment\w*|benchmarks?|datasets?|compared (to|with)|baselines?|empirical\w*|"
        r"results (show|demonstrate|indicate)|we (test|measure)\w*|tested|ablations?)\b", re.IGNORECASE),
}
# Model and dataset names are evidence of an evaluation setup: case-sensitive, so "opt" the verb does not count.
_EVAL_NAMES = re.compile(r"\b(LLaMA|Llama|OPT|GPT-[\w.]+|Mistral|Vicuna|Falcon|Mixtral|Qwen|MMLU|GSM8K|HumanEval|"
                         r"ImageNet|COCO|GLUE|SQuAD|TriviaQA|LongBench|MT-Bench|BERT|T5|ViT|CLIP)\b")
_DIGIT = re.compile(r"\d")
# Other names users give the built-in aspects.
_ALIASES = {
    "hardware": "hardware or setting", "setting": "hardware or setting", "platform": "hardware or setting",
    "efficiency": "efficiency gain", "speedup": "efficiency gain", "speed-up": "efficiency gain",
    "gain": "efficiency gain", "method": "approach", "technique": "approach", "problem": "task",
    "benchmark": "evaluation", "benchmarks": "evaluation", "datasets": "evaluation", "experiments": "evaluation",
}
# Clause boundaries inside a sentence: a phrase never crosses one unless its own clause is too short to say much.
_CLAUSE = re.compile(r",\s+|;\s+|:\s+|\s+[-–—]\s+|\s+(?=(?:while|whereas|which|thereby)\b)")


def builtin_aspect(aspect: str) -> str | None:
    name = aspect.strip().casefold()
    return name if name in _CUES else _ALIASES.get(name)


def _clauses(sentence: str) -> list[tuple[int, int]]:
    """Clause spans; a separator inside parentheses ("(i.e., attention)") does not split."""
    spans, start = [], 0
    for match in _CLAUSE.finditer(sentence):
        if sentence.count("(", 0, match.start()) > sentence.count(")", 0, match.start()):
            continue
        if match.start() > start:
            spans.append((start, match.start()))
        start = match.end()
    if start < len(sentence):
        spans.append((start, len(sentence)))
    return spans


def phrase_from(sentence: str, hits: Callable[[str], int], *, figures: bool = False) -> str:
    """A verbatim piece of `sentence`, at most MAX_PHRASE_WORDS words, that starts and ends between phrases: the run
    of whole clauses, or a window between phrase boundaries, with the most cue hits and, with `figures`, the gain
    it is about ("improves the throughput ... by up to 29times", not the "20% heavy hitters" of its setup)."""
    spans = _clauses(sentence)
    if not spans:
        return sentence

    def score(text: str) -> float:
        found = float(hits(text))
        if figures:  # figures count once, and a gain most: a list of them does not outweigh what they measure
            results = len(RESULT_NUMBER.findall(text))
            found += -results + (3.0 if _GAIN_NUMBER.search(text) else 0.0) + (0.5 if results else 0.0)
        return found - 0.01 * len(text.split())  # of two pieces as good, the shorter

    pieces = []
    for i in range(len(spans)):
        for j in range(i, len(spans)):
            piece = sentence[spans[i][0]:spans[j][1]].strip().rstrip(".;,")
            if len(piece.split()) <= MAX_PHRASE_WORDS:
                # A run of one short clause says little: the next clause joins it when it fits (scored as is).
                pieces.append(piece)
    pieces.append(_window(sentence.strip().rstrip(".;,"), score))
    best = max(pieces, key=score)
    if len(best.split()) < 6:
        start = sentence.find(best)
        following = [sentence[start:e].strip().rstrip(".;,") for _, e in spans if e > start + len(best)]
        if following and len(following[0].split()) <= MAX_PHRASE_WORDS:
            best = following[0]
    return _close_parenthesis(best)


def _window(clause: str, score: Callable[[str], float]) -> str:
    """The best MAX_PHRASE_WORDS-word window of a long clause that starts and ends between phrases (before a
    preposition or conjunction, never inside "the KV cache")."""
    words = clause.split()
    ends = [e for e in range(1, len(words) + 1)
            if e == len(words) or words[e].casefold() in _PHRASE_STARTS or words[e - 1][-1] in ",;:)"]
    starts = [b for b in range(len(words)) if b == 0 or words[b].casefold() in _PHRASE_STARTS]
    windows = [(b, e) for b in starts for e in ends if 0 < e - b <= MAX_PHRASE_WORDS]
    if not windows:  # no boundary close enough: the plain window with the most hits
        windows = [(b, b + MAX_PHRASE_WORDS) for b in range(len(words) - MAX_PHRASE_WORDS + 1)]
    b, e = max(windows, key=lambda w: (score(" ".join(words[w[0]:w[1]])) + 0.011 * (w[1] - w[0]), -w[0]))
    return " ".join(words[b:e]).rstrip(".;,")


def _close_parenthesis(piece: str) -> str:
    """A phrase cut inside "(...)" ends before the parenthesis instead, when enough is left to say something."""
    opened = piece.rfind("(")
    if opened > 0 and ")" not in piece[opened:] and len(piece[:opened].split()) >= 4:
        return piece[:opened].rstrip(" ,;")
    return piece


def _extractive_cell(aspect: str, sentences: Sequence[SentenceRef], vocabulary: Vocabulary) -> CompareCell:
    """The sentence with the most cues for the aspect (with a position prior where abstracts have one), and the
    clause in it that carries them; NOT_STATED when no sentence has a cue."""
    kind = builtin_aspect(aspect)
    approach_at = next((s.index for s in sentences if APPROACH.search(s.text)), len(sentences))
    if kind is None:
        # A user's own aspect: a text must hold all of its words (two thirds of a longer one), so that "model
        # size" is not found in "batch size".
        wanted = terms(aspect)
        needed = 1.0 if len(set(wanted)) <= 2 else 0.66

        def hits(text: str) -> int:
            return int(weighted_coverage(wanted, set(terms(text)), vocabulary) >= needed - 1e-9) if wanted else 0
    elif kind == "evaluation":
        def hits(text: str) -> int:
            return len(_CUES["evaluation"].findall(text)) + len(_EVAL_NAMES.findall(text))
    else:
        def hits(text: str) -> int:
            return len(_CUES[kind].findall(text))

    def score(s: SentenceRef) -> float:
        count = hits(s.text)
        if count == 0:
            return 0.0
        if kind == "efficiency gain":
            return count + (3.0 if _DIGIT.search(s.text) else 0.0)
        if kind == "task":
            return count + 3.0 / (1 + s.index)  # the task is said first
        if kind == "approach":
            return count + (5.0 if s.index == approach_at else 0.0)
        if kind == "evaluation":
            return count + (1.0 if s.index > approach_at else 0.0)  # experiments follow the method
        return float(count)

    # The task is what the abstract sets out from: a sentence before the one that says what the paper does, when
    # one names it.
    candidates = list(sentences)
    if kind == "task":
        candidates = [s for s in sentences if s.index < approach_at and hits(s.text)] or candidates
    scored = [(score(s), -s.index, s) for s in candidates]
    best = max(scored, default=(0.0, 0, None))
    if best[0] <= 0 or best[2] is None:
        return CompareCell(aspect, NOT_STATED)
    sentence = best[2]
    return CompareCell(aspect, phrase_from(sentence.text, hits, figures=kind == "efficiency gain"), sentence)


# --- LLM ----------------------------------------------------------------------------------------------------------
class LLMCell(BaseModel):
    model_config = ConfigDict(extra="forbid")
    aspect: str
    text: str
    sentence: int | None


class LLMRow(BaseModel):
    """The JSON the model must return; context {"aspects": [...]} is checked: each aspect exactly once."""

    model_config = ConfigDict(extra="forbid")
    cells: list[LLMCell]

    @model_validator(mode="after")
    def _one_cell_per_aspect(self, info: ValidationInfo) -> LLMRow:
        wanted = [a.casefold() for a in (info.context or {}).get("aspects", ())]
        if wanted:
            got = [c.aspect.strip().casefold() for c in self.cells]
            missing = [a for a in wanted if a not in got]
            extra = [a for a in got if a not in wanted]
            repeated = sorted({a for a in got if got.count(a) > 1})
            problems = ([f"missing cells for {missing}"] if missing else []) + (
                [f"unknown aspects {extra}"] if extra else []) + ([f"repeated aspects {repeated}"] if repeated else [])
            if problems:
                raise ValueError("; ".join(problems) + f"; give exactly one cell for each of {wanted}")
        return self


def cell_supported(text: str, sentence: str, vocabulary: Vocabulary) -> bool:
    """The phrase's content is in the sentence it cites (IDF-weighted), and every number in it is stated there."""
    wanted = terms(text)
    if not wanted:
        return False
    coverage = weighted_coverage(wanted, set(terms(sentence)), vocabulary)
    return coverage >= CELL_SUPPORT and not unsupported_numbers([text], sentence)


class Comparer:
    """Comparison tables; tools.chat None means extractive. Collaborators are given."""

    def __init__(self, *, tools: LanguageTools, config: StructuredConfig) -> None:
        self._tools = tools
        self._config = config

    @property
    def mode(self) -> Mode:
        return Mode.LLM if self._tools.chat is not None else Mode.EXTRACTIVE

    def compare(self, papers: Sequence[Paper], aspects: Sequence[str] | None = None) -> Comparison:
        wanted = tuple(dict.fromkeys(a.strip() for a in (aspects or DEFAULT_ASPECTS) if a.strip()))
        if not wanted:
            raise ConfigError("no aspects to compare: give --aspects a,b or leave it out for the defaults")
        vocabulary = self._tools.vocabulary()
        if self._tools.chat is None:
            rows = tuple(
                CompareRow(p.id, p.title, tuple(_extractive_cell(a, numbered_sentences(p.abstract), vocabulary)
                                                for a in wanted))
                for p in papers)
            return Comparison(wanted, rows, Mode.EXTRACTIVE, None)
        rows_out, rejected, requests, usage = [], 0, 0, TokenUsage()
        for paper in papers:
            row, row_rejected, result_usage, row_requests = self._llm_row(paper, wanted, vocabulary)
            rows_out.append(row)
            rejected += row_rejected
            requests += row_requests
            usage += result_usage
        return Comparison(wanted, tuple(rows_out), Mode.LLM, self._tools.chat.model, rejected, requests, usage,
                          self._tools.cost(usage))

    def messages(self, paper: Paper, aspects: Sequence[str], shown: Sequence[SentenceRef]) -> list[dict[str, str]]:
        all_sentences = numbered_sentences(paper.abstract)
        user = self._tools.prompts["compare"].render(
            title=attribute(paper.title), sentences=render_numbered(shown), aspects="; ".join(aspects),
            last_index=len(all_sentences) - 1)
        return [{"role": "system", "content": self._tools.prompts["structured_system"].render()},
                {"role": "user", "content": user}]

    def _fitted_messages(self, paper: Paper, aspects: Sequence[str], vocabulary: Vocabulary) -> list[dict[str, str]]:
        """All sentences if they fit; else the least aspect-like go first, numbers kept, so citations stay valid."""
        shown = list(numbered_sentences(paper.abstract))
        wanted = terms(" ".join(aspects))
        while True:
            messages = self.messages(paper, aspects, shown)
            tokens = count_messages(messages, self._tools.counter)
            if tokens <= self._tools.prompt_limit:
                return messages
            if len(shown) <= 1:
                raise ConfigError(
                    f"comparing {paper.id!r} needs {tokens} prompt tokens with a single sentence of its abstract, "
                    f"over the budget of {self._tools.prompt_limit}: raise PAPERBOT_MAX_PROMPT_TOKENS, or use "
                    "--mode extractive")
            worst = min(shown, key=lambda s: (weighted_coverage(wanted, set(terms(s.text)), vocabulary), -s.index))
            shown.remove(worst)

    def _llm_row(self, paper: Paper, aspects: tuple[str, ...], vocabulary: Vocabulary
                 ) -> tuple[CompareRow, int, TokenUsage, int]:
        sentences = numbered_sentences(paper.abstract)
        messages = self._fitted_messages(paper, aspects, vocabulary)
        result = complete_json(self._tools.chat, messages, LLMRow, name="comparison_row",
                               repair=self._tools.prompts["repair"], max_tokens=self._config.max_tokens,
                               context={"aspects": list(aspects)}, temperature=self._config.temperature)
        by_aspect = {c.aspect.strip().casefold(): c for c in result.value.cells}
        cells, rejected = [], 0
        for aspect in aspects:
            cell = by_aspect[aspect.casefold()]
            if cell.sentence is None or is_not_stated(cell.text):
                cells.append(CompareCell(aspect, NOT_STATED))
                continue
            if 0 <= cell.sentence < len(sentences) and cell_supported(cell.text, sentences[cell.sentence].text,
                                                                      vocabulary):
                cells.append(CompareCell(aspect, cell.text.strip(), sentences[cell.sentence]))
            else:
                rejected += 1  # the cited sentence does not exist or does not say this: never shown as stated
                cells.append(CompareCell(aspect, NOT_STATED))
        return CompareRow(paper.id, paper.title, tuple(cells)), rejected, result.usage, result.requests
