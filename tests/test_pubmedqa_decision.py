"""PubMedQA's decision read from the answer's own first word (one model call per item), before any decide call."""

from __future__ import annotations

import pytest

from evals.decision import stated
from paperbot.types import Answer


def _answer(raw: str, *, abstained: bool = False) -> Answer:
    return Answer(question="Does X help?", text=raw, mode="llm", model="m", search_query="Does X help?", citations=(),
                  sentences=(), evidence=(), abstained=abstained, raw_text=raw)


@pytest.mark.parametrize(("raw", "label"), [
    ("Yes. X lowers mortality [P1].", "yes"),
    ("no, X did not help [P2].", "no"),
    ("Maybe. The results were mixed [P1].", "maybe"),
    ("**Yes** [P1].", "yes"),
    ("X lowers mortality [P1]. Yes.", None),
    ("Yesterday's trial found X helps [P1].", None),
    ("Nothing was found.", None),
])
def test_the_answers_leading_verdict_is_its_decision(raw: str, label: str | None) -> None:
    assert stated(_answer(raw)) == label


def test_an_abstained_answer_states_no_decision() -> None:
    assert stated(_answer("No. The papers do not answer this question.", abstained=True)) is None
