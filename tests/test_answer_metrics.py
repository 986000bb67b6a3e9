"""Answer metrics: hand-checked arithmetic, a real extractive run on the demo store, and the LLM path (judge and
PubMedQA decision included) through the real openai client against the fake server."""

from __future__ import annotations

import json
import re

import pytest

from evals.answer_metrics import aggregate, evaluate_answers, score_answer
from evals.answers_demo import load_questions
from evals.items import EvalItem
from evals.judge import JudgeOutputError, make_judge
from paperbot.errors import ConfigError
from paperbot.llm.prompts import load_prompt
from paperbot.types import Answer, Citation, Evidence, SentenceSupport


def _evidence(key: str, paper_id: str, *sentences: str) -> Evidence:
    return Evidence(key, paper_id, f"Title {paper_id}", None, 2024, tuple(sentences), int(key[1:]), 1.0)


def _answer(evidence, cited: list[str], *, abstained=False, supported=(), invalid=0) -> Answer:
    by_key = {e.key: e for e in evidence}
    citations = tuple(Citation(k, by_key[k].paper_id, by_key[k].title, None, 2024) for k in cited)
    sentences = tuple(SentenceSupport(f"claim {i}", ("P1",), 0.9 if ok else 0.1, ok) for i, ok in enumerate(supported))
    return Answer("q?", "text", "extractive", None, "q?", citations, sentences, tuple(evidence), abstained,
                  invalid_keys_removed=invalid)


def test_metric_arithmetic_on_hand_built_answers():
    shown = [_evidence("P1", "a", "Alpha cuts memory by 3x.", "It keeps recent tokens."),
             _evidence("P2", "b", "Beta is faster."), _evidence("P3", "c", "Gamma.")]
    items = [
        # cites a (gold) and c (not gold); gold b never cited: precision 1/2, recall 1/2; quote for a shown.
        (EvalItem("1", "q", {"a": 1, "b": 1}, "multi", {"a": "cuts memory  by 3x."}),
         _answer(shown, ["P1", "P3"], supported=(True, True, False), invalid=1)),
        # cites only gold b: precision 1, recall 1; its quote is not in the evidence.
        (EvalItem("2", "q", {"b": 1}, "fact", {"b": "Beta is slower."}), _answer(shown, ["P2"], supported=(True,))),
        # answerable but abstained: counts against abstention precision, no citation metrics.
        (EvalItem("3", "q", {"c": 1}, "fact"), _answer(shown, [], abstained=True)),
        # unanswerable and abstained: a correct abstention.
        (EvalItem("4", "q", {}, "unanswerable"), _answer(shown, [], abstained=True)),
        # unanswerable and answered: a missed abstention; its citations still count for validity.
        (EvalItem("5", "q", {}, "unanswerable"), _answer(shown, ["P1"], supported=(False,))),
    ]
    rows = [score_answer(item, answer) for item, answer in items]
    assert rows[0]["gold_quote_shown"] is True, "quotes match up to whitespace"
    assert rows[1]["gold_quote_shown"] is False and rows[1]["gold_paper_shown"] is True
    m = aggregate(rows)
    assert m["citation_precision"] == pytest.approx((0.5 + 1.0) / 2)
    assert m["citation_recall"] == pytest.approx((0.5 + 1.0) / 2)
    assert m["citation_validity"] == pytest.approx(4 / 5)  # 4 shown keys cited, 1 invented key removed
    assert m["sentence_support_rate"] == pytest.approx(3 / 5)
    assert m["abstention_precision"] == pytest.approx(1 / 2)
    assert m["abstention_recall"] == pytest.approx(1 / 2)
    assert m["abstained_answerable_rate"] == pytest.approx(1 / 3)
    assert m["gold_paper_in_context"] == 1.0
    assert m["gold_quote_in_context"] == pytest.approx(1 / 2)
    assert m["gold_evidence_in_context"] == pytest.approx((1 + 0 + 1) / 3)  # item 3 has no quote: paper shown
    assert m["gold_quote_in_context_single"] == 0.0  # only item 2 is a single-paper fact with a quote
    assert m["error_rate"] == 0.0 and m["judge_correctness"] is None and m["pubmedqa_accuracy"] is None


