"""Sentence roles in an abstract from cue phrases: which sentences state the problem, the approach, the results
and the limitations (extractive summaries use them; nothing here is learned)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from paperbot.summary_types import SentenceRef

ROLES_VERSION = "roles2"  # bump when the cues change: cached extractive summaries carry it

APPROACH = re.compile(
    r"\b(we|this (paper|work|study|article)|our (paper|work))\s+(\w+ly\s+)?"
    r"(propose|introduce|present|develop|design|devise|build|describe|offer|put forward|leverage|use|employ)s?\b"
    r"|\b(proposed|novel|called|named|dubbed)\b|\bour (method|approach|framework|system|technique|model)\b",
    re.IGNORECASE)
PROBLEM = re.compile(
    r"\b(however|but|challeng\w*|problems?|bottlenecks?|issues?|suffers?|costly|expensive|prohibitive\w*|"
    r"struggles?|difficult\w*|hinders?|lacks?|limited|limits|remains?|demanding|intensive|burden\w*|"
    r"inefficien\w*|slow|overheads?)\b|\b(high|increased|significant|substantial|growing) (costs?|latency|memory|"
    r"compute|computation|overheads?)\b", re.IGNORECASE)
RESULT = re.compile(
    r"\b(outperform\w*|achiev\w*|reduc\w*|improv\w*|speed-?ups?|faster|accelerat\w*|surpass\w*|yields?|"
    r"attains?|boosts?|saves?|savings?|lowers?|higher|up to|results? (show|demonstrate|indicate)|"
    r"experiments? (show|demonstrate))\b|\d\s*(%|x|×)", re.IGNORECASE)
LIMITATION = re.compile(
    r"\blimitations?\b|\bhowever,?\s+(our|we|this (method|approach|work)|the proposed)\b"
    r"|\b(left|leave|remains?) (for|to|as) future\b", re.IGNORECASE)
# Weaker cues, a limitation only in a sentence about the paper's own work ("does not need X" is a strength).
OWN_SHORTCOMING = re.compile(r"\b(fails?|failing) to\b|\bat the (cost|expense) of\b", re.IGNORECASE)
OWN_WORK = re.compile(r"\b(our|we|proposed|this (method|approach|work))\b", re.IGNORECASE)
# "addresses the limitations of existing methods" is about other work: the problem, not a limitation.
OTHERS_LIMITATION = re.compile(
    r"\b(address\w*|overcom\w*|mitigat\w*|alleviat\w*|tackl\w*|resolv\w*|remed\w*|solv\w*)\b[^.]{0,40}\blimitations?\b"
    r"|\blimitations? (of|in) (existing|prior|previous|current|conventional|traditional|standard)\b"
    r"|\bcapabilities and limitations\b"
    r"|\b(existing|current|prior|previous|conventional|traditional|other)\b[^.]{0,40}\bfail", re.IGNORECASE)
_DIGIT = re.compile(r"\d")


@dataclass(frozen=True)
class Roles:
    """Sentence indices per role; problem/approach/limitations hold at most one, results up to `max_results`."""

    problem: tuple[int, ...]
    approach: tuple[int, ...]
    results: tuple[int, ...]
    limitations: tuple[int, ...]


def _hits(pattern: re.Pattern[str], text: str) -> int:
    return len(pattern.findall(text))


def assign_roles(sentences: Sequence[SentenceRef], *, max_results: int = 3, avoid: int | None = None) -> Roles:
    """Cue phrases and position decide: the approach is the first sentence saying what the paper does; the problem
    is the most problem-worded sentence before it; results are later sentences with outcome words and numbers;
    a limitation is a later sentence that turns on the paper's own work ("however, our ..."; "limitation").
    The approach is another sentence than `avoid` (the TL;DR, so the two do not repeat each other) when one says
    what the paper does, or failing that a later sentence about the paper's own work, or the next one without
    a result figure."""
    texts = [s.text for s in sentences]
    approaches = [i for i, t in enumerate(texts) if APPROACH.search(t)]
    approach = next((i for i in approaches if i != avoid), approaches[0] if approaches else None)
    if approach is not None and approach == avoid:
        # The sentence after a TL;DR that names the method usually says how it works ("Specifically, X ...").
        following = [i for i in range(avoid + 1, len(texts))
                     if not (RESULT.search(texts[i]) and _DIGIT.search(texts[i])) and not LIMITATION.search(texts[i])]
        approach = next((i for i in following if OWN_WORK.search(texts[i])), following[0] if following else approach)
    before = range(approach) if approach is not None else range(len(texts))
    problem_scores = [(_hits(PROBLEM, texts[i]), -i) for i in before if PROBLEM.search(texts[i])]
    problem = -max(problem_scores)[1] if problem_scores else None

    after = [i for i in range(len(texts)) if approach is None or i >= approach]
    limitations = [i for i in after if i != approach and not OTHERS_LIMITATION.search(texts[i]) and (
        LIMITATION.search(texts[i]) or (OWN_SHORTCOMING.search(texts[i]) and OWN_WORK.search(texts[i])))]
    limitation = limitations[0] if limitations else None

    taken = {problem, limitation}
    # The approach sentence counts as a result only when it states a number ("... X, which is 3x faster").
    candidates = [i for i in after if i not in taken and RESULT.search(texts[i])
                  and (i != approach or _DIGIT.search(texts[i]))]
    # A result with a number beats one without; then more outcome words; then earlier.
    ranked = sorted(candidates, key=lambda i: (not _DIGIT.search(texts[i]), -_hits(RESULT, texts[i]), i))
    results = sorted(ranked[:max_results])

    def one(index: int | None) -> tuple[int, ...]:
        return () if index is None else (index,)

    return Roles(one(problem), one(approach), tuple(results), one(limitation))
