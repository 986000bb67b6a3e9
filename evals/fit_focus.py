"""Question focus and thin-answer declines (Settings.attribution_focus, attribution_focus_floor, min_supported) fitted
on the demo questions' tune half from real model answers, and reported on both halves.

    PAPERBOT_LOCAL_MODEL=... PAPERBOT_LOCAL_BASE_URL=http://127.0.0.1:PORT/v1 \\
    python -m evals.fit_focus --data-dir DIR --collection eval-demo-... [--datasets-dir ../shared/datasets]

Every demo question is asked once through the facade in llm mode, exactly as `paperbot eval --dataset demo --mode llm`
asks it (point PAPERBOT_LOCAL_BASE_URL at evals/record_proxy.py to replay recorded generations). The model's raw
answers are then checked again under every grid point: attribution with the point's focus settings, then the
decline rule (attribution.declines). Per half: attribution accuracy on single-paper questions (attributed or corrected
keys naming the gold paper, as evals/answer_metrics.py counts it), unanswerable questions declined, answerable ones
refused, and claims marked off the question. The point with the most supported gold-paper sentences kept (on every
answerable question, so that focus cannot cut a comparison's second paper) minus twice the wrong attributions plus twice
the unanswerable questions declined, among those refusing at most --max-refused of the tune half's answerable
questions (or as many as without focus and declines, when that is more), is chosen (ties: the least intervention). Halves are split by sha256 of the question id.
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
from paperbot.answer.attribution import AttributionPolicy, attribute, declines, question_focus
from paperbot.answer.injection import InstructionEcho
from paperbot.answer.own_decline import declines_in_own_words
from paperbot.types import Answer

FOCUS = (0.0, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
FLOORS = (0.0, 0.15, 0.2, 0.25, 0.3, 0.35)
MIN_SUPPORTED = (0.0, 0.25, 0.34, 0.5, 0.67)


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


def ask_all(bot: PaperBot, items: list[EvalItem]) -> list[Asked]:
    return [Asked(item, _ask(bot, item, "llm", None)[0]) for item in items]


def check(asked: Asked, bot: PaperBot, scorer, echo: InstructionEcho, policy: AttributionPolicy) -> dict:
    """The item re-checked under `policy`, as paperbot/answer/answerer.py checks an LLM answer."""
    item, answer = asked.item, asked.answer
    raw = answer.raw_text
    row = {"split": item.split, "answerable": bool(item.gold), "single": len(item.gold) == 1, "declined": True,
           "attributed": 0, "attributed_gold": 0, "gold_kept": 0, "claims": 0, "off_question": 0}
    if (answer.raw_text is None or not raw or raw.casefold().startswith(SENTINEL.casefold()[:30])
            or declines_in_own_words(raw, SENTINEL)):
        return row  # the abstention check or the model itself declined: no policy changes that
    leaked = echo.repeats(raw)
    checked = attribute(raw, answer.evidence, scorer, policy,
                        distrust=echo.repeats if leaked else lambda sentence: False,
                        leave_alone=lambda sentence: sentence.casefold().startswith(SENTINEL.casefold()[:30]),
                        focus=question_focus(answer.search_query, answer.evidence, bot.vocabulary()))
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
    paper of a comparison), less twice the wrong attributions, plus twice the unanswerable questions declined."""
    return summary["gold_sentences_kept"] - 2 * summary["wrong"] + 2 * summary["unanswerable_declined_n"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="the eval work dir holding the collection")
    parser.add_argument("--collection", required=True, help="the demo collection (as `paperbot eval --collection`)")
    parser.add_argument("--datasets-dir", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--max-refused", type=float, default=0.10, help="answerable questions refused, tune half")
    parser.add_argument("--out", type=Path, default=Path("evals/results/focus-fit.json"))
    args = parser.parse_args()
    settings = Settings(data_dir=args.data_dir, collection=args.collection)
    bot = PaperBot(settings)
    eval_set = datasets.load("demo", questions=None, corpus=[], split=None, datasets_dir=args.datasets_dir,
                             demo_corpus=None, work_dir=args.data_dir)
    asked = ask_all(bot, eval_set.items)
    scorer = _Remembered(bot.support_scorer)
    echo = InstructionEcho(bot.answer_prompts(bot.chat.model)["system"].render(sentinel=""))
    base = AttributionPolicy.from_settings(settings, focused=False)  # no focus: the grid below sets it

    def run(policy: AttributionPolicy) -> dict[str, dict]:
        rows = [check(a, bot, scorer, echo, policy) for a in asked]
        return {half: summarise([r for r in rows if r["split"] == half]) for half in ("tune", "report")}

    grid = {}
    for focus, floor, minimum in itertools.product(FOCUS, FLOORS, MIN_SUPPORTED):
        grid[(focus, floor, minimum)] = run(replace(base, focus=focus, focus_floor=floor, min_supported=minimum))
    # Never more refusals than --max-refused, or than the unchanged check already makes when that is more.
    cap = max(args.max_refused, grid[(0.0, 0.0, 0.0)]["tune"]["answerable_refused"])
    feasible = [p for p, r in grid.items() if r["tune"]["answerable_refused"] <= cap]
    chosen = max(feasible, key=lambda p: (objective(grid[p]["tune"]), -p[0], -p[1], -p[2]))
    none = (0.0, 0.0, 0.0)
    report = {
        "what": __doc__.split("\n\n", 2)[2].strip(),
        "command": f"python -m evals.fit_focus --data-dir DIR --collection {args.collection} "
                   f"--max-refused {args.max_refused}",
        "model": bot.chat.model, "support_scorer": bot.support_scorer.name, "off_question": base.off_question,
        "questions": {half: sum(a.item.split == half for a in asked) for half in ("tune", "report")},
        "chosen_on_tune": {"focus": chosen[0], "focus_floor": chosen[1], "min_supported": chosen[2],
                           **grid[chosen]},
        "without_focus_or_decline": {"focus": 0.0, "focus_floor": 0.0, "min_supported": 0.0, **grid[none]},
        "tune_grid": [{"focus": p[0], "focus_floor": p[1], "min_supported": p[2], "objective": objective(r["tune"]),
                       **r["tune"]} for p, r in grid.items()],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: report[k] for k in ("questions", "chosen_on_tune", "without_focus_or_decline")}, indent=2))


if __name__ == "__main__":
    main()
