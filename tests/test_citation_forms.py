"""Odd citation forms a model writes ("[P99" + 45 spaces + "]", "[p99]", "【P99】", full-width brackets) are
normalised to [P#] when the key was shown and removed when it was not, in whole texts and in streams, whatever the
split of the stream into deltas."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from paperbot.answer.citations import StreamingKeyFilter, cited_keys, clean_keys, quote_keys

SHOWN = {"P1", "P2", "P3"}
# Anything bracket- or key-like left in a cleaned text that is not a well-formed group of shown keys.
_WELL_FORMED = re.compile(r"\[P[123](?:, P[123])*\]")
_ANY = r"[PpＰｐ]\s?[0-9０-９]{1,6}"
_KEY_GROUP = re.compile(rf"[\[［【〔〖⟦]\s*{_ANY}(?:\s*(?:[,;，；、&]|and)\s*{_ANY})*\s*[\]］】〕〗⟧]")


def streamed(text: str, cuts: list[int]) -> tuple[str, int]:
    keys = StreamingKeyFilter(SHOWN)
    bounds = [0, *sorted(set(c for c in cuts if 0 < c < len(text))), len(text)]
    out = "".join(keys.feed(text[a:b]) for a, b in zip(bounds, bounds[1:]))
    return out + keys.flush(), keys.removed


@pytest.mark.parametrize(("raw", "expected", "removed"), [
    ("Claim [P1" + " " * 45 + "].", "Claim [P1].", 0),
    ("Claim [P99" + " " * 45 + "].", "Claim.", 1),
    ("Claim [p2].", "Claim [P2].", 0),
    ("Claim [p99].", "Claim.", 1),
    ("Claim 【P1】.", "Claim [P1].", 0),
    ("Claim 【P99】.", "Claim.", 1),
    ("Claim ［P3］ and ［Ｐ２］.", "Claim [P3] and [P2].", 0),
    ("Claim [ P1 ; p2 ].", "Claim [P1, P2].", 0),
    ("Claim [P1 and P3].", "Claim [P1, P3].", 0),
    ("Claim 〔P2〕[P99].", "Claim [P2].", 1),
    ("Claim [P1, P99].", "Claim [P1].", 1),
    ("An array [see P1 above] stays.", "An array [see P1 above] stays.", 0),
])
def test_odd_forms_are_normalised_or_removed(raw, expected, removed):
    assert clean_keys(raw, SHOWN) == (expected, removed)
    one_by_one = streamed(raw, list(range(len(raw))))
    assert one_by_one == (expected, removed), "a character at a time gives the same"


def test_cited_keys_reads_every_form():
    assert cited_keys("A 【P2】. B [p1]. C [P3" + " " * 45 + "]. D ［Ｐ２］.") == ["P2", "P1", "P3"]


def test_key_like_text_in_a_source_is_quoted_in_every_form():
    assert quote_keys("see 【P1】 and [p2] and [P3" + " " * 45 + "]") == "see (P1) and (P2) and (P3)"


_PIECES = st.sampled_from(["[", "]", "【", "】", "［", "］", "P", "p", "Ｐ", "1", "2", "9", "99", " ", "  ", ",", ";",
                           " and ", ".", "claim", "text", "\n", "[P1]", "[P99]", "[p2", "【P3", "P2]"])


@settings(max_examples=400, deadline=None)
@given(pieces=st.lists(_PIECES, max_size=40), cuts=st.lists(st.integers(0, 400), max_size=30))
def test_any_split_of_a_stream_gives_the_whole_text_result(pieces, cuts):
    text = "".join(pieces)
    whole, removed = clean_keys(text, SHOWN)
    assert streamed(text, cuts) == (whole, removed)
    odd = [m.group(0) for m in _KEY_GROUP.finditer(whole) if not _WELL_FORMED.fullmatch(m.group(0))]
    assert not odd, (text, whole)
