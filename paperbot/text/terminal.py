"""Strings from data or a model made safe for a terminal: escape sequences and control characters removed."""

from __future__ import annotations

import re
import unicodedata

# No well-kept library does this whole job (strip-ansi & co. only drop CSI colour codes, and rich keeps ESC), so:
# every ESC- or C1-introduced sequence goes whole, not just its first byte, so nothing of it is left to be read as
# text: CSI (cursor moves, ESC[2J clears the screen), the string commands OSC (window titles, hyperlinks, clipboard
# writes), DCS, SOS, PM and APC up to their terminator (BEL or ST; unterminated, to the end of the text, as a
# terminal would swallow it), and the short ESC + final-byte forms.
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|\x1b[ -/]*[0-~]?"
)
_KEPT_CONTROLS = frozenset("\n\t")
# Cc: C0/C1 controls and DEL (carriage return too: it lets text overwrite a line); Cf: bidi overrides and
# isolates, zero-width characters; Cs: lone surrogates; Zl/Zp: line and paragraph separators.
_DROPPED = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# Characters json.dumps(ensure_ascii=False) leaves raw that a terminal may act on: C1 controls, format characters
# (bidi overrides), separators.
_JSON_RAW = re.compile("[\x7f-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u180e\u200b-\u200f\u2028-\u202e"
                       "\u2060-\u206f\ufeff\ufff9-\ufffb]")


def clean(text: object) -> str:
    """`text` (anything; str() is taken) with terminal escape sequences and control, format and separator
    characters removed; newlines and tabs are kept. Printable text comes back unchanged."""
    text = text if isinstance(text, str) else str(text)
    if text.isprintable():
        return text
    text = _SEQUENCE.sub("", text)
    return "".join(c for c in text if c in _KEPT_CONTROLS or unicodedata.category(c) not in _DROPPED)


def one_line(text: object) -> str:
    """clean(), with newlines and tabs made spaces: for a field of a table or a tab-separated line."""
    return re.sub(r"[\n\t]", " ", clean(text))


def escape_json(dumped: str) -> str:
    """JSON text (from json.dumps(..., ensure_ascii=False)) with the characters it leaves raw that a terminal may
    act on written as \\uXXXX escapes: the same JSON value, safe to print. (C0 controls json.dumps escapes itself;
    they can only stand inside strings, so escaping these there is always valid.)"""
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", dumped)
