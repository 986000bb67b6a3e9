"""Specific names in a question ("DeiT-S", "LLaMA-2", "H₂O") and whether a text uses them, in any of its spellings."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-./+]*[A-Za-z0-9+]|[A-Za-z0-9]")
_ALNUM = re.compile(r"[a-z0-9]+")
# A number with a unit or a multiplier is a quantity, not a name: 12B, 7b, 4x, 100ms, 8GB, 3.5GHz, 4-bit.
_QUANTITY = re.compile(r"^\d+(?:[.,]\d+)?-?(?:[a-z]{1,4}|[KMGT]Hz|FLOPs?|TOPS)$", re.IGNORECASE)
# An acronym's plural is the acronym ("GPUs" is found where a paper says "GPU").
_ACRONYM_PLURAL = re.compile(r"^([A-Z][A-Z0-9]+)s$")
_JOIN = 3  # "Llama 2 7B" spelled as three tokens still matches the name "Llama-2-7B"


def _fold(text: str) -> str:
    """NFKC (H₂O → H2O, full-width letters), case folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def name_key(name: str) -> str:
    """One spelling per name: letters and digits only, so LLaMA-2, Llama 2 and llama2 all become "llama2"."""
    return "".join(_ALNUM.findall(_fold(name)))


def _sentence_start(text: str, position: int) -> bool:
    before = text[:position].rstrip()
    return not before or before[-1] in ".?!:\"'("


def named_terms(question: str) -> list[str]:
    """Names, acronyms and model ids in a question ("BLEU", "WikiText-2", "LLaMA-65B", "Medusa").

    Specific names are what a near-miss question hinges on: a paper that never uses the name talks about the
    topic but cannot answer this question. Not names: a capitalised first word, quantities with units ("12B",
    "4x", "100ms"), and words that are only capitalised because they are plural acronyms ("GPUs" is "GPU").
    """
    question = unicodedata.normalize("NFKC", question)
    found = []
    for index, match in enumerate(_TOKEN.finditer(question)):
        word = match.group(0).rstrip(".")
        if _QUANTITY.match(word) or not any(ch.isalpha() for ch in word):
            continue
        plural = _ACRONYM_PLURAL.match(word)
        if plural:
            word = plural.group(1)
        inner_upper = any(ch.isupper() for ch in word[1:])
        letters_and_digits = any(ch.isdigit() for ch in word) and any(ch.isalpha() for ch in word)
        capitalised_inside = index > 0 and word[0].isupper() and not _sentence_start(question, match.start())
        if (inner_upper or letters_and_digits or capitalised_inside) and len(name_key(word)) > 1:
            found.append(word)
    return list(dict.fromkeys(found))


def spellings(text: str) -> set[str]:
    """Every name key the text can match: each run of 1..3 adjacent alphanumeric tokens joined, and the same
    without a plural "s", so "Llama 2", "LLaMA-2-7B" and "GPUs" in a paper match "llama2", "llama27b", "gpu"."""
    tokens = _ALNUM.findall(_fold(text))
    keys: set[str] = set()
    for start in range(len(tokens)):
        joined = ""
        for token in tokens[start:start + _JOIN]:
            joined += token
            keys.add(joined)
            if len(joined) > 2 and joined.endswith("s"):
                keys.add(joined[:-1])
    return keys


def found_names(names: Iterable[str], available: set[str]) -> list[str]:
    """The names whose key is among a text's spellings (a set from `spellings`)."""
    return [name for name in names if name_key(name) in available]