def test_pubmedqa_accuracy_and_class_counts():
    rows = [{"label": gold, "decision": said} for gold, said in
            [("yes", "yes"), ("yes", "no"), ("no", "no"), ("maybe", "yes")]]
    base = {"answerable": True, "abstained": False, "gold_papers": 1, "type": "yesno", "citation_keys": 0,
            "invalid_keys_removed": 0, "sentences": 0, "supported_sentences": 0, "citation_precision": None,
            "citation_recall": None, "gold_paper_shown": True, "gold_quote_shown": None, "gold_evidence_shown": True}
    m = aggregate([{**base, **r} for r in rows])
    assert m["pubmedqa_accuracy"] == 0.5
    assert (m["pubmedqa_gold_yes"], m["pubmedqa_correct_yes"], m["pubmedqa_predicted_yes"]) == (2, 1, 2)
    assert (m["pubmedqa_gold_maybe"], m["pubmedqa_correct_maybe"], m["pubmedqa_predicted_no"]) == (1, 0, 2)


def _demo_items(ids: set[str]) -> list[EvalItem]:
    return [item for item in load_questions() if item.id in ids]


DEMO_IDS = {"q001", "q002", "q003", "q060", "q061", "q064"}


def test_extractive_run_on_demo_questions(demo_bot):
    items = _demo_items(DEMO_IDS)
    assert {i.type for i in items} >= {"fact", "unanswerable"}
    ticks = []
    result = evaluate_answers(demo_bot, items, mode="extractive", progress=ticks.append)
    assert ticks == [1] * len(items)
    m = result.metrics
    assert m["questions"] == len(items) and m["error_rate"] == 0.0
    assert m["citation_validity"] == 1.0 and m["sentence_support_rate"] == 1.0
    for name in ("citation_precision", "citation_recall", "abstention_recall", "abstained_answerable_rate",
                 "gold_evidence_in_context", "prompt_tokens_mean"):
        assert m[name] is not None, name
    assert m["judge_correctness"] is None and m["judge_faithfulness"] is None and m["pubmedqa_accuracy"] is None
    assert result.judge is None and result.cost_usd == 0.0 and m["completion_tokens_mean"] == 0.0
    # Extractive "tokens" are the prompt an LLM answer would be sent, within the prompt budget.
    assert len(result.tokens_per_answer) == len(items)
    assert all(0 < t <= demo_bot.settings.max_prompt_tokens for t in result.tokens_per_answer)
    assert set(result.latency_ms) >= {"retrieval", "first_token", "total", "prepare"}
    assert m["total_ms_p95"] >= m["total_ms_p50"] > 0
    assert "bot.prepare" in result.notes["prompt_tokens_mean"]
    by_id = {r["id"]: r for r in result.rows}
    # q001's gold quote is in its paper's abstract, and retrieval finds that paper for the question.
    assert by_id["q001"]["gold_quote_shown"] is True and not by_id["q001"]["abstained"]
    json.dumps(result.rows)  # rows go into results.json as they are


def test_make_judge_and_llm_mode_need_an_llm(make_settings, demo_bot):
    assert make_judge(make_settings()) is None
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        evaluate_answers(demo_bot, _demo_items({"q001"}), mode="llm")


# --- the LLM path --------------------------------------------------------------------------------------------------

JUDGE_PROMPT = load_prompt("judge")
DECIDE_PROMPT = load_prompt("decide")


def _is_judge(request: dict) -> bool:
    return request["messages"][-1]["content"].startswith(JUDGE_PROMPT.template.split("\n")[0])


def _is_decision(request: dict) -> bool:
    return request["messages"][-1]["content"].startswith(DECIDE_PROMPT.template.split("\n")[0])


def _responder(judge_reply: str = ""):
    def respond(request: dict) -> str:
        if _is_judge(request):
            return judge_reply or json.dumps({"claims": [{"claim": "x", "supported": True},
                                                         {"claim": "y", "supported": False}],
                                              "correctness": 2, "reason": "matches the reference"})
        if _is_decision(request):
            return json.dumps({"decision": "yes"})
        keys = re.findall(r'<source key="(P\d+)"', request["messages"][-1]["content"])
        return f"The first source answers this [{keys[0]}]. It also reports a result [{keys[0]}]."
    return respond


