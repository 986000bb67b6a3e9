"""Citation keys in answers: parse them, drop keys that were never shown, map the rest to papers, score support."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from paperbot.support.scorer import LexicalSupportScorer, SupportScorer
from paperbot.text.sentences import sentence_spans
from paperbot.text.terms import Vocabulary, terms
from paperbot.types import Citation, Evidence, SentenceSupport

# [P1], [P1, P3], [P1; P2], [P1][P2]; keys are what the prompt shows. Models also write odd forms, which must not
# stay in an answer as text: any case ([p1]), spaces anywhere inside ("[P1" + 45 spaces + "]", "[ P1 ; p2 ]"),
# full-width or CJK brackets (［P1］, 【P1】, 〔P1〕), full-width letters and digits (Ｐ１), "and", "&" or "、"
# between keys. Every form is read as a group; the answer shows it as [P1, P2] (or drops it: see _clean).
_OPENING, _CLOSING = "[［【〔〖⟦", "]］】〕〗⟧"
_OPEN, _CLOSE = re.escape(_OPENING), re.escape(_CLOSING)  # for character classes
_ANY_KEY = r"[PpＰｐ][ \t]?[0-9０-９]{1,6}"
_SEP = r"\s*(?:[,;，；、&]|and)\s*"
_KEYS = rf"{_ANY_KEY}(?:{_SEP}{_ANY_KEY})*"
_GROUP = re.compile(rf"[{_OPEN}]\s*({_KEYS})\s*[{_CLOSE}]")
_SPACED_GROUP = re.compile(rf"([ \t]*)[{_OPEN}]\s*({_KEYS})\s*[{_CLOSE}]")
_KEY = re.compile(_ANY_KEY)
_ONLY_KEYS = re.compile(rf"^(\s*[{_OPEN}]\s*{_KEYS}\s*[{_CLOSE}]\s*[.;,]?)+\s*$")
# The end of a text that more text could still turn into a group: an opening bracket, keys, separators, spaces.
_PARTIAL_GROUP = re.compile(rf"[{_OPEN}]\s*(?:{_KEYS})?(?:\s*(?:[,;，；、&]|a|an|and))?\s*"
                            r"(?:[PpＰｐ][ \t]?[0-9０-９]{0,6})?\Z")


def _keys(group: str) -> list[str]:
    """The keys of a group as the prompt wrote them: "p 2", "Ｐ２" and "P02" are all "P2"."""
    return [f"P{int(unicodedata.normalize('NFKC', key)[1:])}" for key in _KEY.findall(group)]


def quote_keys(text: str) -> str:
    """Source text with key-like groups ("[P1]") turned into "(P1)": a key written in an abstract, by chance or
    planted, is data, and must never be read back as a citation of whichever paper holds that key in an answer."""
    return _GROUP.sub(lambda match: f"({', '.join(_keys(match.group(1)))})", text)


def cited_keys(text: str) -> list[str]:
    return list(dict.fromkeys(k for group in _GROUP.findall(text) for k in _keys(group)))


def references(text: str, evidence: Sequence[Evidence]) -> tuple[Citation, ...]:
    by_key = {e.key: e for e in evidence}
    return tuple(
        Citation(key=k, paper_id=by_key[k].paper_id, title=by_key[k].title, url=by_key[k].url, year=by_key[k].year)
        for k in cited_keys(text) if k in by_key
    )


def answer_sentences(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """Sentences with the keys they cite; a key group standing after the full stop belongs to the sentence before."""
    out: list[tuple[str, tuple[str, ...]]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        for start, end in sentence_spans(line):
            piece = line[start:end].strip()
            keys = tuple(cited_keys(piece))
            if out and _ONLY_KEYS.match(piece):
                prev, prev_keys = out[-1]
                out[-1] = (f"{prev} {piece}", tuple(dict.fromkeys(prev_keys + keys)))
                continue
            out.append((piece, keys))
    return out


def support(
    text: str, evidence: Sequence[Evidence], vocabulary: Vocabulary, scorer: SupportScorer | None = None,
) -> tuple[SentenceSupport, ...]:
    """Each answer sentence scored against the sentences (and titles) of the sources it cites, in one batch."""
    scorer = scorer or LexicalSupportScorer(vocabulary)
    by_key = {e.key: e for e in evidence}
    parsed = answer_sentences(text)
    claims, sources, positions = [], [], []
    scored: list[SentenceSupport | None] = []
    for sentence, keys in parsed:
        claim = _GROUP.sub(" ", sentence).strip()
        if not keys:
            # A sentence without a citation is unsupported when it claims something (has content words).
            scored.append(SentenceSupport(sentence, (), 0.0, supported=len(set(terms(claim))) < 3))
            continue
        cited = [by_key[key] for key in keys if key in by_key]
        positions.append(len(scored))
        scored.append(None)
        claims.append(claim)
        sources.append([s for item in cited for s in (item.title, *item.sentences)])
    if claims:
        for position, claim_terms, value in zip(positions, claims, scorer.score(claims, sources), strict=True):
            sentence, keys = parsed[position]
            value = 1.0 if not terms(claim_terms) else value
            scored[position] = SentenceSupport(sentence, keys, round(value, 3), supported=value >= scorer.threshold)
    return tuple(s for s in scored if s is not None)


class StreamingKeyFilter:
    """Cleans citation keys in a stream of deltas, holding back only what could still become a key group (an
    unfinished '[P1, ...' in any of the forms above) so output never shows a key that the final answer drops or
    rewrites: any split of a text into deltas gives what the whole text gives, up to `max_hold` characters of one
    unfinished group (beyond that it is released as text; answers are capped far below it)."""

    def __init__(self, shown: set[str], max_hold: int = 2000) -> None:
        self._shown = shown
        self._held = ""
        self._max_hold = max_hold
        self.removed = 0

    def feed(self, delta: str) -> str:
        # Complete groups are cleaned first, so what is held is decided on the cleaned text: a dropped "[P99]"
        # between "[" and "P2]" leaves a "[" that may still open a group.
        text = self._clean(self._held + delta)
        cut = max(text.rfind(bracket) for bracket in _OPENING)
        if cut != -1 and len(text) - cut <= self._max_hold and _PARTIAL_GROUP.match(text, cut):
            # Hold the spaces before the bracket too: a dropped key must not leave "claim ." behind.
            while cut > 0 and text[cut - 1] in " \t":
                cut -= 1
            ready, self._held = text[:cut], text[cut:]
        else:
            ready, self._held = text, ""
        # Trailing spaces wait for the next delta: it may start with a key that is going to be dropped.
        stripped = ready.rstrip(" \t")
        ready, self._held = stripped, ready[len(stripped):] + self._held
        return ready

    def flush(self) -> str:
        ready, self._held = self._clean(self._held), ""
        return ready

    def _clean(self, text: str) -> str:
        """Every group normalised or dropped, again until nothing changes: dropping one can join its neighbours
        into a new group ("[[P99]P98]" must not leave "[P98]"). A cleaned group is left as it is, so text cleaned
        before is cleaned again at no cost and without counting anything twice."""

        def fix(match: re.Match[str]) -> str:
            keys = _keys(match.group(2))
            valid = list(dict.fromkeys(k for k in keys if k in self._shown))
            self.removed += len(keys) - len([k for k in keys if k in self._shown])
            return f"{match.group(1)}[{', '.join(valid)}]" if valid else ""

        while True:
            cleaned = _SPACED_GROUP.sub(fix, text)
            if cleaned == text:  # every pass that changes something removes a group or makes one clean
                return cleaned
            text = cleaned


def clean_keys(text: str, shown: set[str]) -> tuple[str, int]:
    """Remove keys that were not shown (invented, or copied from an abstract); returns the text and how many."""
    keys = StreamingKeyFilter(shown)
    cleaned = keys.feed(text) + keys.flush()
    return cleaned, keys.removed

