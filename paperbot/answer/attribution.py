"""Post-hoc attribution: every sentence of a model's answer scored against every shown paper, its keys kept, corrected,
added or flagged, so that a careless or small model cannot leave a claim with a missing or wrong citation."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from paperbot.answer.citations import cited_keys, clean_keys
from paperbot.config import Settings
from paperbot.support.scorer import SupportScorer
from paperbot.text.sentences import sentence_spans
from paperbot.text.terms import Vocabulary, terms, weighted_coverage
from paperbot.types import Answer, AttributionSummary, Evidence, SentenceOrigin, SentenceSupport

# A sentence with fewer distinct content terms than this states nothing checkable ("In summary,", "See [P1].");
# the same rule citations.support uses for uncited sentences.
MIN_CLAIM_TERMS = 3
# A piece that is only key groups ("[P1]." after the full stop) belongs to the sentence before it: the same rule
# (and pattern) as citations.answer_sentences, so both read the same sentences.
_ONLY_KEYS = re.compile(r"^(\s*\[\s*P\d+(?:\s*[,;]\s*P\d+)*\s*\]\s*[.;,]?)+\s*$")
# Where a key group goes in a sentence: before its closing punctuation and quotes ("claim [P2].").
_TAIL = re.compile(r"""(\s*[.!?;:]*["'”’)\]]*\s*)$""")
_LIST_MARK = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s*")


@dataclass(frozen=True)
class AttributionPolicy:
    """How sure attribution must be before it adds or changes a key, and what it does with unsupported sentences.
    Values from Settings (their descriptions say how each was chosen): `from_settings` builds it."""

    margin: float  # "clearly supports": score >= the scorer's threshold + margin
    gap: float  # papers that clearly support a sentence within this of the best one: ambiguous
    unsupported: Literal["flag", "drop"]
    # Question focus: a small model writes a sentence about every paper it is shown, most of them not what the question
    # asks about. A shown paper is off-question when it covers less of the question's terms (question_focus) than
    # `focus` times the best shown paper does, or less than `focus_floor`; a supported sentence whose every key is such
    # a paper is off-question: kept (marked) or dropped. 0 and 0: nothing is off-question.
    focus: float
    focus_floor: float
    off_question: Literal["keep", "drop"]
    # An answer is declined when fewer than this share of its claims are supported and on the question (0: only an
    # answer whose every claim was dropped is declined).
    min_supported: float
    # Re-keying focus: the check adds or substitutes a key only for a paper the question is about (covering at least
    # `rekey_focus` times the best shown paper's share of the question's terms, and at least `rekey_floor`). A
    # sentence only an off-question paper states is flagged instead: a small model that wrote about the wrong paper
    # (or cited the right one for another paper's claim) must not have that paper's key put on its answer.
    rekey_focus: float
    rekey_floor: float
    # The same by meaning (semantic_focus): at least `rekey_semantic` times the best shown paper's closest sentence to
    # the question. A paraphrased question shares few terms with any paper, so term focus cannot tell which one it
    # asks about; sentence vectors can.
    rekey_semantic: float

    @classmethod
    def from_settings(cls, settings: Settings, *, focused: bool) -> AttributionPolicy:
        """focused False: no question focus and no minimum share of supported claims (they were fitted on a small
        model's compact-prompt answers only; settings.focus_scope says which answers get them)."""
        return cls(margin=settings.attribution_margin, gap=settings.attribution_gap, unsupported=settings.unsupported,
                   focus=settings.attribution_focus if focused else 0.0,
                   focus_floor=settings.attribution_focus_floor if focused else 0.0,
                   off_question=settings.off_question, min_supported=settings.min_supported if focused else 0.0,
                   rekey_focus=settings.attribution_rekey_focus if focused else 0.0,
                   rekey_floor=settings.attribution_rekey_floor if focused else 0.0,
                   rekey_semantic=settings.attribution_rekey_semantic if focused else 0.0)


@dataclass(frozen=True)
class Attribution:
    """The checked answer: its text (final keys, dropped sentences gone), a verdict per sentence, and a summary."""

    text: str
    sentences: tuple[SentenceSupport, ...]
    summary: AttributionSummary


@dataclass(frozen=True)
class _Piece:
    """One answer sentence, where it stands in the text, and the (shown) keys the model gave it."""

    start: int
    end: int
    text: str
    keys: tuple[str, ...]


def _pieces(text: str) -> list[_Piece]:
    """The sentences citations.answer_sentences reads, with their character spans in `text`."""
    out: list[_Piece] = []
    offset = 0
    for line in text.splitlines(keepends=True):
        for start, end in sentence_spans(line.rstrip("\r\n")):
            raw = line[start:end]
            lead = len(raw) - len(raw.lstrip())
            piece = raw.strip()
            begin, finish = offset + start + lead, offset + start + lead + len(piece)
            keys = tuple(cited_keys(piece))
            if out and _ONLY_KEYS.match(piece):
                prev = out[-1]
                out[-1] = _Piece(prev.start, finish, text[prev.start:finish],
                                 tuple(dict.fromkeys(prev.keys + keys)))
                continue
            out.append(_Piece(begin, finish, piece, keys))
        offset += len(line)
    return out


def _with_keys(sentence: str, keys: Sequence[str]) -> str:
    """The sentence with its key groups replaced by one group of `keys`, placed before the closing punctuation."""
    bare, _ = clean_keys(sentence, set())
    bare = bare.strip()
    if not keys:
        return bare
    tail = _TAIL.search(bare)
    cut = tail.start() if tail else len(bare)
    return f"{bare[:cut].rstrip()} [{', '.join(keys)}]{bare[cut:].strip()}"


def _claim(sentence: str) -> str:
    return clean_keys(sentence, set())[0].strip()


def question_focus(question: str, evidence: Sequence[Evidence], vocabulary: Vocabulary) -> dict[str, float]:
    """How much each shown paper is about the question: the IDF-weighted share of the question's terms its title and
    shown sentences use (0..1), by key."""
    wanted = terms(question)
    return {e.key: weighted_coverage(wanted, set(terms(f"{e.title} {e.text}")), vocabulary) for e in evidence}


def semantic_focus(question: str, evidence: Sequence[Evidence],
                   vectors: Callable[[Sequence[str]], Sequence[Sequence[float]]]) -> dict[str, float]:
    """How close each shown paper comes to the question in meaning: the best cosine between the question and its title
    or any shown sentence, by key. `vectors`: the sentence embedder (its vectors need not be normalised)."""
    texts = [question, *(t for e in evidence for t in (e.title, *e.sentences))]
    matrix = np.asarray(vectors(texts), dtype=np.float64)
    matrix /= np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
    cosines = matrix[1:] @ matrix[0]
    out, start = {}, 0
    for e in evidence:
        count = 1 + len(e.sentences)
        out[e.key] = float(cosines[start:start + count].max())
        start += count
    return out


def attribute(
    text: str, evidence: Sequence[Evidence], scorer: SupportScorer, policy: AttributionPolicy,
    *, distrust: Callable[[str], bool] = lambda sentence: False, leave_alone: Callable[[str], bool] = lambda s: False,
    focus: Mapping[str, float] | None = None, semantic: Mapping[str, float] | None = None,
) -> Attribution:
    """Check every sentence of `text` (whose keys are already only shown keys) against every paper in `evidence`.

    `distrust`: sentences never presented as supported or cited (e.g. recited instructions): flagged, keys removed.
    `leave_alone`: sentences that claim nothing by design (the abstention sentinel).
    `focus`: question_focus() of the shown papers; with the policy's focus settings it marks off-question sentences
    and limits which papers' keys the check may add (`rekey_focus`, `rekey_floor`). `semantic`: semantic_focus() of
    the shown papers, which limits them too (`rekey_semantic`); None: that limit is off."""
    by_key = {e.key: e for e in evidence}
    keys = list(by_key)
    pieces = _pieces(text)
    # One batch for the scorer: every checkable sentence against each paper alone, and against the union of the
    # papers it cites when it cites several (a multi-paper claim is supported only by their sentences together).
    claims: list[str] = []
    sources: list[list[str]] = []
    rows: list[tuple[dict[str, int], int | None] | None] = []
    for piece in pieces:
        claim = _claim(piece.text)
        if distrust(piece.text) or leave_alone(piece.text) or len(set(terms(claim))) < MIN_CLAIM_TERMS:
            rows.append(None)
            continue
        per_paper = {}
        for key in keys:
            per_paper[key] = len(claims)
            claims.append(claim)
            sources.append([by_key[key].title, *by_key[key].sentences])
        union = None
        if len(piece.keys) > 1:
            union = len(claims)
            claims.append(claim)
            sources.append([s for key in piece.keys for s in (by_key[key].title, *by_key[key].sentences)])
        rows.append((per_paper, union))
    scores = scorer.score(claims, sources) if claims else []
    if len(scores) != len(claims):
        raise ValueError(f"support scorer {scorer.name!r} returned {len(scores)} scores for {len(claims)} claims")
    off_topic = (_off_question(focus or {}, policy.rekey_focus, policy.rekey_floor)
                 | _off_question(semantic or {}, policy.rekey_semantic, 0.0))

    verdicts: list[SentenceSupport] = []
    for piece, row in zip(pieces, rows, strict=True):
        if row is None:
            verdicts.append(_unchecked(piece, distrust(piece.text)))
            continue
        per_paper, union = row
        paper_scores = {key: float(scores[index]) for key, index in per_paper.items()}
        cited = float(scores[union]) if union is not None else (paper_scores[piece.keys[0]] if piece.keys else 0.0)
        verdicts.append(_decide(piece, paper_scores, cited, scorer.threshold, policy, off_topic))

    if policy.unsupported == "drop":
        verdicts = [replace(v, dropped=True) if v.origin == "unsupported" else v for v in verdicts]
    off = _off_question(focus or {}, policy.focus, policy.focus_floor)
    verdicts = [replace(v, off_question=True, dropped=v.dropped or policy.off_question == "drop")
                if v.supported and v.keys and v.origin in _CLAIMS and set(v.keys) <= off else v for v in verdicts]
    final = _rebuild(text, pieces, verdicts)
    return Attribution(final, tuple(verdicts), _summary(verdicts, scorer.name, policy.unsupported))


_CLAIMS = ("cited", "attributed", "corrected")  # supported sentences with keys: the ones focus can mark off-question


def _off_question(focus: Mapping[str, float], share: float, floor: float) -> set[str]:
    """The shown papers covering less of the question than `share` times the best one, or less than `floor`."""
    if not focus:
        return set()
    floor = max(floor, share * max(focus.values()))
    return {key for key, value in focus.items() if value < floor}


def declines(sentences: Sequence[SentenceSupport], policy: AttributionPolicy) -> str | None:
    """Why a checked answer must be declined (its claims do not stand on these papers), or None when it stands."""
    claims = [s for s in sentences if s.origin not in (None, "no claim")]
    if not claims:
        return None
    standing = [s for s in claims if not s.dropped and not s.off_question and s.origin != "unsupported"]
    if not standing and any(s.dropped for s in sentences):
        if all(s.off_question for s in claims if s.dropped):
            return "No sentence of the model's answer is about what the question asks"
        return "No sentence of the model's answer is supported by these papers"
    supported = sum(1 for s in standing if s.supported)
    if supported < policy.min_supported * len(claims):
        return f"Only {supported} of the model's {len(claims)} claims are supported by these papers and on the question"
    return None


def _unchecked(piece: _Piece, distrusted: bool) -> SentenceSupport:
    if distrusted:
        return SentenceSupport(_with_keys(piece.text, ()), (), 0.0, False, model_keys=piece.keys,
                               origin="unsupported")
    return SentenceSupport(piece.text, piece.keys, 1.0, True, model_keys=piece.keys, origin="no claim")


def _decide(piece: _Piece, scores: dict[str, float], cited: float, threshold: float,
            policy: AttributionPolicy, off_topic: set[str]) -> SentenceSupport:
    model = piece.keys

    def verdict(origin: SentenceOrigin, keys: tuple[str, ...], score: float, supported: bool,
                alternatives: tuple[str, ...] = ()) -> SentenceSupport:
        sentence = piece.text if keys == model else _with_keys(piece.text, keys)
        return SentenceSupport(sentence, keys, round(score, 3), supported, model_keys=model, origin=origin,
                               alternatives=alternatives)

    if model and cited >= threshold:
        return verdict("cited", model, cited, True)
    clearly = threshold + policy.margin
    ranked = sorted(scores.items(), key=lambda item: (-item[1], int(item[0][1:])))
    best_score = ranked[0][1] if ranked else 0.0
    strong = tuple(key for key, score in ranked if score >= clearly and score >= best_score - policy.gap)
    if len(strong) == 1 and strong[0] in off_topic:
        # Only a paper the question is not about states it: flagged, that paper named, no key of its put on.
        flagged = verdict("unsupported", model, cited if model else best_score, False, strong)
        return replace(flagged, off_question=True)
    if len(strong) == 1:
        return verdict("corrected" if model else "attributed", strong, best_score, True)
    if len(strong) > 1:
        return verdict("ambiguous", model, cited if model else best_score, False, strong)
    return verdict("unsupported", model, cited if model else best_score, False)


def _rebuild(text: str, pieces: Sequence[_Piece], verdicts: Sequence[SentenceSupport]) -> str:
    """The text with each sentence replaced by its checked form. A dropped sentence goes with the spaces before it;
    a line it leaves empty (or holding only a list mark) goes too. Unchanged sentences are copied byte for byte."""
    out: list[str] = []
    last = 0
    for piece, item in zip(pieces, verdicts, strict=True):
        between = text[last:piece.start]
        if item.dropped:
            # Newlines inside a dropped piece are kept, so the lines below still line up with the original ones.
            out += [between.rstrip(" \t"), "\n" * text.count("\n", piece.start, piece.end)]
        else:
            out += [between, item.sentence]
        last = piece.end
    out.append(text[last:])
    if not any(item.dropped for item in verdicts):
        return "".join(out).strip()
    kept = []
    for old, new in zip(text.split("\n"), "".join(out).split("\n"), strict=True):
        if new != old and old.strip() and not _LIST_MARK.sub("", new).strip():
            continue
        indent = old[:len(old) - len(old.lstrip())]
        kept.append(indent + new.lstrip() if new != old else old)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


def _summary(verdicts: Sequence[SentenceSupport], scorer: str, policy: str) -> AttributionSummary:
    def count(origin: str) -> int:
        return sum(1 for v in verdicts if v.origin == origin)

    model_keys = tuple(dict.fromkeys(k for v in verdicts for k in v.model_keys))
    final_keys = tuple(dict.fromkeys(k for v in verdicts if not v.dropped for k in v.keys))
    return AttributionSummary(
        scorer=scorer, unsupported_policy=policy, cited=count("cited"), attributed=count("attributed"),
        corrected=count("corrected"), ambiguous=count("ambiguous"), unsupported=count("unsupported"),
        dropped=sum(1 for v in verdicts if v.dropped), off_question=sum(1 for v in verdicts if v.off_question),
        model_keys=model_keys,
        attributed_keys=tuple(k for k in final_keys if k not in model_keys),
        removed_keys=tuple(k for k in model_keys if k not in final_keys),
    )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def describe(answer: Answer) -> str:
    """One plain line for every front end: what the check changed ("checked (lexical): 2 keys attributed, ...")."""
    a = answer.attribution
    if a is None:
        return ""
    if a.model_declined:
        return (f"checked ({a.scorer}): the model declined, but the papers answer the question: "
                "their sentences are quoted instead")
    added = sum(len(s.attributed_keys) for s in answer.sentences if s.origin == "attributed")
    parts = [f"{_plural(added, 'key')} attributed" if a.attributed else "",
             f"{a.corrected} corrected" if a.corrected else "",
             f"{_plural(a.ambiguous, 'sentence')} ambiguous" if a.ambiguous else "",
             f"{_plural(a.unsupported, 'sentence')} unsupported" if a.unsupported else "",
             f"{_plural(a.off_question, 'sentence')} off the question" if a.off_question else ""]
    if a.dropped:  # said once, after the last kind of sentence that can be dropped
        parts[-1 if a.off_question else -2] += f" ({a.dropped} dropped)"
    changes = ", ".join(p for p in parts if p) or "nothing to change"
    return f"checked ({a.scorer}): {changes}; {_plural(a.cited, 'sentence')} kept the model's keys"
