"""The checks of a small model's answers (Settings.attribution_margin for them, attribution_focus,
attribution_focus_floor, min_supported, attribution_rekey_focus, attribution_rekey_floor, attribution_rekey_semantic,
llm_answerable_threshold, decline_fallback_threshold) fitted on the demo questions from real model answers (all of
them by default, --fit-on tune for the tune half only), and reported on each half.

    PAPERBOT_LOCAL_MODEL=... PAPERBOT_LOCAL_BASE_URL=http://127.0.0.1:PORT/v1 \\
    python -m evals.fit_focus --data-dir DIR --collection eval-demo-... [--datasets-dir ../shared/datasets]

Every demo question is asked once through the facade in llm mode, exactly as `paperbot eval --dataset demo --mode llm`
asks it (point PAPERBOT_LOCAL_BASE_URL at evals/record_proxy.py to replay recorded generations). The model's raw
answers are then checked again under every grid point: attribution with the point's focus settings, then the
decline rule (attribution.declines), then the p(answerable) a written answer needs and the one above which a model's
own decline is replaced by quoted sentences (each item's p from the answerer's own abstention check). Per half: attribution accuracy on single-paper questions (attributed or corrected
keys naming the gold paper, as evals/answer_metrics.py counts it), unanswerable questions declined, answerable ones
refused, and claims marked off the question. The point with the most supported gold-paper sentences kept (on every
answerable question, so that focus cannot cut a comparison's second paper) minus twice the wrong attributions plus twice
the unanswerable questions declined minus twice the answerable ones refused, among those refusing at most --max-refused of the fitted questions' answerable
ones (or as many as without focus and declines, when that is more), is chosen (ties: the least intervention). Halves are split by sha256 of the question id.
Since Dec 2 the demo questions are fitting data for attribution as a whole; its report set is the holdout questions
(evals/questions/holdout.jsonl), which this never reads.
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import dataclass, replace
from pathlib import Path

from evals import datasets
from evals.answer_metrics import _ask
from evals.items import EvalItem
from paperbot import PaperBot, Settings
from paperbot.answer.answerer import SENTINEL
from paperbot.answer.attribution import AttributionPolicy, attribute, declines, question_focus, semantic_focus
from paperbot.answer.injection import InstructionEcho
from paperbot.answer.own_decline import declines_in_own_words
from paperbot.types import Answer

FOCUS = (0.0, 0.5, 0.7, 0.9)
FLOORS = (0.0, 0.2, 0.3)
MIN_SUPPORTED = (0.0, 0.25, 0.5)
MARGINS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)  # attribution margin over the support scorer's threshold
# a key the check adds must be a paper covering this share of the best shown paper's question focus, and this floor
REKEY_FOCUS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9)
REKEY_FLOORS = (0.0, 0.1, 0.2, 0.3)
# ... and this share of the best shown paper's closest sentence to the question (MiniLM cosine; semantic_focus)
REKEY_SEMANTIC = (0.0, 0.7, 0.8, 0.9)
# p(answerable) an LLM answer needs (the abstention check's own thresholds apply first; 0: nothing more)
LLM_THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
# p(answerable) at or above which the model's own decline is replaced by quoted sentences (1: never)
FALLBACKS = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


class _Remembered:
    """The support scorer with its scores kept: every grid point checks the same sentences against the same papers."""

    def __init__(self, scorer) -> None:
        self.name, self.threshold, self._scorer, self._seen = scorer.name, scorer.threshold, scorer, {}

    def score(self, claims, sources) -> list[float]:
        pairs = [(claim, tuple(source)) for claim, source in zip(claims, sources, strict=True)]
        new = [pair for pair in dict.fromkeys(pairs) if pair not in self._seen]
        if new:
            scores = self._scorer.score([c for c, _ in new], [list(s) for _, s in new])
            self._seen.update(zip(new, map(float, scores), strict=True))
        return [self._seen[pair] for pair in pairs]


@dataclass
class Asked:
    item: EvalItem
    answer: Answer
    probability: float | None  # the answerability scorer's p(answerable) for the item, as the answerer computed it
    focus: dict[str, float] | None = None  # question_focus of its shown papers, computed once
    semantic: dict[str, float] | None = None  # semantic_focus of its shown papers, computed once


def _probability(bot: PaperBot, item: EvalItem) -> float | None:
    answerer = bot.answerer(mode="llm")
    if item.exclude:  # as evals/answer_metrics._ask asks it: the item's own source hidden
        from evals.exclusion import Excluding

        answerer = answerer.searching(Excluding(bot.retriever, item.exclude))
    return answerer.prepare(item.question, mode="llm").answerability.probability


def ask_all(bot: PaperBot, items: list[EvalItem]) -> list[Asked]:
    return [Asked(item, _ask(bot, item, "llm", None)[0], _probability(bot, item)) for item in items]


def check(asked: Asked, bot: PaperBot, scorer, echo: InstructionEcho, policy: AttributionPolicy) -> dict:
    """The item re-checked under `policy`, as paperbot/answer/answerer.py checks an LLM answer."""
    item, answer = asked.item, asked.answer
    raw = answer.raw_text
    if asked.focus is None:  # the same for every grid point
        asked.focus = question_focus(answer.search_query, answer.evidence, bot.vocabulary())
        asked.semantic = semantic_focus(answer.search_query, answer.evidence, bot.sentence_vectors)
    row = {"split": item.split, "answerable": bool(item.gold), "single": len(item.gold) == 1, "declined": True,
           "attributed": 0, "attributed_gold": 0, "gold_kept": 0, "claims": 0, "off_question": 0,
           "probability": asked.probability, "model_declined": False}
    if (answer.raw_text is None or not raw or raw.casefold().startswith(SENTINEL.casefold()[:30])
            or declines_in_own_words(raw, SENTINEL)):
        # The abstention check (no raw text: the model was not called) or the model itself declined.
        row["model_declined"] = bool(raw)
        return row
    leaked = echo.repeats(raw)
    checked = attribute(raw, answer.evidence, scorer, policy,
                        distrust=echo.repeats if leaked else lambda sentence: False,
                        leave_alone=lambda sentence: sentence.casefold().startswith(SENTINEL.casefold()[:30]),
                        focus=asked.focus, semantic=asked.semantic)
    claims = [s for s in checked.sentences if s.origin not in (None, "no claim")]
    row.update(claims=len(claims), off_question=sum(s.off_question for s in claims))
    if declines(checked.sentences, policy):
        return row
    paper_of = {e.key: e.paper_id for e in answer.evidence}
    attributed = [s for s in checked.sentences if s.attributed_keys and not s.dropped]
    row.update(declined=False, attributed=len(attributed),
               attributed_gold=sum(all(paper_of.get(k) in item.gold for k in s.attributed_keys) for s in attributed),
               gold_kept=sum(1 for s in checked.sentences if s.supported and s.keys and not s.dropped
                             and all(paper_of.get(k) in item.gold for k in s.keys)))
    return row


def gated(rows: list[dict], threshold: float, fallback: float) -> list[dict]:
    """The rows as they would be if LLM answers needed p(answerable) >= threshold (the others declined), and if a
    model's own decline at p(answerable) >= fallback were replaced by quoted sentences (answered; no key added by
    attribution, and no gold sentence counted, as this fit does not build the quotes)."""
    out = []
    for r in rows:
        p = r["probability"] or 0.0
        if p < threshold:
            r = {**r, "declined": True, "model_declined": False, "attributed": 0, "attributed_gold": 0, "gold_kept": 0}
        elif r["model_declined"] and fallback < 1 and p >= fallback:
            r = {**r, "declined": False}
        out.append(r)
    return out


def summarise(rows: list[dict]) -> dict:
    single = [r for r in rows if r["single"]]
    attributed = sum(r["attributed"] for r in single)
    correct = sum(r["attributed_gold"] for r in single)
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    claims = sum(r["claims"] for r in rows)
    return {
        "attribution_accuracy": round(correct / attributed, 4) if attributed else None,
        "attributed_sentences": attributed, "correct": correct, "wrong": attributed - correct,
        "gold_sentences_kept": sum(r["gold_kept"] for r in answerable),
        "unanswerable_declined": round(sum(r["declined"] for r in unanswerable) / len(unanswerable), 4)
        if unanswerable else None,
        "unanswerable_declined_n": sum(r["declined"] for r in unanswerable), "unanswerable": len(unanswerable),
        "answerable_refused": round(sum(r["declined"] for r in answerable) / len(answerable), 4) if answerable else None,
        "answerable_refused_n": sum(r["declined"] for r in answerable), "answerable": len(answerable),
        "claims_off_question": round(sum(r["off_question"] for r in rows) / claims, 4) if claims else None,
    }


def objective(summary: dict) -> int:
    """Supported sentences citing a gold paper that stay (any answerable question: focus must not cut the second
    paper of a comparison), less twice the wrong attributions, plus twice the unanswerable questions declined, less
    twice the answerable ones refused."""
    return (summary["gold_sentences_kept"] - 2 * summary["wrong"] + 2 * summary["unanswerable_declined_n"]
            - 2 * summary["answerable_refused_n"])


def compact_grid(grid: dict[tuple, dict], names: tuple[str, ...], none: tuple, fit: str) -> dict[str, list[dict]]:
    """The fitted questions' grid, small enough to keep: the 25 best points, and each setting varied alone."""
    def row(point: tuple) -> dict:
        return {**dict(zip(names, point, strict=True)), "objective": objective(grid[point][fit]),
                **grid[point][fit]}

    best = sorted(grid, key=lambda p: -objective(grid[p][fit]))[:25]
    alone = [p for p in grid if sum(a != b for a, b in zip(p, none, strict=True)) <= 1]
    return {"best": [row(p) for p in best], "one_setting_at_a_time": [row(p) for p in alone]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="the eval work dir holding the collection")
    parser.add_argument("--collection", required=True, help="the demo collection (as `paperbot eval --collection`)")
    parser.add_argument("--datasets-dir", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--max-refused", type=float, default=0.10, help="answerable questions refused (fitted set)")
    parser.add_argument("--fit-on", choices=("all", "tune"), default="all",
                        help="the demo questions the choice is made on (default all: since Dec 2 the demo set is "
                        "fitting data for attribution; figures per half are still reported)")
    parser.add_argument("--out", type=Path, default=Path("evals/results/focus-fit.json"))
    args = parser.parse_args()
    # The answers asked with none of the fitted rules on (the grid below applies them).
    settings = Settings(data_dir=args.data_dir, collection=args.collection, llm_answerable_threshold=0.0,
                        decline_fallback_threshold=1.0, attribution_focus=0.0, attribution_focus_floor=0.0,
                        min_supported=0.0, attribution_rekey_focus=0.0, attribution_rekey_floor=0.0,
                        attribution_rekey_semantic=0.0)
    bot = PaperBot(settings)
    eval_set = datasets.load("demo", questions=None, corpus=[], split=None, datasets_dir=args.datasets_dir,
                             demo_corpus=None, work_dir=args.data_dir)
    asked = ask_all(bot, eval_set.items)
    scorer = _Remembered(bot.support_scorer)
    echo = InstructionEcho(bot.answer_prompts(bot.chat.model)["system"].render(sentinel=""))
    base = AttributionPolicy.from_settings(settings, focused=False)  # no focus: the grid below sets it

    def run(policy: AttributionPolicy) -> list[dict]:
        return [check(a, bot, scorer, echo, policy) for a in asked]

    fit = args.fit_on
    grid = {}
    for margin, focus, floor, minimum, rekey, rekey_floor, rekey_semantic in itertools.product(
            MARGINS, FOCUS, FLOORS, MIN_SUPPORTED, REKEY_FOCUS, REKEY_FLOORS, REKEY_SEMANTIC):
        rows = run(replace(base, margin=margin, focus=focus, focus_floor=floor, min_supported=minimum,
                           rekey_focus=rekey, rekey_floor=rekey_floor, rekey_semantic=rekey_semantic))
        for threshold, fallback in itertools.product(LLM_THRESHOLDS, FALLBACKS):
            kept = gated(rows, threshold, fallback)
            grid[(margin, focus, floor, minimum, rekey, rekey_floor, rekey_semantic, threshold, fallback)] = {
                **{half: summarise([r for r in kept if r["split"] == half]) for half in ("tune", "report")},
                "all": summarise(kept)}
    names = ("margin", "focus", "focus_floor", "min_supported", "rekey_focus", "rekey_floor", "rekey_semantic",
             "llm_answerable_threshold", "decline_fallback_threshold")
    # Never more refusals than --max-refused, or than the unchanged check already makes when that is more.
    none = (base.margin, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)
    cap = max(args.max_refused, grid[none][fit]["answerable_refused"])
    feasible = [p for p, r in grid.items() if r[fit]["answerable_refused"] <= cap]
    # Ties: the least intervention (every setting at its smallest, the fallback at its largest).
    chosen = max(feasible, key=lambda p: (objective(grid[p][fit]), *(-v for v in p[:-1]), p[-1]))
    report = {
        "what": __doc__.split("\n\n", 2)[2].strip(),
        "command": f"python -m evals.fit_focus --data-dir DIR --collection {args.collection} "
                   f"--max-refused {args.max_refused} --fit-on {fit}",
        "fitted_on": fit,
        "model": bot.chat.model, "support_scorer": bot.support_scorer.name, "off_question": base.off_question,
        "questions": {half: sum(a.item.split == half for a in asked) for half in ("tune", "report")},
        "chosen": {**dict(zip(names, chosen, strict=True)), **grid[chosen]},
        "without_focus_or_decline": {**dict(zip(names, none, strict=True)), **grid[none]},
        "grid": compact_grid(grid, names, none, fit),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: report[k] for k in ("questions", "chosen", "without_focus_or_decline")}, indent=2))


if __name__ == "__main__":
    main()
