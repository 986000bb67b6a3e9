"""HTML and Markdown of answers, sources, papers, summaries, digests and reports, every value escaped."""

# Everything a paper, a file or a person supplies is escaped here, so no title or abstract is run or read as markup.

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from paperbot.answer.attribution import describe
from paperbot.summary_types import NOT_STATED, Comparison, Digest, PaperSummary, SentenceRef, SummaryField
from paperbot.text.wording import counted
from paperbot.types import Answer, Citation, IngestReport, Paper, SentenceSupport

# The same key groups the citation checker reads: [P1], [P1, P3], [P1; P2].
_KEY_GROUP = re.compile(r"\[\s*(P\d+(?:\s*[,;]\s*P\d+)*)\s*\]")
_KEY = re.compile(r"P\d+")
# Characters Markdown (marked, as the Chatbot uses it) may read as syntax; a backslash makes each literal. Not '.':
# escaping it would break the links made of URLs; a number starting a line ("1. ") is escaped on its own.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-!|~$=])")
_LIST_NUMBER = re.compile(r"^(\s*\d+)\.", re.MULTILINE)
# URLs in a paper's text become plain autolinks (<https://…>), whose text Markdown takes literally.
_URL = re.compile(r"https?://[^\s<>\"'`]+[^\s<>\"'`.,;:!?)\]]")
_WORD = re.compile(r"\w+")
_SPACE_BEFORE_STOP = re.compile(r"\s+([.,;:!?])")


# --- escaping -----------------------------------------------------------------------------------------------------
def esc(text: object) -> str:
    """Text for HTML content or a quoted attribute."""
    return html.escape(str(text), quote=True)


def _md_plain(text: str) -> str:
    # HTML first (only &, <, >: the quote entities would contain '#', which the second step escapes).
    return _LIST_NUMBER.sub(r"\1\\.", _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False)))


def md(text: object) -> str:
    """Text for a Markdown component: shown literally, never as HTML, emphasis, headings or LaTeX; http(s) URLs
    become links."""
    text, out, last = str(text), [], 0
    for match in _URL.finditer(text):
        out += [_md_plain(text[last:match.start()]), f"<{match.group(0)}>"]
        last = match.end()
    out.append(_md_plain(text[last:]))
    return "".join(out)


def safe_url(url: str | None) -> str | None:
    """Only http(s) links are made clickable; anything else (javascript:, data:) is shown as text or dropped."""
    if not url:
        return None
    try:
        scheme = urlsplit(url.strip()).scheme.lower()
    except ValueError:
        return None
    return url.strip() if scheme in ("http", "https") else None


def redact_url(url: str | None) -> str:
    """A base URL for display: credentials embedded in it (user:pass@host) are hidden."""
    if not url:
        return "not set"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparseable URL)"
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{'***@' if parts.username or parts.password else ''}{host}{port}{parts.path}"


def _id(text: object) -> str:
    """An id or URL: long unbroken strings that may wrap anywhere on a narrow screen (prose never breaks mid-word)."""
    return f'<span class="pb-id">{esc(text)}</span>'


def _link(url: str | None, label: str) -> str:
    href = safe_url(url)
    if href is None:
        return esc(label)
    return f'<a href="{esc(href)}" target="_blank" rel="noopener noreferrer nofollow">{esc(label)}</a>'


# --- chat ---------------------------------------------------------------------------------------------------------
def source_anchor(turn: int, key: str) -> str:
    """The id of a cited paper's card in the sources panel; citation links in the chat point at it."""
    return f"pb-src-{turn}-{key}"


