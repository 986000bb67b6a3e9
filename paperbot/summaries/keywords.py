"""Distinctive keywords of each group of papers by class-based TF-IDF (c-TF-IDF, as in BERTopic), over words and
two-word phrases: what names a theme when there is no LLM."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence

from paperbot.text.stopwords import STOPWORDS
from paperbot.text.terms import Vocabulary, terms
from paperbot.types import Paper

_SEGMENT = re.compile(r"[.,;:!?()\[\]{}\"“”]|\s[-–—]\s")
_WORD = re.compile(r"[^\W\d_][\w-]*[^\W_]|[^\W\d_]")
# Words every abstract uses to talk about itself: they name no theme.
_BOILERPLATE = frozenset("""
propose proposed proposes paper approach approaches method methods result results show shows shown novel work
present presents introduce introduces purpose based using use used new framework demonstrate demonstrates significantly
achieve achieves existing state-of-the-art art performance experiments extensive study various well also
across usually often typically particularly specifically especially generally respectively overall even
small smaller large larger different several many multiple much able first second two three high low better best et al
significant substantial key important effective efficient efficiently including further however moreover thus
""".split())


def _singular(stem: str) -> str:
    return stem[:-1] if len(stem) > 3 and stem.endswith("s") and not stem.endswith("ss") else stem


def _phrases(text: str) -> list[tuple[str, str]]:
    """(key, surface) of every content word and every two adjacent content words within a clause."""
    found: list[tuple[str, str]] = []
    for segment in _SEGMENT.split(unicodedata.normalize("NFKC", text)):
        run: list[tuple[str, str]] = []
        for word in _WORD.findall(segment):
            lower = word.casefold()
            if lower in STOPWORDS or lower in _BOILERPLATE or len(lower) < 2:
                run = []
                continue
            stems = terms(lower)
            if not stems:
                run = []
                continue
            # "long-context" stays one unit; acronym plurals fold ("GPUs" is "GPU"), which the stemmer leaves alone.
            current = ("-".join(_singular(stem) for stem in stems), word)
            found.append(current)
            if run:
                found.append((f"{run[-1][0]} {current[0]}", f"{run[-1][1]} {word}"))
            run = [current]
    return found


def _display(surfaces: Counter[str]) -> str:
    """The most common written form, preferring the one with capitals on ties ("KV cache" over "kv cache")."""
    return max(surfaces.items(), key=lambda item: (item[1], item[0] != item[0].lower()))[0]


def _weight(inside: float, outside: float, key: str) -> float:
    """How much likelier a phrase is in the theme than overall (the IDF-like part), damped by the share of the
    theme's papers using it (the TF-like part, square-rooted so that "language models", in most papers of most
    themes, does not beat a phrase only this theme uses); two-word phrases name a theme better."""
    return math.sqrt(inside) * math.log(inside / outside) * (1.2 if " " in key else 1.0)


def _background_rate(key: str, background: Vocabulary) -> float:
    """Share of the collection's texts that could hold the phrase: its rarest word's (a bound for two words)."""
    def word_rate(word: str) -> float:
        parts = word.split("-")
        return min(max(background.df.get(p, 0), background.df.get(p + "s", 0)) for p in parts) / max(1, background.n)

    return min(word_rate(word) for word in key.split(" "))


def _take(pool: Sequence[str], chosen: list[str], used: set[str], top: int) -> None:
    """Add phrases from `pool`, best first, that share no word with those chosen, until there are `top`."""
    for key in pool:
        if len(chosen) == top:
            return
        words = set(key.split())
        if not words & used:
            chosen.append(key)
            used.update(words)


def theme_keywords(groups: Sequence[Sequence[Paper]], *, top: int = 3,
                   background: Vocabulary | None = None) -> list[tuple[str, ...]]:
    """For each group, the `top` phrases most frequent in its papers and rare in the others, without repeating
    a word. A phrase counts once per paper; in groups of three or more papers it must occur in two of them.
    With a `background` (the whole collection's vocabulary), a phrase common everywhere ("across", "usually")
    is not distinctive even when the few papers digested happen to use it in one group only."""
    presence: list[Counter[str]] = []
    surfaces: dict[str, Counter[str]] = {}
    for papers in groups:
        counts: Counter[str] = Counter()
        for paper in papers:
            seen = set()
            for key, surface in _phrases(f"{paper.title}. {paper.abstract}"):
                surfaces.setdefault(key, Counter())[surface] += 1
                seen.add(key)
            counts.update(seen)
        presence.append(counts)
    overall: Counter[str] = Counter()
    for counts in presence:
        overall.update(counts)
    n_papers = sum(len(papers) for papers in groups) or 1
    keywords = []
    for papers, counts in zip(groups, presence):
        size = len(papers) or 1
        floor = 2 if size >= 3 else 1
        def outside(key: str) -> float:
            local = (overall[key] + 1) / (n_papers + 1)
            return max(local, _background_rate(key, background)) if background is not None else local

        scored = sorted((_weight(count / size, outside(key), key), key) for key, count in counts.items()
                        if count >= floor and count / size > outside(key))
        chosen: list[str] = []
        used: set[str] = set()
        # Two-word phrases first ("KV cache", "speculative decoding" say more than "attention", "translates");
        # single words fill in only when fewer than two phrases distinguish the theme.
        ranked = [key for _, key in reversed(scored)]
        _take([key for key in ranked if " " in key], chosen, used, top)
        if len(chosen) < 2:
            _take([key for key in ranked if " " not in key], chosen, used, top)
        keywords.append(tuple(_display(surfaces[key]) for key in chosen))
    return keywords
