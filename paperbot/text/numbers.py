"""Numbers stated in a text, and the numbers of a generated text that its source never states."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# "1,024", "3.5", "20", "0.3": digits with optional thousands groups and decimals; "4-5x" gives 4 and 5.
_NUMBER = re.compile(r"(?<![\w.])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,]*\d)|\d+(?:\.\d+)?")


def _canonical(raw: str) -> str:
    whole, _, fraction = raw.replace(",", "").partition(".")
    whole, fraction = whole.lstrip("0") or "0", fraction.rstrip("0")
    return f"{whole}.{fraction}" if fraction else whole


def numbers_in(text: str) -> list[str]:
    """Every number in `text`, canonical ("1,000" -> "1000", "2.50" -> "2.5"), in order, repeats kept.
    NFKC first, so H₂O reads H2O and full-width digits count."""
    return [_canonical(m.group(0)) for m in _NUMBER.finditer(unicodedata.normalize("NFKC", text))]


def unsupported_numbers(generated: Iterable[str], source: str) -> tuple[str, ...]:
    """Numbers in the generated texts that `source` never states, each once, in order of appearance."""
    stated = set(numbers_in(source))
    missing: dict[str, None] = {}
    for text in generated:
        for number in numbers_in(text):
            if number not in stated:
                missing.setdefault(number)
    return tuple(missing)
