"""Terminal rendering of summaries, digest plans and comparison tables for the CLI (rich markup only; no logic)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape as markup_escape
from rich.table import Table

from paperbot.summaries.formats import plan_lines, sentence_tags
from paperbot.summary_types import NOT_STATED, Comparison, DigestPlan, PaperSummary, SummaryField
from paperbot.text.terminal import clean


def escape(text: object) -> str:
    """Summaries, titles and ids come from a model or from data: cleaned of terminal escapes, then markup-escaped."""
    return markup_escape(clean(text))


def _field(out: Console, label: str, item: SummaryField) -> None:
    text = escape(item.text) if item.stated else f"[dim]{NOT_STATED}[/]"
    tags = sentence_tags(item.sentences)
    out.print(f"[bold]{label}:[/] {text}" + (f" [cyan]{escape(tags)}[/]" if tags else ""))


def print_summary(out: Console, summary: PaperSummary) -> None:
    out.print(f"[bold]{escape(summary.title)}[/] [dim]{escape(summary.paper_id)}[/]")
    _field(out, "TL;DR", summary.tldr)
    _field(out, "Problem", summary.problem)
    _field(out, "Approach", summary.approach)
    if summary.results:
        out.print("[bold]Key results:[/]")
        for item in summary.results:
            out.print(f"  - {escape(item.text)} [cyan]{escape(sentence_tags(item.sentences))}[/]")
    else:
        out.print(f"[bold]Key results:[/] [dim]{NOT_STATED}[/]")
    _field(out, "Limitations", summary.limitations)
    if summary.unsupported_numbers:
        out.print(f"[yellow]Numbers the abstract does not state:[/] {escape(', '.join(summary.unsupported_numbers))}")
    cited: dict[int, str] = {}
    for item in (summary.tldr, summary.problem, summary.approach, *summary.results, summary.limitations):
        cited.update((s.index, s.text) for s in item.sentences)
    if cited:
        out.print("[dim]Sentences cited:[/]")
        for index, text in sorted(cited.items()):
            out.print(f"  [cyan]s{index}[/] [dim]{escape(text)}[/]")
    source = "extractive (sentences quoted verbatim, no LLM)" if summary.mode == "extractive" else summary.model
    if summary.cached:
        spent = "from the cache, no request"
    elif summary.mode == "llm":
        cost = f"${summary.cost_usd:.5f}" if summary.cost_usd is not None else "cost unknown"
        repaired = ", repaired once" if summary.repaired else ""
        spent = f"{summary.usage.prompt_tokens}+{summary.usage.completion_tokens} tokens, {cost}{repaired}"
    else:
        spent = "no cost"
    out.print(f"[dim]{escape(str(source))} · {spent} · prompt {summary.prompt_version}[/]")


def print_plan(out: Console, plan: DigestPlan) -> None:
    for line in plan_lines(plan):
        out.print(escape(line))
    out.print("[dim]Nothing was sent.[/]")


def comparison_text(table: Comparison) -> str:
    """The comparison as plain text for a pipe: a block per paper, one line per aspect, no table borders or
    Markdown to strip; sentences cited listed under each paper."""
    lines: list[str] = []
    for row in table.rows:
        lines.append(f"{clean(row.title)} ({clean(row.paper_id)})")
        for aspect, cell in zip(table.aspects, row.cells):
            text = f"{cell.text} [s{cell.sentence.index}]" if cell.sentence is not None else NOT_STATED
            lines.append(f"  {clean(aspect)}: {clean(text)}")
        cited = {c.sentence.index: c.sentence.text for c in row.cells if c.sentence is not None}
        lines += [f"    s{index}: {clean(text)}" for index, text in sorted(cited.items())]
        lines.append("")
    lines.append("[sN] is sentence N of the paper's abstract (from 0).")
    if table.rejected_cells:
        lines.append(f"{table.rejected_cells} cell(s) the model filled were set to “{NOT_STATED}”: their cited "
                     "sentence does not exist or does not say it.")
    return "\n".join(lines) + "\n"


def print_comparison(out: Console, table: Comparison) -> None:
    grid = Table("paper", *table.aspects, show_lines=True)
    for row in table.rows:
        cells = [f"{escape(c.text)} [cyan]\\[s{c.sentence.index}][/]" if c.sentence is not None
                 else f"[dim]{NOT_STATED}[/]" for c in row.cells]
        grid.add_row(f"[bold]{escape(row.title)}[/]\n[dim]{escape(row.paper_id)}[/]", *cells)
    out.print(grid)
    out.print("[dim]\\[sN] is sentence N of the paper's abstract (from 0); `--format markdown` lists them.[/]")
    if table.rejected_cells:
        out.print(f"[yellow]{table.rejected_cells} cell(s) the model filled were set to “{NOT_STATED}”: their cited "
                  "sentence does not exist or does not say it.[/]")
    if table.mode == "llm":
        cost = f"${table.cost_usd:.5f}" if table.cost_usd is not None else "cost unknown"
        out.print(f"[dim]{table.model} · {table.requests} requests · {table.usage.prompt_tokens}+"
                  f"{table.usage.completion_tokens} tokens · {cost}[/]")
