"""Make TeX in titles readable: H$_2$O -> H₂O, MoE$^2$ -> MoE², \\alpha -> α."""

from __future__ import annotations

import re

from pylatexenc.latex2text import LatexNodes2Text

_SUB = str.maketrans("0123456789+-=()aeoxhklmnpst", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₒₓₕₖₗₘₙₚₛₜ")
_SUP = str.maketrans("0123456789+-=()in", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁱⁿ")
_SCRIPT = re.compile(r"([_^])\{?([0-9A-Za-z+\-=()]+)\}?")
_MATH = re.compile(r"\$([^$]+)\$")
_converter = LatexNodes2Text(math_mode="text")


def _scripts(math: str) -> str:
    def replace(match: re.Match[str]) -> str:
        table = _SUB if match.group(1) == "_" else _SUP
        body = match.group(2)
        converted = body.translate(table)
        # Keep the plain form when a character has no Unicode sub/superscript.
        if any(ch == orig for ch, orig in zip(converted, body) if not ch.isspace()):
            return ("_" if match.group(1) == "_" else "^") + body
        return converted

    return _SCRIPT.sub(replace, math)


def readable_tex(text: str) -> str:
    """Only touches text that looks like TeX, so ordinary titles pass through unchanged."""
    if "$" not in text and "\\" not in text:
        return text
    text = _MATH.sub(lambda m: _scripts(m.group(1)), text)
    if "\\" in text:
        try:
            text = _converter.latex_to_text(text)
        except Exception:  # noqa: BLE001 - a title we cannot convert is still a usable title
            return text
    return text
