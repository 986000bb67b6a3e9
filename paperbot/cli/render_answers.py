"""Terminal and JSON rendering of answers and dry runs for the CLI (rich markup only; no logic)."""

from __future__ import annotations

import dataclasses
import json
import sys

from rich.console import Console
from rich.markup import escape as markup_escape

from paperbot.answer.attribution import describe
from paperbot.text.terminal import clean, escape_json
from paperbot.types import Answer


def escape(text: object) -> str:
    """Answer text, titles, ids and URLs come from a model or from data: cleaned of terminal escape sequences and
    control characters, then escaped for rich markup."""
    return markup_escape(clean(text))


def print_answer(out: Console, answer: Answer, *, as_json: bool, streamed: bool) -> None:
    if as_json:
        sys.stdout.write(escape_json(json.dumps(answer.as_dict(), ensure_ascii=False, indent=2)) + "\n")
        return
    if not streamed:
        out.print(escape(answer.text))
    out.print()
    if answer.question_truncated:
        out.print(f"[yellow]The question was cut to its first {len(answer.question)} characters "
                  "(PAPERBOT_MAX_QUESTION_CHARS).[/]")
    if answer.truncated:
        out.print(f"[yellow]The answer is cut, incomplete:[/] {escape(answer.cut_reason or '')}")
    if streamed and answer.attribution is not None and answer.text != answer.raw_text:
        # What streamed cannot be taken back: the checked answer is printed again, below it.
        out.print("[bold]Checked answer[/]")
        out.print(escape(answer.text))
        out.print()
    if answer.abstained:
        out.print("[yellow]Not answerable from these papers.[/] Nearest papers:")
        for paper in answer.nearest_papers:
            out.print(f"  - {escape(paper.title)} [dim]({escape(paper.paper_id)})[/]")
        if answer.attribution is not None:
            print_attribution(out, answer)
    else:
        out.print("[bold]References[/]")
        added = set(answer.attribution.attributed_keys) if answer.attribution else set()
        for c in answer.citations:
            where = f" {c.url}" if c.url else ""
            year = f" ({c.year})" if c.year else ""
            mark = " [cyan](added by the check)[/]" if c.key in added else ""
            out.print(f"  [{c.key}] {escape(c.title)}{year} [dim]{escape(c.paper_id)}{escape(where)}[/]{mark}")
        flagged = answer.unsupported_sentences
        uncited = [s for s in answer.sentences if not s.keys and not s.supported and s.origin is None]
        if answer.attribution is not None:
            print_attribution(out, answer)
        elif flagged or uncited:
            out.print("[yellow]Check these sentences[/] (weak support in the papers they cite, or no citation):")
            for s in (*flagged, *uncited):
                out.print(f"  - {escape(s.sentence[:160])} [dim](support {s.score:.2f})[/]")
        if answer.instructions_leaked:
            out.print("[red]The answer repeats paperbot's own instructions: a source probably holds a prompt "
                      "injection. Do not trust this answer.[/]")
        if answer.invalid_keys_removed:
            out.print(f"[yellow]{answer.invalid_keys_removed} citation key(s) that were not among the sources "
                      "were removed.[/]")
    usage = answer.usage
    cost = "cost unknown" if answer.cost_usd is None and answer.mode == "llm" else (
        f"${answer.cost_usd:.5f}" if answer.cost_usd is not None else "no cost")
    tokens = f"{usage.prompt_tokens}+{usage.completion_tokens} tokens{' (estimated)' if usage.estimated else ''}"
    first = f", first token {answer.timings.first_token_ms:.0f} ms" if answer.timings.first_token_ms else ""
    model = answer.model or "extractive"
    out.print(f"[dim]{model} · {tokens} · {cost} · retrieval {answer.timings.retrieval_ms:.0f} ms{first} · "
              f"total {answer.timings.total_ms:.0f} ms[/]")


_MARKS = {  # per checked sentence: a sign, its colour, and what the check did
    "attributed": ("+", "cyan", "key added: {keys}"),
    "corrected": ("~", "cyan", "key corrected: {model} → {keys}"),
    "ambiguous": ("?", "yellow", "cited {model}, but {alternatives} fit equally well: check it"),
    "unsupported": ("!", "yellow", "no paper supports it{cited}"),
    "off question": ("!", "yellow", "only {alternatives} states it, a paper the question is not about{cited}"),
}


def print_attribution(out: Console, answer: Answer) -> None:
    """The check's summary line, then a mark per sentence it changed or flagged (model text escaped)."""
    out.print(f"[bold]{escape(describe(answer))}[/]")
    for item in answer.sentences:
        if item.origin not in _MARKS:
            continue
        sign, colour, what = _MARKS["off question" if item.only_off_question_paper else item.origin]
        cited = f" (cited {', '.join(item.keys)})" if item.keys else ""
        what = what.format(keys=", ".join(item.keys), model=", ".join(item.model_keys) or "none",
                           alternatives=" or ".join(item.alternatives), cited=cited)
        if item.dropped:
            what += "; dropped from the answer"
        out.print(f"  [{colour}]{sign}[/] {escape(item.sentence[:160])} [dim]({escape(what)}; "
                  f"support {item.score:.2f})[/]")


def print_dry_run(out: Console, bot, prepared, *, model: str | None, as_json: bool) -> None:
    from paperbot.llm.pricing import price_for

    chat_model = model or bot.settings.chat_model
    price = price_for(bot.settings, chat_model)
    estimate = None
    if price is not None:
        estimate = (prepared.prompt_tokens * price.input_per_m
                    + bot.settings.max_answer_tokens * price.output_per_m) / 1e6
    if as_json:
        sys.stdout.write(escape_json(json.dumps({
            "model": chat_model, "messages": prepared.messages, "prompt_tokens": prepared.prompt_tokens,
            "max_answer_tokens": bot.settings.max_answer_tokens, "estimated_cost_usd_at_most": estimate,
            "evidence": [dataclasses.asdict(e) for e in prepared.evidence], "search_query": prepared.search_query,
        }, ensure_ascii=False, indent=2)) + "\n")
        return
    for message in prepared.messages:
        out.print(f"[bold]── {message['role']} ──[/]")
        out.print(escape(message["content"]))
    cost = f"at most ${estimate:.5f}" if estimate is not None else "unknown (no price for this model)"
    out.print(f"[dim]{chat_model}: {prepared.prompt_tokens} prompt tokens + up to {bot.settings.max_answer_tokens} "
              f"answer tokens; cost {cost}. Nothing was sent.[/]")
