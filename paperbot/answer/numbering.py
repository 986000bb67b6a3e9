"""Citation keys of a finished answer renumbered P1..Pn in the order the answer first cites them, so a reader never
sees a gap ([P1], [P3] and no [P2]); the keys its sources had in the prompt stay in Answer.source_keys."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from paperbot.answer.citations import cited_keys
from paperbot.types import Answer

# Groups as answers carry them once cleaned ("[P1]", "[P1, P3]"); other forms were normalised before this step.
_GROUP = re.compile(r"\[\s*P\d+(?:\s*[,;]\s*P\d+)*\s*\]")
_KEY = re.compile(r"P\d+")
_IS_KEY = re.compile(r"P\d+\Z")


def _in_text(text: str, mapping: Mapping[str, str]) -> str:
    return _GROUP.sub(lambda group: _KEY.sub(lambda key: mapping.get(key.group(), key.group()), group.group()), text)


def _keys(value: Any, mapping: Mapping[str, str]) -> Any:
    """A tuple of keys mapped; any other value as it is."""
    if isinstance(value, tuple) and value and all(isinstance(v, str) and _IS_KEY.match(v) for v in value):
        return tuple(mapping.get(v, v) for v in value)
    return value


def _record(record: Any, mapping: Mapping[str, str], text_fields: tuple[str, ...] = ()) -> Any:
    """A frozen dataclass with every key tuple (whatever it is called) and the named text fields renumbered."""
    changes = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if f.name in text_fields and isinstance(value, str):
            changes[f.name] = _in_text(value, mapping)
        elif f.name == "key" and isinstance(value, str) and value in mapping:
            changes[f.name] = mapping[value]
        else:
            mapped = _keys(value, mapping)
            if mapped is not value:
                changes[f.name] = mapped
    return dataclasses.replace(record, **changes) if changes else record


def first_use(text: str, keys: list[str]) -> dict[str, str]:
    """Old key -> new key: those `text` cites, in order of first use, then the other `keys` in their order."""
    order = [k for k in cited_keys(text) if k in keys] + keys
    return {old: f"P{number}" for number, old in enumerate(dict.fromkeys(order), start=1)}


def renumber(answer: Answer) -> Answer:
    """The same answer with keys P1..Pn in order of first use in its text, in every field that holds keys (text,
    raw text, citations, sentences, evidence, attribution); evidence is listed in the new key order."""
    mapping = first_use(answer.text, [e.key for e in answer.evidence])
    if all(old == new for old, new in mapping.items()):
        return dataclasses.replace(answer, source_keys=tuple((key, key) for key in mapping))
    number = {new: i for i, new in enumerate(mapping.values())}
    evidence = sorted((_record(e, mapping) for e in answer.evidence), key=lambda e: number.get(e.key, len(number)))
    return dataclasses.replace(
        answer,
        text=_in_text(answer.text, mapping),
        raw_text=_in_text(answer.raw_text, mapping) if answer.raw_text is not None else None,
        citations=tuple(_record(c, mapping) for c in answer.citations),
        sentences=tuple(_record(s, mapping, ("sentence",)) for s in answer.sentences),
        evidence=tuple(evidence),
        attribution=_record(answer.attribution, mapping) if answer.attribution is not None else None,
        source_keys=tuple((new, old) for old, new in mapping.items()),
    )


class StreamRenumbering:
    """Renumbers the keys of a stream of cleaned deltas (each holds whole groups only) by first appearance, so the
    text shown as it arrives already reads [P1], [P2], ... When the checked answer cites in the same order, its
    final numbering is the same."""

    def __init__(self) -> None:
        self._mapping: dict[str, str] = {}

    def _new(self, key: str) -> str:
        return self._mapping.setdefault(key, f"P{len(self._mapping) + 1}")

    def feed(self, delta: str) -> str:
        return _GROUP.sub(lambda group: _KEY.sub(lambda key: self._new(key.group()), group.group()), delta)
