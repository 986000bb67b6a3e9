"""Answer metrics over an eval set: citations, support, abstention, gold evidence shown, judge, PubMedQA, cost, speed."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from evals.items import EvalItem
from paperbot import PaperBot
from paperbot.errors import ConfigError, PaperbotError
from paperbot.types import Answer, TokenUsage

LATENCY_STAGES = ("retrieval", "first_token", "total", "prepare", "judge", "decision")
# Abstention figures also given per split (report first): answerable refused, comparison refused, unanswerable declined.
SPLIT_METRICS = ("abstained_answerable_rate", "comparison_abstained_rate", "abstention_recall")
SPLITS = ("report", "tune")

# What each metric means; extractive mode changes a few meanings, given in EXTRACTIVE_NOTES.
NOTES: dict[str, str] = {
    "citation_validity": "cited keys that were shown to the model / all keys the answers cited (invented ones "
                         "are removed from the text and counted here)",
    "citation_precision": "mean over answered items with gold papers: cited gold papers / cited papers",
    "citation_recall": "mean over answered items with gold papers: cited gold papers / gold papers",
    "sentence_support_rate": "answer sentences supported by the text they cite (uncited claims count as "
                             "unsupported) / all answer sentences",
    "sentences_flagged_rate": "answer sentences flagged unsupported (Answer.unsupported_sentences) / all sentences",
    "attribution_accuracy": "single-paper questions: sentences whose keys attribution added or corrected, all "
                            "naming the gold paper / such sentences (attributed_sentences counts them)",
    "attribution_accuracy_per_question": "attribution_accuracy within each single-paper question that had "
                                         "attributed sentences, averaged over those questions",
    "abstention_precision": "abstained on an unanswerable item / abstained (None when it never abstained)",
    "abstention_recall": "abstained on an unanswerable item / unanswerable items (None without any)",
    "abstained_answerable_rate": "abstained on an answerable item / answerable items",
    "comparison_abstained_rate": "abstained on an answerable comparison question / answerable comparison questions",
    "@report / @tune": "the metric on one half of the items, split by sha256 of the item id (evals/items.py): "
                       "thresholds are fitted on tune only, so report is the figure to quote and tune shows the gap",
    "gold_paper_in_context": "answerable items with a gold paper among the evidence in the prompt",
    "gold_quote_in_context": "items with gold quotes whose every quote stands in its paper's evidence",
    "gold_evidence_in_context": "per answerable item: every gold quote shown when it has quotes, else a gold "
                                "paper shown",
    "judge_correctness": "LLM judge, items with a reference (gold quotes or long answer): 0 / 0.5 / 1 for "
                         "no / partly / fully",
    "judge_faithfulness": "LLM judge: mean share of an answer's claims that the evidence shown states",
    "judge_cost_usd_per_answer": "what the judge's own calls cost per graded answer (not in cost_usd_per_question)",
    "pubmedqa_accuracy": "yes/no/maybe = gold decision: the verdict the answer leads with (\"Yes. ...\"), else "
                         "decided by the answering model from its answer (decide.txt); decision_source per row",
    "prompt_tokens_mean": "prompt tokens per question (condensing and the PubMedQA decision included)",
    "completion_tokens_mean": "completion tokens per question",
    "cost_usd_per_question": "USD per question at the price table's rate (None: unknown price)",
    "error_rate": "items whose answer failed with an error (the metrics above leave them out)",
    "judge_error_rate": "answers the judge or the PubMedQA decision could not grade (reply not the JSON asked)",
}
EXTRACTIVE_NOTES: dict[str, str] = {
    "citation_validity": "always 1 by construction: extractive answers cite only the sentence's own source",
    "sentence_support_rate": "near 1 by construction: every sentence is quoted verbatim from what it cites",
    "prompt_tokens_mean": "the prompt an LLM answer would be sent (bot.prepare), not sent to anything",
    "completion_tokens_mean": "0: no model writes the answer",
    "cost_usd_per_question": "0: no API is called",
    "first_token_ms": "time to the first quoted sentence",
    "prepare_ms": "retrieval, evidence and budget fitting for an LLM answer: everything but the model call",
}


@dataclass
class AnswerEval:
    metrics: dict[str, float | None]
    rows: list[dict]  # one per item, JSON-ready
    latency_ms: dict[str, list[float]]  # per stage; the first item is a warm-up and is not timed
    tokens_per_answer: list[int]
    cost_usd: float | None  # answers (and decisions) summed; None when a price is unknown
    judge: str | None = None  # "judge: MODEL" when an LLM judged the answers
    notes: dict[str, str] = field(default_factory=dict)


def _normal(text: str) -> str:
    return " ".join(text.split())


def reference_for(item: EvalItem) -> str | None:
    """What a correct answer must say: the gold quotes, or a gold long answer (PubMedQA) when the set has one."""
    long_answer = getattr(item, "long_answer", None) or getattr(item, "reference", None)
    if long_answer:
        return str(long_answer)
    return "\n".join(item.gold_quotes.values()) or None


def score_answer(item: EvalItem, answer: Answer) -> dict[str, Any]:
    """The per-item facts the metrics are computed from (no timing, no LLM)."""
    shown = {}
    for evidence in answer.evidence:
        shown.setdefault(evidence.paper_id, []).append(_normal(evidence.text))
    gold = set(item.gold)
    cited = list(dict.fromkeys(c.paper_id for c in answer.citations))
    quotes = [any(_normal(q) in text for text in shown.get(pid, [])) for pid, q in item.gold_quotes.items()]
    paper_shown = bool(gold & set(shown)) if gold else None
    quote_shown = all(quotes) if quotes else None
    hits = len(gold & set(cited))
    answered = not answer.abstained
    return {
        "id": item.id, "type": item.type, "split": item.split, "answerable": bool(gold), "gold_papers": len(gold),
        "abstained": answer.abstained,
        "cited": cited, "citation_keys": len(answer.citations), "invalid_keys_removed": answer.invalid_keys_removed,
        "gold_paper_shown": paper_shown, "gold_quote_shown": quote_shown,
        "gold_evidence_shown": (quote_shown if quotes else paper_shown) if gold else None,
        "citation_precision": hits / len(cited) if answered and gold and cited else None,
        "citation_recall": hits / len(gold) if answered and gold else None,
        "sentences": len(answer.sentences) if answered else 0,
        "supported_sentences": sum(s.supported for s in answer.sentences) if answered else 0,
        "flagged_sentences": len(answer.unsupported_sentences) if answered else 0,
        **(_attribution(answer, gold) if answered else {}),
    }


def _attribution(answer: Answer, gold: set[str]) -> dict[str, int]:
    """Sentences whose keys paperbot's check put there (attributed or corrected), and how many of those name a
    gold paper (every key they got does)."""
    paper_of = {e.key: e.paper_id for e in answer.evidence}
    attributed = [s for s in answer.sentences if s.attributed_keys and not s.dropped]
    right = sum(all(paper_of.get(k) in gold for k in s.attributed_keys) for s in attributed)
    return {"attributed": len(attributed), "attributed_gold": right}


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def _ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def aggregate(rows: list[dict]) -> dict[str, float | None]:
    """Answer metrics from score_answer rows (plus tokens, cost, judge and decision fields when present)."""
    ok = [r for r in rows if not r.get("error")]
    answerable = [r for r in ok if r["answerable"]]
    unanswerable = [r for r in ok if not r["answerable"]]
    abstained = [r for r in ok if r["abstained"]]
    comparison = [r for r in answerable if r["type"] == "comparison"]
    graded = [r for r in ok if {"judge_error", "judge_faithfulness", "decision"} & r.keys()]
    keys = sum(r["citation_keys"] for r in ok)
    sentences = sum(r["sentences"] for r in ok)
    attributed = [r for r in answerable if r["gold_papers"] == 1]  # single-paper questions: one right paper
    single = [r for r in answerable if r["type"] in ("fact", "concept") and r["gold_quote_shown"] is not None
              and r["gold_papers"] == 1]
    metrics: dict[str, float | None] = {
        "questions": float(len(rows)),
        "error_rate": _ratio(len(rows) - len(ok), len(rows)),
        "judge_error_rate": _ratio(sum(bool(r.get("judge_error")) for r in graded), len(graded)) if graded else None,
        "citation_validity": _ratio(keys, keys + sum(r["invalid_keys_removed"] for r in ok)),
        "citation_precision": _mean(r["citation_precision"] for r in ok),
        "citation_recall": _mean(r["citation_recall"] for r in ok),
        "sentence_support_rate": _ratio(sum(r["supported_sentences"] for r in ok), sentences),
        "sentences_flagged_rate": _ratio(sum(r.get("flagged_sentences", 0) for r in ok), sentences),
        "attribution_accuracy": _ratio(sum(r.get("attributed_gold", 0) for r in attributed),
                                       sum(r.get("attributed", 0) for r in attributed)),
        "attributed_sentences": float(sum(r.get("attributed", 0) for r in attributed)),
        # The same per question, so one long answer does not outweigh the rest.
        "attribution_accuracy_per_question": _mean(r["attributed_gold"] / r["attributed"] for r in attributed
                                                   if r.get("attributed")),
        "abstention_precision": _ratio(sum(not r["answerable"] for r in abstained), len(abstained)),
        "abstention_recall": _ratio(sum(r["abstained"] for r in unanswerable), len(unanswerable)),
        "abstained_answerable_rate": _ratio(sum(r["abstained"] for r in answerable), len(answerable)),
        "comparison_abstained_rate": _ratio(sum(r["abstained"] for r in comparison), len(comparison)),
        "gold_paper_in_context": _mean(None if r["gold_paper_shown"] is None else float(r["gold_paper_shown"])
                                       for r in answerable),
        "gold_quote_in_context": _mean(None if r["gold_quote_shown"] is None else float(r["gold_quote_shown"])
                                       for r in answerable),
        "gold_quote_in_context_single": _mean(float(r["gold_quote_shown"]) for r in single),
        "gold_evidence_in_context": _mean(None if r["gold_evidence_shown"] is None
                                          else float(r["gold_evidence_shown"]) for r in answerable),
        "judge_correctness": _mean(r.get("judge_correctness") for r in ok),
        "judge_faithfulness": _mean(r.get("judge_faithfulness") for r in ok),
        "prompt_tokens_mean": _mean(r.get("prompt_tokens") for r in ok),
        "completion_tokens_mean": _mean(r.get("completion_tokens") for r in ok),
    }
    costs = [r.get("cost_usd") for r in ok]
    metrics["cost_usd_per_question"] = None if not ok or any(c is None for c in costs) else statistics.fmean(costs)
    judged = [r for r in ok if "judge_tokens" in r]
    if judged:  # what grading cost, apart from the answers
        metrics["judge_tokens_mean"] = statistics.fmean(r["judge_tokens"] for r in judged)
        judge_costs = [r["judge_cost_usd"] for r in judged]
        metrics["judge_cost_usd_per_answer"] = (None if any(c is None for c in judge_costs)
                                                else statistics.fmean(judge_costs))
    metrics.update(_pubmedqa(ok))
    return metrics


def by_split(rows: list[dict]) -> dict[str, float | None]:
    """SPLIT_METRICS on each half ("abstention_recall@report", ...) and the halves' sizes."""
    out: dict[str, float | None] = {}
    for split in SPLITS:
        mine = [r for r in rows if r.get("split") == split]
        metrics = aggregate(mine)
        out[f"questions@{split}"] = float(len(mine))
        out.update({f"{key}@{split}": metrics[key] for key in SPLIT_METRICS})
    return out


