"""Named API endpoints for gradio_client (ask, search, summarize, digest, compare): JSON in, JSON out."""

from __future__ import annotations

import dataclasses
from typing import Any

import gradio as gr

from paperbot.app.chat import api_secret
from paperbot.app.failures import readable
from paperbot.bot import PaperBot
from paperbot.summaries.formats import comparison_csv, comparison_markdown, digest_markdown


def _ids(values: Any) -> list[str]:
    if values is None or values == "":
        return []
    if isinstance(values, str):
        return [v.strip() for v in values.split(",") if v.strip()]
    return [str(v) for v in values]


class Api:
    """Each method is one endpoint; its parameters are what a client passes, by name or position."""

    def __init__(self, bot: PaperBot) -> None:
        self.bot = bot

    def _error(self, exc: BaseException, doing: str) -> gr.Error:
        return gr.Error(readable(exc, doing=doing, secret=api_secret(self.bot)))

    def ask(self, question: str, history: list | None = None, mode: str = "auto", k: int = 0) -> dict:
        """Answer a question with citations. history: OpenAI-style messages of the conversation so far; mode: llm,
        extractive or auto; k: papers used as evidence (0: the server's default)."""
        if not (question or "").strip():
            raise gr.Error("ask needs a question")
        try:
            answer = self.bot.ask(question.strip(), list(history or []), k=int(k) or None, mode=mode)
        except gr.Error:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, "answering") from None
        return answer.as_dict()

    def search(self, query: str, k: int = 10) -> list:
        """Hybrid (dense + BM25) search: one entry per paper with its matching passages."""
        if not (query or "").strip():
            raise gr.Error("search needs a query")
        try:
            hits = self.bot.search(query.strip(), k=max(1, min(int(k or 10), 1000)))
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, "searching") from None
        return [dataclasses.asdict(h) for h in hits]

    def summarize(self, paper_id: str, mode: str = "auto") -> dict:
        """A TL;DR plus problem, approach, key results and limitations of one paper, each citing its sentences."""
        try:
            return dataclasses.asdict(self.bot.summarize(paper_id, mode=mode))
        except gr.Error:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, "summarising") from None

    def digest(self, query: str = "", paper_ids: list | None = None, mode: str = "auto", k: int = 0) -> dict:
        """Papers (the given ids, the top k for a query, or all) grouped into named themes with cited paragraphs;
        `markdown` holds the printable digest."""
        ids = _ids(paper_ids)
        try:
            result = self.bot.digest(ids or None, None if ids else (query or "").strip() or None, mode=mode,
                                     k=int(k) or None)
        except gr.Error:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, "writing the digest") from None
        return {**dataclasses.asdict(result), "markdown": digest_markdown(result)}

    def compare(self, paper_ids: list, aspects: list | None = None, mode: str = "auto") -> dict:
        """One row per paper, one cell per aspect citing its sentence; `markdown` and `csv` hold the table."""
        ids = _ids(paper_ids)
        if len(ids) < 2:
            raise gr.Error("compare needs two or more paper ids")
        try:
            table = self.bot.compare(ids, _ids(aspects) or None, mode=mode)
        except gr.Error:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self._error(exc, "comparing") from None
        return {**dataclasses.asdict(table), "markdown": comparison_markdown(table), "csv": comparison_csv(table)}
