"""Markdown and CSV text of summaries, digests and comparison tables (plain text: no terminal styling, no logic)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from paperbot.summary_types import NOT_STATED, Comparison, Digest, DigestPlan, SentenceRef
from paperbot.text.wording import counted


def sentence_tags(sentences: Iterable[SentenceRef]) -> str:
    """"[s2, s5]": the 0-based sentence numbers of the abstract that a field or cell cites."""
    indices = [f"s{s.index}" for s in sentences]
    return f"[{', '.join(indices)}]" if indices else ""


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def plan_lines(plan: DigestPlan) -> list[str]:
    """The digest plan as plain lines: what `--dry-run` prints."""
    if plan.mode == "extractive":
        return [f"extractive digest of {counted(plan.papers, 'paper')} in {counted(plan.themes, 'theme')}: no LLM "
                "calls, no cost"]
    cost = (f"at most ${plan.estimated_cost_usd:.5f}" if plan.estimated_cost_usd is not None
            else "unknown (no price for this model)")
    lines = [f"{plan.model}: {counted(len(plan.calls), 'call')} for {counted(plan.papers, 'paper')} in "
             f"{counted(plan.themes, 'theme')}; "
             f"{plan.prompt_tokens} prompt tokens (each call within the {plan.prompt_limit}-token budget) + up to "
             f"{plan.max_output_tokens} output tokens; cost {cost}"]
    for number, call in enumerate(plan.calls, start=1):
        keys = ", ".join(call.papers)
        bound = "≤ " if call.step == "reduce" else ""
        lines.append(f"  {number:3}. theme {call.theme + 1} {call.step:6} {bound}{call.prompt_tokens} prompt tokens "
                     f"+ ≤ {call.max_output_tokens} output; papers {keys}")
    return lines


def digest_markdown(digest: Digest) -> str:
    scope = f"papers matching “{digest.query}”" if digest.query else "papers"
    papers = "1 paper" + scope.removeprefix("papers") if len(digest.papers) == 1 else f"{len(digest.papers)} {scope}"
    lines = [f"# Digest: {papers} in {counted(len(digest.themes), 'theme')}", ""]
    if digest.mode == "extractive":
        lines += ["*Extractive digest (no LLM): theme names are distinctive keywords; every sentence is quoted "
                  "verbatim from the paper whose key follows it.*", ""]
    else:
        lines += [f"*Written by {digest.model}; keys [P#] refer to the papers listed under each theme.*", ""]
    for number, theme in enumerate(digest.themes, start=1):
        lines += [f"## {number}. {theme.name}", ""]
        if theme.keywords and digest.mode == "llm":
            lines += [f"Keywords: {', '.join(theme.keywords)}", ""]
        lines += [theme.paragraph or "_(no paragraph)_", ""]
        for key in theme.paper_keys:
            paper = digest.paper(key)
            year = f" ({paper.year})" if paper.year else ""
            link = f" — {paper.url}" if paper.url else ""
            lines.append(f"- [{key}] {paper.title}{year} `{paper.paper_id}`{link}")
        lines.append("")
    if digest.mode == "llm":
        cost = f"${digest.cost_usd:.5f}" if digest.cost_usd is not None else "cost unknown"
        lines.append(f"*{digest.requests} requests, {digest.usage.prompt_tokens}+{digest.usage.completion_tokens} "
                     f"tokens, {cost}.*")
    return "\n".join(lines).rstrip() + "\n"


def _cell_text(text: str, sentence: SentenceRef | None) -> str:
    return f"{text} [s{sentence.index}]" if sentence is not None else text


def comparison_markdown(table: Comparison) -> str:
    lines = ["| paper | " + " | ".join(_md_cell(a) for a in table.aspects) + " |",
             "|---|" + "---|" * len(table.aspects)]
    for row in table.rows:
        cells = [_md_cell(_cell_text(c.text, c.sentence)) for c in row.cells]
        lines.append(f"| {_md_cell(row.title)} | " + " | ".join(cells) + " |")
    lines += ["", "Sentences cited ([sN] is sentence N of the paper's abstract, from 0):", ""]
    for row in table.rows:
        cited = {c.sentence.index: c.sentence.text for c in row.cells if c.sentence is not None}
        if cited:
            lines.append(f"- {_md_cell(row.title)} (`{row.paper_id}`)")
            lines += [f"  - s{i}: {text}" for i, text in sorted(cited.items())]
    if table.rejected_cells:
        lines += ["", f"{table.rejected_cells} cell(s) the model filled were set to “{NOT_STATED}”: the sentence "
                  "they cited does not exist or does not say it."]
    return "\n".join(lines) + "\n"


def comparison_csv(table: Comparison) -> str:
    """One row per paper; per aspect three columns: the phrase, its sentence number and the sentence."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    header = ["paper_id", "title"]
    for aspect in table.aspects:
        header += [aspect, f"{aspect} sentence", f"{aspect} sentence text"]
    writer.writerow(header)
    for row in table.rows:
        values = [row.paper_id, row.title]
        for cell in row.cells:
            values += [cell.text, "" if cell.sentence is None else cell.sentence.index,
                       "" if cell.sentence is None else cell.sentence.text]
        writer.writerow(values)
    return buffer.getvalue()