def footer(answer: Answer) -> str:
    """Mode or model, tokens, cost and latency of one answer, as one line of plain text."""
    if answer.mode == "extractive":
        parts = ["extractive (no LLM)", "no tokens", "no cost"]
    else:
        usage = answer.usage
        tokens = f"{usage.prompt_tokens}+{usage.completion_tokens} tokens" + (" (estimated)" if usage.estimated else "")
        cost = f"${answer.cost_usd:.5f}" if answer.cost_usd is not None else "cost unknown"
        parts = [f"LLM {answer.model}", tokens, cost]
    parts.append(f"{answer.timings.total_ms / 1000:.1f} s")
    if answer.timings.first_token_ms:
        parts.append(f"first token {answer.timings.first_token_ms / 1000:.1f} s")
    return " · ".join(parts)


def streaming_markdown(text: str) -> str:
    """A partial answer while it streams: escaped, with a cursor."""
    return md(text) + " ▍"


def _linked(text: str, turn: int, cited: set[str], added: Iterable[str] = ()) -> str:
    """The answer text escaped, with each cited key turned into a link to its card in the sources panel; a key the
    check `added` (the model did not write it there) is marked ⁺ and says so on hover."""
    out: list[str] = []
    last = 0
    for match in _KEY_GROUP.finditer(text):
        out.append(md(text[last:match.start()]))
        keys = _KEY.findall(match.group(1))
        links = [(f'[{key}⁺](#{source_anchor(turn, key)} "{ADDED_TITLE}")' if key in added
                  else f"[{key}](#{source_anchor(turn, key)})") if key in cited else key for key in keys]
        out.append("\\[" + ", ".join(links) + "\\]")
        last = match.end()
    out.append(md(text[last:]))
    return "".join(out)


ADDED_TITLE = "added by paperbot's check: the model did not cite this paper here"
_FLAGS = {"unsupported": "⚠ no paper supports this", "ambiguous": "⚠ several papers fit: check the sources"}


def _checked(answer: Answer, turn: int) -> str:
    """A checked LLM answer, sentence by sentence: attributed keys marked, flagged sentences followed by their flag."""
    cited = {c.key for c in answer.citations}
    text, out, cursor = answer.text, [], 0
    for item in answer.sentences:
        at = -1 if item.dropped else text.find(item.sentence, cursor)
        if at < 0:
            continue
        out.append(md(text[cursor:at]))
        out.append(_linked(item.sentence, turn, cited, item.attributed_keys))
        if item.only_off_question_paper:
            out.append(f" *{md(f'⚠ only {_either(item)} states this, a paper the question is not about')}*")
        elif item.origin in _FLAGS:
            out.append(f" *{md(_FLAGS[item.origin])}*")
        cursor = at + len(item.sentence)
    out.append(_linked(text[cursor:], turn, cited))
    return "".join(out)


def nearest_markdown(papers: Sequence[Citation]) -> str:
    if not papers:
        return "No paper in the store is close to this question."
    lines = ["Nearest papers:"]
    for paper in papers:
        year = f" ({paper.year})" if paper.year else ""
        lines.append(f"- {md(paper.title)}{md(year)} — {md(paper.paper_id)}")
    return "\n".join(lines)


def answer_markdown(answer: Answer, turn: int) -> str:
    """The chat message of a finished answer: linked keys, a cannot-answer notice with the nearest papers, a footer."""
    if answer.abstained:
        nearest = nearest_markdown(answer.nearest_papers)
        body = f"**⚠ Cannot answer from these papers.**\n\n{md(answer.text)}\n\n{nearest}"
    else:
        body = (_checked(answer, turn) if answer.attribution is not None
                else _linked(answer.text, turn, {c.key for c in answer.citations}))
        if answer.mode == "extractive":
            body = "*Extractive answer (no LLM): sentences quoted verbatim from the papers.*\n\n" + body
        flagged = sum(1 for s in answer.sentences if not s.supported)
        if answer.instructions_leaked:
            body += ("\n\n**⚠ This answer repeats paperbot's own instructions: a source probably holds a prompt "
                     "injection.**")
        if answer.attribution is not None:
            added = " (keys marked ⁺ were added by the check)" if answer.attribution.attributed_keys or any(
                s.attributed_keys for s in answer.sentences) else ""
            body += f"\n\n*{md(describe(answer))}{md(added)}.*"
        elif flagged:
            body += f"\n\n*⚠ {flagged} sentence(s) weakly supported or uncited: see the sources panel.*"
    if answer.question_truncated:
        body += f"\n\n*The question was cut to its first {len(answer.question)} characters.*"
    if answer.truncated:
        body += f"\n\n**⚠ The answer is cut, incomplete:** {md(answer.cut_reason or '')}"
    return f"{body}\n\n<sub>{md(footer(answer))}</sub>"


