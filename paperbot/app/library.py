"""Papers, Digest & compare and Ingest tab handlers: corpus table, paper and summary, digests, tables, uploads."""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import gradio as gr

from paperbot.app.chat import api_secret
from paperbot.app.failures import readable
from paperbot.app.session_marks import SessionMarks, session_of
from paperbot.app.tab_settings import TabSettings
from paperbot.app.uploads import UploadLimits, check_uploads
from paperbot.app.views import abstract_html, comparison_html, digest_html, esc, ingest_html, paper_html, summary_html
from paperbot.bot import PaperBot
from paperbot.summaries.formats import comparison_csv, comparison_markdown, digest_markdown
from paperbot.text.wording import counted

TABLE_HEADERS = ["title", "year", "id"]
COMPARE_FROM_QUERY = 5  # papers a query-only comparison takes from the search


def _files(paths: list[str] | None) -> Any:
    """The download box: shown with files, hidden without (an empty file box looks like an upload field)."""
    return gr.update(value=paths, visible=bool(paths))


def notice(text: str) -> str:
    return f'<div class="pb-notice">{esc(text)}</div>'


class Library:
    def __init__(self, bot: PaperBot, limits: UploadLimits, out_dir: Path | None = None) -> None:
        self.bot = bot
        self.limits = limits
        self.out_dir = out_dir or Path(tempfile.mkdtemp(prefix="paperbot-out-"))
        self.picked = SessionMarks()  # the paper each session picked last

    def _write(self, name: str, text: str) -> str:
        path = self.out_dir / uuid.uuid4().hex[:8] / name
        path.parent.mkdir(parents=True)
        path.write_text(text, encoding="utf-8")
        return str(path)

    def _fail(self, exc: BaseException, doing: str) -> str:
        return notice("⚠ " + readable(exc, doing=doing, secret=api_secret(self.bot)))

    # --- papers tab -------------------------------------------------------------------------------------------
    def rows(self, grep: str | None = None) -> list[list[Any]]:
        return [[p.title, p.year if p.year is not None else "", p.id] for p in self.bot.papers((grep or "").strip()
                                                                                                or None)]

    def table(self, grep: str | None = None) -> tuple[Any, str]:
        rows = self.rows(grep)
        total = len(self.bot.papers())
        count = f"{len(rows)} of {counted(total, 'paper')}" if (grep or "").strip() else counted(total, "paper")
        return gr.update(value=rows, headers=TABLE_HEADERS), count

    def choices(self) -> Any:
        """Dropdown choices for digest & compare: the title (and year) shown, the id returned."""
        return gr.update(choices=[(f"{p.title} ({p.year})" if p.year else p.title, p.id) for p in self.bot.papers()])

    def select(self, data: gr.SelectData, request: gr.Request | None = None) -> tuple[str | None, str, str]:
        """A clicked row: its paper id, the paper, and a placeholder until the summary is ready."""
        row = data.row_value or []
        paper_id = str(row[2]) if len(row) > 2 else None
        if not paper_id:
            return None, notice("Select a paper in the table."), ""
        self.picked.mark(session_of(request), paper_id)
        try:
            paper = self.bot.paper(paper_id)
        except Exception as exc:  # noqa: BLE001
            return None, self._fail(exc, "opening the paper"), ""
        # The abstract is shown once, in the summary view, with the sentences the summary cites marked.
        return paper_id, paper_html(paper, abstract=False), notice("Summarising…")

    def summary(self, paper_id: str | None, tab: TabSettings, request: gr.Request | None = None) -> Any:
        """The picked paper's summary above its abstract; nothing (the view unchanged) when another paper was
        picked meanwhile: that one's summary follows, and this one must not land under its title."""
        if not paper_id:
            return ""
        session = session_of(request)
        if not self.picked.is_current(session, paper_id):
            return gr.skip()
        shown = self._summary(paper_id, tab)
        return shown if self.picked.is_current(session, paper_id) else gr.skip()

    def _summary(self, paper_id: str, tab: TabSettings) -> str:
        started = time.perf_counter()
        try:
            abstract = self.bot.paper(paper_id).abstract
        except Exception as exc:  # noqa: BLE001
            return self._fail(exc, "opening the paper")
        try:
            summary = self.bot.summarize(paper_id, mode=tab.mode, model=tab.model)
            return summary_html(summary, abstract, time.perf_counter() - started)
        except Exception as exc:  # noqa: BLE001 - the abstract is still worth reading without its summary
            return self._fail(exc, "summarising the paper") + abstract_html(abstract)

    # --- digest & compare tab ---------------------------------------------------------------------------------
    def digest(self, paper_ids: list[str] | None, query: str | None, tab: TabSettings) -> tuple[str, Any]:
        query = (query or "").strip() or None
        try:
            result = self.bot.digest(paper_ids or None, None if paper_ids else query, mode=tab.mode,
                                     model=tab.model)
        except Exception as exc:  # noqa: BLE001
            return self._fail(exc, "writing the digest"), _files(None)
        return digest_html(result), _files([self._write("paperbot-digest.md", digest_markdown(result))])

    def compare(self, paper_ids: list[str] | None, query: str | None, aspects: str | None,
                tab: TabSettings) -> tuple[str, Any]:
        ids = list(paper_ids or [])
        try:
            if not ids and (query or "").strip():
                ids = [hit.paper_id for hit in self.bot.search(query.strip(), k=COMPARE_FROM_QUERY)]
            if len(ids) < 2:
                return notice("Pick two or more papers, or type a query to compare its top papers."), _files(None)
            wanted = [a.strip() for a in (aspects or "").split(",") if a.strip()] or None
            table = self.bot.compare(ids, wanted, mode=tab.mode, model=tab.model)
        except Exception as exc:  # noqa: BLE001
            return self._fail(exc, "comparing the papers"), _files(None)
        files = [self._write("paperbot-comparison.md", comparison_markdown(table)),
                 self._write("paperbot-comparison.csv", comparison_csv(table))]
        return comparison_html(table), _files(files)

    # --- ingest tab -------------------------------------------------------------------------------------------
    def ingest(self, files: list[str] | None, progress: gr.Progress) -> str:
        """Check every upload before parsing, ingest the good ones (bad records skipped and listed), report."""
        paths = [Path(f) for f in (files or [])]
        if not paths:
            return notice("Choose one or more files to upload first.")
        checked = check_uploads(paths, self.limits)
        report = None
        if checked.accepted:
            progress(0, desc="reading files")

            def step(done: int, total: int) -> None:
                progress((done, total), desc="embedding papers", unit="papers")

            try:
                report = self.bot.ingest(checked.accepted, skip_bad=True, progress=step)
            except Exception as exc:  # noqa: BLE001
                return self._fail(exc, "ingesting the files")
        titles = {}
        if report is not None:
            for paper_id in report.added + report.updated:
                try:
                    titles[paper_id] = self.bot.paper(paper_id).title
                except Exception:  # noqa: BLE001, S110 - a title is a nicety; the id is shown anyway
                    pass
        # Uploads sit in per-file temp folders; reports name the file the person chose, not the temp path.
        rename = {str(p.parent) + "/": "" for p in checked.accepted}
        return ingest_html(report, checked.rejected, titles, rename)
