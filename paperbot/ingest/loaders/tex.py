"""Make TeX in titles and abstracts readable: H$_2$O -> H₂O, MoE$^2$ -> MoE², \\alpha -> α, 96.7\\% -> 96.7%."""

from __future__ import annotations

import re

from pylatexenc.latex2text import LatexNodes2Text

_SUB = str.maketrans("0123456789+-=()aeoxhklmnpst", "₀₁₂₃₄₅₆₇₈₉₊₋₌₍₎ₐₑₒₓₕₖₗₘₙₚₛₜ")
_SUP = str.maketrans("0123456789+-=()in", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻⁼⁽⁾ⁱⁿ")
# TeX scripts one token unless braced: n^2) is n² followed by ")", n^{2k} is both characters.
_SCRIPT = re.compile(r"([_^])(?:\{([0-9A-Za-z+\-=()]+)\}|([0-9A-Za-z+\-=()]))")
# Inline math as TeX writers type it: "$" not escaped, no space just inside either "$", not closed before a
# digit; so prices ("costs $5 and $10") are left alone.
_MATH = re.compile(r"(?<![\\$])\$(?=\S)([^$]+?)(?<=\S)\$(?!\d)")
# TeX swallows the space after a control word ("2-4$\times$ with" -> "2-4×with"); an empty group keeps it.
_CONTROL_WORD_BEFORE_SPACE = re.compile(r"(\\[A-Za-z]+)(?=\s)")
_UNESCAPED_PERCENT = re.compile(r"(?<!\\)%")
# Prose characters TeX reads as syntax (alignment "&", non-breaking "~" for "about", a "$" left after the math
# above, as in a price): kept as they were typed.
_KEPT = {"&": "\ue000", "~": "\ue001", "$": "\ue002"}
_KEPT_RE = re.compile(r"(?<!\\)[&~$]")
# Scripts typed without "$" as plain-text writers do: H_2O (an underscore after a capital, before a capital or
# the end of the word; snake_case names have lower case or more letters around it), n^2, 10^9.
_PLAIN_SUB = re.compile(r"(?<=[A-Z])_(\d{1,2})(?![a-z0-9_])")
_PLAIN_SUP = re.compile(r"(?<=[A-Za-z0-9)])\^(\d{1,2})(?![\w.])")
_converter = LatexNodes2Text(math_mode="text")


_TEX_QUOTES = re.compile(r"``(.+?)''")


def _scripts(math: str) -> str:
    def replace(match: re.Match[str]) -> str:
        table = _SUB if match.group(1) == "_" else _SUP
        body = match.group(2) or match.group(3)
        converted = body.translate(table)
        # Keep the plain form when a character has no Unicode sub/superscript.
        if any(ch == orig for ch, orig in zip(converted, body) if not ch.isspace()):
            return match.group(0)
        return converted

    return _SCRIPT.sub(replace, math)


def readable_tex(text: str) -> str:
    """Only touches text that looks like TeX, so ordinary titles and abstracts pass through unchanged; the spaces
    around converted TeX are kept."""
    if "``" in text:  # TeX's quotes, typed even where nothing else is TeX
        text = _TEX_QUOTES.sub(r"“\1”", text)
    if "_" in text or "^" in text:
        text = _PLAIN_SUB.sub(lambda m: m.group(1).translate(_SUB), text)
        text = _PLAIN_SUP.sub(lambda m: m.group(1).translate(_SUP), text)
    if "$" not in text and "\\" not in text:
        return text
    text = _MATH.sub(lambda m: _scripts(m.group(1)), text)
    if "\\" in text:
        protected = _KEPT_RE.sub(lambda m: _KEPT[m.group()], text)
        # In TeX '%' starts a comment, so an unescaped '5%' would cut the rest of the text away.
        protected = _UNESCAPED_PERCENT.sub(r"\\%", protected)
        protected = _CONTROL_WORD_BEFORE_SPACE.sub(r"\1{}", protected)
        try:
            converted = _converter.latex_to_text(protected)
        except Exception:  # noqa: BLE001 - text we cannot convert is still usable text
            return text
        for char, placeholder in _KEPT.items():
            converted = converted.replace(placeholder, char)
        text = converted
    return text