def _pubmedqa(rows: list[dict]) -> dict[str, float | None]:
    """Accuracy and per-class counts over items with a gold decision that got one; None when none did."""
    decided = [r for r in rows if r.get("label") and r.get("decision")]
    out: dict[str, float | None] = {"pubmedqa_accuracy": _ratio(sum(r["decision"] == r["label"] for r in decided),
                                                                 len(decided)) if decided else None}
    if decided:
        for label in ("yes", "no", "maybe"):
            of_label = [r for r in decided if r["label"] == label]
            out[f"pubmedqa_gold_{label}"] = float(len(of_label))
            out[f"pubmedqa_predicted_{label}"] = float(sum(r["decision"] == label for r in decided))
            out[f"pubmedqa_correct_{label}"] = float(sum(r["decision"] == label for r in of_label))
    return out


def percentiles(latency_ms: dict[str, list[float]]) -> dict[str, float]:
    out = {}
    for stage, values in latency_ms.items():
        if values:
            out[f"{stage}_ms_p50"] = float(np.percentile(values, 50))
            out[f"{stage}_ms_p95"] = float(np.percentile(values, 95))
    return out


def _ask(bot: PaperBot, item: EvalItem, mode: str, k: int | None) -> tuple[Answer, float | None, float]:
    """The streamed answer, with wall times to its first text and to its end."""
    started = time.perf_counter()
    first_ms = None
    if item.exclude:  # the item's own source hidden from retrieval: the unanswerable twin of an answerable item
        from evals.exclusion import Excluding

        answerer = bot.answerer(mode=mode).searching(Excluding(bot.retriever, item.exclude))
        response = answerer.ask_stream(item.question, (), k=k, mode=mode)
    else:
        response = bot.ask_stream(item.question, k=k, mode=mode)
    for piece in response:
        if piece and first_ms is None:
            first_ms = (time.perf_counter() - started) * 1e3
    answer = response.answer()
    return answer, first_ms, (time.perf_counter() - started) * 1e3


