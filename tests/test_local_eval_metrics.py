"""Attribution accuracy in the answer metrics: keys paperbot's check added must name the gold paper."""

from __future__ import annotations

from evals.answer_metrics import aggregate, score_answer
from evals.items import EvalItem
from paperbot.types import Answer, Evidence, SentenceSupport


def _evidence(key: str, paper: str) -> Evidence:
    return Evidence(key, paper, paper.title(), None, None, (f"{paper} says something.",), 1, 1.0)


def _answer(*sentences: SentenceSupport) -> Answer:
    return Answer(question="q", text=" ".join(s.sentence for s in sentences), mode="llm", model="local m",
                  search_query="q", citations=(), sentences=sentences,
                  evidence=(_evidence("P1", "gold"), _evidence("P2", "other")), abstained=False)


def test_attribution_accuracy_counts_only_keys_the_check_put_there():
    item = EvalItem("q1", "q", {"gold": 1}, "fact")
    answer = _answer(
        SentenceSupport("Right paper, key added.", ("P1",), 0.9, True, model_keys=(), origin="attributed"),
        SentenceSupport("Wrong key corrected to another paper.", ("P2",), 0.8, True, model_keys=("P1",),
                        origin="corrected"),
        SentenceSupport("The model's own key.", ("P1",), 0.9, True, model_keys=("P1",), origin="cited"),
        SentenceSupport("Nothing supports it.", (), 0.1, False, model_keys=(), origin="unsupported"),
    )
    row = score_answer(item, answer)
    assert (row["attributed"], row["attributed_gold"], row["flagged_sentences"]) == (2, 1, 1)
    other = score_answer(EvalItem("q2", "q", {"gold": 1}, "fact"), _answer(
        SentenceSupport("Right.", ("P1",), 0.9, True, model_keys=(), origin="attributed")))
    multi = score_answer(EvalItem("q3", "q", {"gold": 1, "other": 1}, "multi"), answer)  # not single-paper
    metrics = aggregate([row, other, multi])
    assert metrics["attribution_accuracy"] == 2 / 3 and metrics["attributed_sentences"] == 3
    assert metrics["attribution_accuracy_per_question"] == (0.5 + 1.0) / 2
    assert metrics["sentences_flagged_rate"] == 2 / 9