@pytest.fixture
def llm_bot(make_bot, demo_store, fake_openai):
    return make_bot(data_dir=demo_store, openai_api_key=fake_openai.api_key, openai_base_url=fake_openai.base_url,
                    chat_model="fake-chat", retry_base_seconds=0.01, price_input_per_m=1.0, price_output_per_m=2.0)


def test_llm_path_reports_judge_decision_tokens_and_cost(llm_bot, fake_openai):
    fake_openai.responder = _responder()
    items = _demo_items({"q001", "q002"})
    yesno = EvalItem("pq1", items[0].question, dict(items[0].gold), "yesno", label="yes")
    judge = make_judge(llm_bot.settings)
    assert judge is not None and judge.label == "judge: fake-chat"
    result = evaluate_answers(llm_bot, [*items, yesno], mode="llm", judge=judge)
    m = result.metrics
    assert m["error_rate"] == 0.0 and m["judge_error_rate"] == 0.0
    assert m["judge_correctness"] == 1.0  # "correctness": 2 on the 0..2 scale
    assert m["judge_faithfulness"] == 0.5  # one of two claims supported
    assert m["pubmedqa_accuracy"] == 1.0 and m["pubmedqa_gold_yes"] == 1.0
    assert result.judge == "judge: fake-chat" and "judge.txt" in result.notes["judge"]
    assert m["prompt_tokens_mean"] > 0 and m["completion_tokens_mean"] > 0
    assert result.cost_usd is not None and result.cost_usd > 0
    assert m["cost_usd_per_question"] == pytest.approx(result.cost_usd / 3)
    assert m["judge_tokens_mean"] > 0 and m["judge_cost_usd_per_answer"] > 0
    assert {"first_token", "judge", "decision"} <= set(result.latency_ms)
    assert len(result.tokens_per_answer) == 3 and all(t > 0 for t in result.tokens_per_answer)

    requests = [r.body for r in fake_openai.requests_to("chat/completions")]
    judged = [r for r in requests if _is_judge(r)]
    assert len(judged) == 3 and len([r for r in requests if _is_decision(r)]) == 1
    # The judge got the pinned prompt, rendered with the answer and the evidence it was shown, at temperature 0.
    first = judged[0]
    assert first["temperature"] == 0.0 and first["response_format"]["type"] == "json_schema"
    row = result.rows[0]
    answer_text = "The first source answers this [P1]. It also reports a result [P1]."
    content = first["messages"][-1]["content"]
    assert answer_text in content and items[0].question in content
    assert next(iter(items[0].gold_quotes.values())) in content  # the reference
    static = re.split(r"\{[a-z_]+\}", JUDGE_PROMPT.template.replace("{{", "{").replace("}}", "}"))
    assert all(piece.strip() in content for piece in static)
    assert row["judge_correctness"] == 1.0 and row["judge_reason"] == "matches the reference"


def test_judge_reply_that_is_not_the_json_asked_is_a_typed_error(llm_bot, fake_openai):
    fake_openai.responder = _responder(judge_reply='```json\n{"claims": [], "correctness": "2", "reason": "ok"}\n```')
    answer = llm_bot.ask(load_questions()[0].question, mode="llm")
    judge = make_judge(llm_bot.settings)
    with pytest.raises(JudgeOutputError, match=r"judge model 'fake-chat' replied with something other than"):
        judge.grade(answer, "a reference")
    fake_openai.responder = _responder(judge_reply=json.dumps(
        {"claims": [], "correctness": "2", "reason": "a string where an integer belongs"}))
    with pytest.raises(JudgeOutputError, match="correctness"):
        judge.grade(answer, "a reference")
    # In a run the answer still counts; the failed grade is reported, not hidden.
    result = evaluate_answers(llm_bot, _demo_items({"q001"}), mode="llm", judge=judge)
    assert result.metrics["error_rate"] == 0.0 and result.metrics["judge_error_rate"] == 1.0
    assert result.metrics["judge_correctness"] is None and "JudgeOutputError" in result.rows[0]["judge_error"]