def evaluate_answers(bot: PaperBot, items: list[EvalItem], *, mode: str, k: int | None = None, judge=None,
                     progress: Callable[[int], Any] | None = None) -> AnswerEval:
    """Ask every item (mode "llm" or "extractive"), score it, and judge / decide it when an LLM is there."""
    if mode not in ("llm", "extractive"):
        raise ValueError(f"answer mode must be 'llm' or 'extractive', not {mode!r}")
    if mode == "llm" and bot.chat is None:  # one clear error, not the same one for every item
        raise ConfigError("answers in llm mode need an API: set OPENAI_API_KEY and/or OPENAI_BASE_URL")
    decide_with = bot.chat if mode == "llm" and any(item.label for item in items) else None
    decision_cost = _decision_cost(bot) if decide_with is not None else None
    if items:  # the first question loads the embedder, the vocabulary and the tokenizer: not a latency sample
        bot.prepare(items[0].question, k=k, mode="llm")
    latency: dict[str, list[float]] = {stage: [] for stage in LATENCY_STAGES}
    rows, tokens = [], []
    for item in items:
        row = _evaluate_one(bot, item, mode, k, judge, decide_with, decision_cost, latency, tokens)
        rows.append(row)
        if progress is not None:
            progress(1)
    metrics = aggregate(rows)
    metrics.update(by_split(rows))
    metrics.update(percentiles(latency))
    costs = [r.get("cost_usd") for r in rows if not r.get("error")]
    notes = dict(NOTES)
    if mode == "extractive":
        notes.update(EXTRACTIVE_NOTES)
    if judge is not None:
        notes["judge"] = f"{judge.label} (prompt judge.txt {judge.prompt_version}, temperature 0)"
    return AnswerEval(
        metrics=metrics, rows=rows, latency_ms={s: v for s, v in latency.items() if v}, tokens_per_answer=tokens,
        cost_usd=None if any(c is None for c in costs) else float(sum(costs)),
        judge=judge.label if judge is not None else None, notes=notes,
    )