def error_markdown(message: str) -> str:
    return f"**⚠ No answer.** {md(message)}\n\nThe app still works: change the settings or ask again."


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text) if len(w) > 2}


def _cited_sentences(answer: Answer) -> dict[str, set[str]]:
    """Per key, the evidence sentences that the answer's sentences citing it rest on (best word overlap)."""
    by_key = {e.key: e for e in answer.evidence}
    found: dict[str, set[str]] = {}
    for item in answer.sentences:
        claim = _words(_KEY_GROUP.sub(" ", item.sentence))
        for key in item.keys:
            evidence = by_key.get(key)
            if evidence is None or not claim:
                continue
            scored = [(len(claim & _words(s)) / len(claim | _words(s)), s) for s in evidence.sentences if s.strip()]
            if scored:
                score, best = max(scored)
                if score >= 0.15:
                    found.setdefault(key, set()).add(best)
    return found


@dataclass(frozen=True)
class SupportFlag:
    label: str
    css: str


def _either(item: SentenceSupport) -> str:
    return " or ".join(item.alternatives)


def support_flag(item: SentenceSupport, *, quoted: bool = False) -> SupportFlag:
    """The label beside an answer sentence; `quoted` (an extractive answer): a cited sentence is the paper's own
    words, so it says so instead of a support score that could only be 1.00."""
    if quoted and item.keys and item.supported:
        return SupportFlag("quoted", "pb-ok")
    if item.origin == "attributed":
        return SupportFlag(f"key added {item.score:.2f}", "pb-added")
    if item.origin == "corrected":
        return SupportFlag(f"corrected from {', '.join(item.model_keys)} {item.score:.2f}", "pb-added")
    if item.origin == "ambiguous":
        return SupportFlag(f"ambiguous: {_either(item)}", "pb-weak")
    if item.only_off_question_paper:
        return SupportFlag(f"{'dropped: ' if item.dropped else ''}off the question: only {_either(item)} states it",
                           "pb-weak")
    if item.origin == "unsupported":
        return SupportFlag(f"{'dropped: ' if item.dropped else ''}unsupported {item.score:.2f}", "pb-weak")
    if not item.keys:
        return SupportFlag("no citation" if not item.supported else "no claim", "pb-weak" if not item.supported
                           else "pb-ok")
    return SupportFlag(f"supported {item.score:.2f}", "pb-ok") if item.supported else SupportFlag(
        f"weak support {item.score:.2f}", "pb-weak")


def _source_card(turn: int, citation: Citation, answer: Answer, highlighted: set[str]) -> str:
    evidence = next((e for e in answer.evidence if e.key == citation.key), None)
    sentences = evidence.sentences if evidence else ()
    cited = [s for s in sentences if s in highlighted]
    quote = ("".join(f"<p><mark>{esc(s)}</mark></p>" for s in cited) if cited
             else '<p class="pb-meta">No single sentence matches the answer closely: see the evidence below.</p>')
    body = " ".join(f"<mark>{esc(s)}</mark>" if s in highlighted else esc(s) for s in sentences)
    year = f" · {esc(citation.year)}" if citation.year else ""
    link = f" · {_link(citation.url, 'open')}" if safe_url(citation.url) else ""
    # The cited sentences up front; everything the model was shown of the paper folded below them.
    return (f'<div class="pb-source" id="{esc(source_anchor(turn, citation.key))}">'
            f'<div class="pb-source-title"><span class="pb-key">{esc(citation.key)}</span> {esc(citation.title)}</div>'
            f'<div class="pb-meta">{_id(citation.paper_id)}{year}{link}</div>'
            f'<blockquote class="pb-cited">{quote}</blockquote>'
            f'<details class="pb-more"{"" if cited else " open"}><summary>Evidence shown ({len(sentences)} '
            f'sentences)</summary><p class="pb-evidence">{body}</p></details></div>')


