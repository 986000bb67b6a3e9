"""Attribution margins (Settings.attribution_margin / attribution_gap) fitted on the demo questions' tune half and
reported on the other half, with claims made from the gold quotes (no model needed).

    python -m evals.attribution_margins --corpus ../shared/corpus/inference-cost-papers.txt [--data-dir DIR]
        [--support-scorer auto|lexical|learned|nli]   # the scorer the margins are for (PAPERBOT_SUPPORT_SCORER)

For every answerable single-paper demo question whose gold paper is among the evidence the prompt would show, the
claims a careless model could write about that evidence, each with the key attribution should end with:
  - the gold quote, uncited (gold key expected: "attributed");
  - the gold quote with every third word left out, uncited (a loose restatement; gold key expected);
  - the gold quote cited with another shown paper's key (gold key expected: "corrected");
  - the question itself, uncited: the developers wrote most questions in their own words, so it stands for a
    model restating the paper in other words (gold key expected);
  - another question's gold quote, whose paper is not shown, uncited (no key expected: "unsupported");
  - an unanswerable demo question, against the evidence shown for it, uncited (no key expected).
Positives score correct (gold key), wrong (another key) or flagged (no key, or ambiguous); negatives score a false
attribution when they get any key. The grid point with the most correct positives minus twice the wrong and
false ones on the tune half is chosen (ties: the larger margin, then the larger gap), and reported on the report half.
Halves are split by sha256 of the question id (evals/items.py).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import replace
from pathlib import Path

from evals.answers_demo import load_questions
from paperbot import PaperBot, Settings
from paperbot.answer.attribution import AttributionPolicy, attribute

MARGINS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
GAPS = (0.0, 0.02, 0.05, 0.1, 0.15)


def _loose(quote: str) -> str:
    words = quote.split()
    return " ".join(w for i, w in enumerate(words) if i % 3 != 2)


def build_cases(bot: PaperBot) -> list[dict]:
    """(split, claim text, evidence, expected key or None, kind) for every usable demo question."""
    questions = load_questions()
    items = [i for i in questions if len(i.gold) == 1 and i.gold_quotes]
    prepared = {item.id: bot.prepare(item.question, mode="llm") for item in items}
    cases = []
    for item in (i for i in questions if not i.gold):
        evidence = bot.prepare(item.question, mode="llm").evidence
        if evidence:
            cases.append({"split": item.split, "id": item.id, "evidence": evidence, "kind": "unanswerable question",
                          "text": item.question, "expected": None})
    for n, item in enumerate(items):
        evidence = prepared[item.id].evidence
        by_paper = {e.paper_id: e.key for e in evidence}
        (gold,) = item.gold
        if gold not in by_paper or gold not in item.gold_quotes:
            continue
        quote = item.gold_quotes[gold].rstrip(".")
        key = by_paper[gold]
        other = next((e.key for e in evidence if e.key != key), None)
        base = {"split": item.split, "id": item.id, "evidence": evidence}
        cases.append({**base, "kind": "quote", "text": f"{quote}.", "expected": key})
        cases.append({**base, "kind": "loose", "text": f"{_loose(quote)}.", "expected": key})
        cases.append({**base, "kind": "restated question", "text": item.question, "expected": key})
        if other:
            cases.append({**base, "kind": "wrong key", "text": f"{quote} [{other}].", "expected": key})
        foreign = next((o for o in items[n + 1:] + items[:n] if next(iter(o.gold)) not in by_paper
                        and next(iter(o.gold)) in o.gold_quotes), None)
        if foreign:
            cases.append({**base, "kind": "not shown", "expected": None,
                          "text": foreign.gold_quotes[next(iter(foreign.gold))].rstrip(".") + "."})
    return cases


def score(cases: list[dict], scorer, margin: float, gap: float) -> dict:
    counts = {"positives": 0, "correct": 0, "wrong": 0, "flagged": 0, "negatives": 0, "false_attributions": 0}
    policy = replace(AttributionPolicy.from_settings(Settings(), focused=False), margin=margin, gap=gap)
    for case in cases:
        (sentence, *_) = attribute(case["text"], case["evidence"], scorer, policy).sentences
        keys = sentence.keys
        if case["expected"] is None:
            counts["negatives"] += 1
            counts["false_attributions"] += bool(keys)
        else:
            counts["positives"] += 1
            if sentence.origin in ("ambiguous", "unsupported") or not keys:
                counts["flagged"] += 1
            elif keys == (case["expected"],):
                counts["correct"] += 1
            else:
                counts["wrong"] += 1
    rates = {f"{k}_rate": round(counts[k] / counts["positives"], 4) for k in ("correct", "wrong", "flagged")
             if counts["positives"]}
    if counts["negatives"]:
        rates["false_attribution_rate"] = round(counts["false_attributions"] / counts["negatives"], 4)
    return {**counts, **rates}


def objective(result: dict) -> int:
    return result["correct"] - 2 * (result["wrong"] + result["false_attributions"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, help="a store to (re)use; default: a fresh one")
    parser.add_argument("--support-scorer", default="lexical", help="as PAPERBOT_SUPPORT_SCORER")
    parser.add_argument("--out", type=Path, help="default: evals/results/attribution-margins-SCORER.json")
    args = parser.parse_args()
    bot = PaperBot(Settings(data_dir=args.data_dir or Path(tempfile.mkdtemp(prefix="paperbot-attr-")),
                            openai_api_key=None, openai_base_url=None, support_scorer=args.support_scorer))
    bot.ingest([args.corpus])
    scorer = bot.support_scorer
    out = args.out or Path(f"evals/results/attribution-margins-{args.support_scorer}.json")
    cases = build_cases(bot)
    halves = {half: [c for c in cases if c["split"] == half] for half in ("tune", "report")}
    grid = {(m, g): score(halves["tune"], scorer, m, g) for m in MARGINS for g in GAPS}
    margin, gap = max(grid, key=lambda mg: (objective(grid[mg]), mg[0], mg[1]))
    current = Settings.model_fields
    default = (current["attribution_margin"].default, current["attribution_gap"].default)
    report = {
        "what": __doc__.split("\n\n", 2)[2].strip(),
        "command": "python -m evals.attribution_margins --corpus ../shared/corpus/inference-cost-papers.txt "
                   f"--support-scorer {args.support_scorer}",
        "scorer": f"{scorer.name} (threshold {scorer.threshold})",
        "cases": {half: len(c) for half, c in halves.items()},
        "questions": {half: len({c["id"] for c in h}) for half, h in halves.items()},
        "chosen_on_tune": {"margin": margin, "gap": gap, "tune": grid[(margin, gap)],
                           "report": score(halves["report"], scorer, margin, gap)},
        "settings_default": {"margin": default[0], "gap": default[1], "tune": grid.get(default),
                             "report": score(halves["report"], scorer, *default)},
        "report_by_kind": {kind: score([c for c in halves["report"] if c["kind"] == kind], scorer, margin, gap)
                           for kind in ("quote", "loose", "wrong key", "restated question", "not shown",
                                        "unanswerable question")},
        "tune_grid": [{"margin": m, "gap": g, "objective": objective(r), **r} for (m, g), r in grid.items()],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: report[k] for k in ("cases", "chosen_on_tune", "settings_default", "report_by_kind")},
                     indent=2))


if __name__ == "__main__":
    main()
