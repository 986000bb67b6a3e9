"""The `paperbot eval` command body: load the set, run the configs with a progress bar, write the report, gate it."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from evals import datasets, report
from evals.configs import parse_configs
from evals.run import answer_modes, run_configs
from paperbot import PaperbotError, Settings

RUNS = Path("evals") / "results" / "runs"  # under the working directory; gitignored


@dataclass
class EvalOptions:
    dataset: str | None = None
    questions: Path | None = None
    corpus: list[Path] = field(default_factory=list)
    split: str | None = None
    datasets_dir: Path | None = None
    demo_corpus: Path | None = None
    configs: str = "dense,lexical,hybrid"
    mode: str = "auto"
    limit: int | None = None
    max_corpus: int | None = None
    work_dir: Path | None = None
    collection: str | None = None
    out: Path | None = None
    gate: Path | None = None
    judge: bool = True
    command: str = "paperbot eval"  # as typed, for the report


def default_out(name: str) -> Path:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return RUNS / f"{re.sub(r'[^A-Za-z0-9._-]+', '-', name)}-{stamp}"


def evaluate(options: EvalOptions, base: Settings, console: Console, err: Console) -> tuple[dict, Path, list[str]]:
    """Returns (results, report dir, gate failures)."""
    if options.limit is not None and options.limit < 1:
        raise PaperbotError("--limit must be at least 1")
    work_dir = (options.work_dir or Path("eval-data")).resolve()
    started = time.perf_counter()
    eval_set = datasets.load(
        options.dataset, questions=options.questions, corpus=options.corpus, split=options.split,
        datasets_dir=options.datasets_dir, demo_corpus=options.demo_corpus, work_dir=work_dir,
        limit=options.limit, max_corpus=options.max_corpus)
    if not eval_set.items:
        raise PaperbotError(f"the {eval_set.name} set has no items")
    base = base.model_copy(update={"data_dir": work_dir})
    configs = parse_configs(options.configs, base)
    modes = answer_modes(options.mode, base) if eval_set.answers else []
    judge = None
    if options.judge and modes:
        from evals.judge import make_judge

        judge = make_judge(base)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=err, transient=False, disable=not err.is_terminal) as progress:
        results, stores = run_configs(eval_set, configs, base, collection=options.collection, modes=modes,
                                      judge=judge, progress=progress)
    summary = report.build_results(eval_set, results, stores, limit=options.limit, command=options.command,
                                   seconds=time.perf_counter() - started)
    out = options.out or default_out(eval_set.name)
    report.write(out, summary, results)
    if not console.is_terminal:  # a pipe or a file: wide enough for every config name, not folded at 80 columns
        console.width = max(console.width, 28 + sum(max(14, len(name) + 4) for name in summary["configs"]))
    console.print(report.side_by_side(summary))
    console.print(f"report: {out}/report.md (results.json, per_query.jsonl, plots)")
    failures: list[str] = []
    if options.gate is not None:
        from evals.gate import check

        failures = check(summary, options.gate)
    return summary, out, failures