def _without_keys(sentence: str) -> str:
    return _SPACE_BEFORE_STOP.sub(r"\1", _KEY_GROUP.sub("", sentence)).strip()


def _sentence_rows(sentences: Iterable[SentenceSupport], *, quoted: bool = False) -> str:
    rows = []
    for item in sentences:
        flag = support_flag(item, quoted=quoted)
        keys = ", ".join(item.keys) or "—"
        rows.append(f'<li><span class="pb-flag {flag.css}">{esc(flag.label)}</span> '
                    f'<span class="pb-keys">[{esc(keys)}]</span> {esc(_without_keys(item.sentence))}</li>')
    return f'<ol class="pb-sentences">{"".join(rows)}</ol>' if rows else ""


def turn_sources_html(turn: int, question: str, answer: Answer | None, error: str | None, *, open_: bool) -> str:
    """One turn's block of the sources panel: the question, per cited paper a card, each answer sentence's flag."""
    head = f'<summary><span class="pb-turn">Q{turn + 1}</span> {esc(question)}</summary>'
    if answer is None:
        inner = f'<p class="pb-error">⚠ {esc(error or "no answer")}</p>'
    elif answer.abstained:
        items = "".join(
            f'<li>{esc(p.title)}{" (" + esc(p.year) + ")" if p.year else ""} <span class="pb-meta">{_id(p.paper_id)}'
            f'</span></li>' for p in answer.nearest_papers)
        inner = (f'<p class="pb-cannot">⚠ Cannot answer from these papers.</p>'
                 f'<p>Nearest papers:</p><ul>{items or "<li>none</li>"}</ul>')
    else:
        highlighted = _cited_sentences(answer)
        cards = "".join(_source_card(turn, c, answer, highlighted.get(c.key, set())) for c in answer.citations)
        inner = cards or '<p class="pb-meta">No paper was cited.</p>'
        if answer.sentences:
            inner += ('<div class="pb-subhead">Answer sentences and their support</div>'
                      + _sentence_rows(answer.sentences, quoted=answer.mode == "extractive"))
        if answer.invalid_keys_removed:
            inner += (f'<p class="pb-weak">{answer.invalid_keys_removed} citation key(s) that were not among the '
                      f'sources were removed.</p>')
        if answer.instructions_leaked:
            inner += ('<p class="pb-weak">⚠ The answer repeats paperbot\'s own instructions: a source probably holds '
                      'a prompt injection. Do not trust this answer.</p>')
    foot = f'<div class="pb-footer">{esc(footer(answer))}</div>' if answer is not None else ""
    return f'<details class="pb-turn-block"{" open" if open_ else ""}>{head}{inner}{foot}</details>'


def sources_html(blocks: Sequence[str]) -> str:
    """The sources panel: the newest turn first (open), older turns folded."""
    if not blocks:
        return ('<div class="pb-sources pb-empty">Sources appear here: click a citation key such as [P1] in an answer '
                'to jump to the paper and the sentences it rests on.</div>')
    return f'<div class="pb-sources">{"".join(reversed(blocks))}</div>'