def _decision_cost(bot: PaperBot) -> Callable[[Any], float | None]:
    from paperbot.llm.pricing import cost_usd, price_for

    price = price_for(bot.settings, bot.chat.model)
    return lambda usage: cost_usd(price, usage)


def _evaluate_one(bot: PaperBot, item: EvalItem, mode: str, k: int | None, judge, decide_with, decision_cost,
                  latency: dict[str, list[float]], tokens: list[int]) -> dict[str, Any]:
    try:
        answer, first_ms, total_ms = _ask(bot, item, mode, k)
    except PaperbotError as exc:
        return {"id": item.id, "type": item.type, "error": f"{type(exc).__name__}: {exc}"}
    row = score_answer(item, answer)
    latency["retrieval"].append(answer.timings.retrieval_ms)
    latency["total"].append(total_ms)
    if first_ms is not None:
        latency["first_token"].append(first_ms)
    if mode == "extractive":
        started = time.perf_counter()
        prompt_tokens = bot.prepare(item.question, k=k, mode="llm").prompt_tokens
        latency["prepare"].append((time.perf_counter() - started) * 1e3)
        row.update(prompt_tokens=prompt_tokens, completion_tokens=0, cost_usd=0.0)
        tokens.append(prompt_tokens)
    else:
        row.update(prompt_tokens=answer.usage.prompt_tokens, completion_tokens=answer.usage.completion_tokens,
                   cost_usd=answer.cost_usd)
    try:
        if decide_with is not None and item.label:
            _decide(bot, item, answer, decide_with, decision_cost, row, latency)
        if judge is not None and not answer.abstained:
            grade = judge.grade(answer, reference_for(item))
            latency["judge"].append(grade.ms)
            row.update(judge_correctness=grade.correctness, judge_faithfulness=grade.faithfulness,
                       judge_claims=grade.claims, judge_reason=grade.reason,
                       judge_tokens=grade.usage.total_tokens, judge_cost_usd=grade.cost_usd)
    except PaperbotError as exc:  # the answer stands; only its grade or decision is missing
        row["judge_error"] = f"{type(exc).__name__}: {exc}"
    if mode == "llm" and row["prompt_tokens"] + row["completion_tokens"] > 0:
        tokens.append(row["prompt_tokens"] + row["completion_tokens"])
    return row


def _decide(bot: PaperBot, item: EvalItem, answer: Answer, chat, decision_cost, row: dict,
            latency: dict[str, list[float]]) -> None:
    from evals.decision import Decision, decide, stated

    started = time.perf_counter()
    # One call per item when the answer already leads with its verdict (the compact prompt asks small models to):
    # the decision is the answering model's own either way, and a replayed eval does not depend on attribution.
    own = stated(answer)
    decision = Decision(own, TokenUsage()) if own else decide(chat, bot.prompts["decide"], answer)
    row["decision_source"] = "answer" if own else ("abstained" if answer.abstained else "decide prompt")
    if decision.usage.total_tokens:
        latency["decision"].append((time.perf_counter() - started) * 1e3)
    extra = decision_cost(decision.usage) if decision.usage.total_tokens else 0.0
    row.update(label=item.label, decision=decision.label,
               prompt_tokens=row["prompt_tokens"] + decision.usage.prompt_tokens,
               completion_tokens=row["completion_tokens"] + decision.usage.completion_tokens,
               cost_usd=None if row["cost_usd"] is None or extra is None else row["cost_usd"] + extra)