# --- papers -------------------------------------------------------------------------------------------------------
def _highlight(abstract: str, sentences: Iterable[SentenceRef]) -> str:
    """The abstract escaped, with each cited sentence marked and labelled with its number."""
    spans: list[tuple[int, int, int]] = []
    for ref in sentences:
        start = abstract.find(ref.text)
        if start >= 0 and not any(s <= start < e for s, e, _ in spans):
            spans.append((start, start + len(ref.text), ref.index))
    out, last = [], 0
    for start, end, index in sorted(spans):
        out.append(esc(abstract[last:start]))
        out.append(f'<mark title="sentence s{index}">{esc(abstract[start:end])}<sup>s{index}</sup></mark>')
        last = end
    out.append(esc(abstract[last:]))
    return "".join(out)


def paper_html(paper: Paper, *, abstract: bool = True) -> str:
    """Title, id, year, link, authors, and (unless the summary below shows it) the abstract."""
    year = f" · {esc(paper.year)}" if paper.year else ""
    authors = f'<div class="pb-meta">{esc("; ".join(paper.authors))}</div>' if paper.authors else ""
    link = f' · <span class="pb-id">{_link(paper.url, paper.url or "")}</span>' if paper.url else ""
    text = f'<p class="pb-abstract">{esc(paper.abstract)}</p>' if abstract else ""
    return (f'<div class="pb-paper"><h3 class="pb-paper-title">{esc(paper.title)}</h3>'
            f'<div class="pb-meta">{_id(paper.id)}{year}{link}</div>{authors}{text}</div>')


def abstract_html(abstract: str) -> str:
    return f'<div class="pb-subhead">Abstract</div><p class="pb-abstract">{esc(abstract)}</p>'


def _field(label: str, item: SummaryField) -> str:
    tags = ", ".join(f"s{s.index}" for s in item.sentences)
    css = "" if item.stated else ' class="pb-meta"'
    cites = f' <span class="pb-keys">[{esc(tags)}]</span>' if tags else ""
    return f"<dt>{esc(label)}</dt><dd{css}>{esc(item.text)}{cites}</dd>"


def summary_html(summary: PaperSummary, abstract: str, seconds: float) -> str:
    results = "".join(_field("Key result", r) for r in summary.results) or _field("Key results",
                                                                                  SummaryField(NOT_STATED))
    fields = (_field("TL;DR", summary.tldr) + _field("Problem", summary.problem) + _field("Approach", summary.approach)
              + results + _field("Limitations", summary.limitations))
    cited = [s for f in (summary.tldr, summary.problem, summary.approach, *summary.results, summary.limitations)
             for s in f.sentences]
    origin = "extractive (no LLM)" if summary.mode == "extractive" else f"LLM {summary.model}"
    how = "from the cache" if summary.cached else f"generated in {seconds:.1f} s"
    numbers = (f'<p class="pb-weak">Numbers not in the abstract: {esc(", ".join(summary.unsupported_numbers))}</p>'
               if summary.unsupported_numbers else "")
    return (f'<div class="pb-summary"><dl>{fields}</dl>{numbers}'
            f'<div class="pb-subhead">Abstract, cited sentences marked</div>'
            f'<p class="pb-abstract">{_highlight(abstract, cited)}</p>'
            f'<div class="pb-footer">Summary: {esc(origin)}, {esc(how)}</div></div>')


# --- digests and comparisons --------------------------------------------------------------------------------------
def digest_html(digest: Digest) -> str:
    scope = f"papers matching “{esc(digest.query)}”" if digest.query else "papers"
    papers = "1 paper" + scope.removeprefix("papers") if len(digest.papers) == 1 else f"{len(digest.papers)} {scope}"
    parts = [f'<div class="pb-digest"><h3>{papers} in {counted(len(digest.themes), "theme")}</h3>']
    for number, theme in enumerate(digest.themes, start=1):
        keywords = f'<div class="pb-meta">keywords: {esc(", ".join(theme.keywords))}</div>' if theme.keywords else ""
        items = []
        for key in theme.paper_keys:
            paper = digest.paper(key)
            year = f" ({esc(paper.year)})" if paper.year else ""
            items.append(f'<li><span class="pb-key">{esc(key)}</span> {esc(paper.title)}{year} '
                         f'<span class="pb-meta">{_id(paper.paper_id)}</span></li>')
        parts.append(f'<section class="pb-theme"><h4>{number}. {esc(theme.name)}</h4>{keywords}'
                     f'<p>{esc(theme.paragraph or "(no paragraph)")}</p><ul>{"".join(items)}</ul></section>')
    origin = "extractive (no LLM)" if digest.mode == "extractive" else f"LLM {digest.model}, {digest.requests} requests"
    parts.append(f'<div class="pb-footer">{esc(origin)}</div></div>')
    return "".join(parts)


def comparison_html(table: Comparison) -> str:
    head = "".join(f"<th>{esc(a)}</th>" for a in table.aspects)
    rows = []
    for row in table.rows:
        cells = []
        for cell in row.cells:
            if cell.stated and cell.sentence is not None:
                cells.append(f'<td title="{esc(cell.sentence.text)}">{esc(cell.text)} '
                             f'<span class="pb-keys">[s{cell.sentence.index}]</span></td>')
            else:
                cells.append(f'<td class="pb-meta">{esc(NOT_STATED)}</td>')
        rows.append(f'<tr><th scope="row">{esc(row.title)}<div class="pb-meta">{_id(row.paper_id)}</div></th>'
                    f'{"".join(cells)}</tr>')
    note = (f'<p class="pb-weak">{table.rejected_cells} cell(s) the model filled were set to “{NOT_STATED}”: the '
            f'sentence they cited does not say it.</p>' if table.rejected_cells else "")
    origin = "extractive (no LLM)" if table.mode == "extractive" else f"LLM {table.model}"
    return (f'<div class="pb-compare"><table><thead><tr><th>paper</th>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>{note}'
            f'<div class="pb-footer">{esc(origin)}; hover a cell for the sentence it cites ([sN] is sentence N of the '
            f'abstract, from 0)</div></div>')


# --- ingest -------------------------------------------------------------------------------------------------------
def ingest_html(report: IngestReport | None, rejected: Sequence[tuple[str, str]], titles: dict[str, str],
                rename: dict[str, str]) -> str:
    """added / updated / unchanged / skipped, each skipped record with its reason; temp upload paths shown as names."""

    def shown(source: str) -> str:
        for folder, name in rename.items():
            source = source.replace(folder, name)
        return source

    skipped = [(name, reason) for name, reason in rejected]
    if report is not None:
        skipped += [(shown(s.source), s.reason) for s in report.skipped]
    added = report.added if report else []
    updated = report.updated if report else []
    unchanged = report.unchanged if report else []
    summary = (f'<p class="pb-counts"><b>{len(added)}</b> added · <b>{len(updated)}</b> updated · '
               f'<b>{len(unchanged)}</b> unchanged · <b>{len(skipped)}</b> skipped'
               + (f" · {report.chunks_written} chunks written in {report.seconds:.1f} s" if report else "") + "</p>")

    def listing(title: str, ids: Sequence[str]) -> str:
        if not ids:
            return ""
        items = "".join(f'<li>{esc(titles.get(i, i))} <span class="pb-meta">{_id(i)}</span></li>' for i in ids[:200])
        more = f"<li>… and {len(ids) - 200} more</li>" if len(ids) > 200 else ""
        return f'<div class="pb-subhead">{esc(title)}</div><ul>{items}{more}</ul>'

    skipped_list = "".join(f'<li><b>{esc(source)}</b>: {esc(reason)}</li>' for source, reason in skipped)
    return (f'<div class="pb-ingest">{summary}{listing("Added", added)}{listing("Updated", updated)}'
            + (f'<div class="pb-subhead">Skipped</div><ul class="pb-skipped">{skipped_list}</ul>' if skipped else "")
            + "</div>")
